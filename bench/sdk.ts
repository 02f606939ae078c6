// The SDK as users run it: the compiled package (dist/, which `npm run bench` builds first), not this
// repo's TypeScript through tsx, whose transform wraps named closures in `__name` calls (2.4 % of the
// bench client's profile at 1,000 tasks/s in session 21, though its CPU per task did not measurably
// change) and runs none of tsc's output. The nodes already run from dist/. Types come from the sources.
import type * as Sdk from '../src/client/index.js';

const sdk = (await import(new URL('../dist/src/client/index.js', import.meta.url).href)) as typeof Sdk;

export const { Client, CoalescingTransport, GrpcTransport } = sdk;
export type Client = Sdk.Client;
export type Queue<T = unknown> = Sdk.Queue<T>;
