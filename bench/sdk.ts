// The SDK as users run it: the compiled package (dist/, which `npm run bench` builds first), not this
// repo's TypeScript through tsx, whose transform wraps named closures in `__name` calls (2–3 % of the
// bench client's CPU at 1,000 tasks/s in session 21's profile) and runs none of tsc's output. The nodes
// already run from dist/. Types come from the sources, which dist/ is compiled from.
import type * as Sdk from '../src/client/index.js';

const sdk = (await import(new URL('../dist/src/client/index.js', import.meta.url).href)) as typeof Sdk;

export const { Client, CoalescingTransport, GrpcTransport } = sdk;
export type Client = Sdk.Client;
export type Queue<T = unknown> = Sdk.Queue<T>;
