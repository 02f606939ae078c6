// Locates and loads the .proto files at run time. The build does not copy them, so both the source
// tree (src/rpc under tsx/vitest) and the compiled tree (dist/src/rpc) resolve to
// <package root>/src/protocol/*.proto, which package.json ships in "files".
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';

const PROTOCOL_DIR = path.join('src', 'protocol');
/** How far above this module the package root can be: src/rpc (2) or dist/src/rpc (3). */
const ROOT_SEARCH_DEPTH_MAX = 4;

/** Proto-loader options shared by servers and clients so both sides agree on field shapes. */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/**
 * The directory holding the .proto files, searched upwards from `moduleDir` (default: this module's
 * directory) for `<dir>/src/protocol/<probe>`. Throws if none is found: a broken install, not input.
 */
export function findProtocolDir(
  moduleDir = path.dirname(fileURLToPath(import.meta.url)),
  probe = 'peer.proto',
): string {
  let dir = moduleDir;
  for (let depth = 0; depth <= ROOT_SEARCH_DEPTH_MAX; depth += 1) {
    const candidate = path.join(dir, PROTOCOL_DIR);
    if (existsSync(path.join(candidate, probe))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(`raftq: cannot find ${PROTOCOL_DIR}/${probe} above ${moduleDir}`);
}

/** Absolute path of one .proto file, e.g. protoFilePath('peer.proto'). */
export function protoFilePath(file: string): string {
  return path.join(findProtocolDir(undefined, file), file);
}

const loaded = new Map<string, protoLoader.PackageDefinition>();

/** Loads (once per process) and returns the package definition of one .proto file. */
export function loadProtoFile(file: string): protoLoader.PackageDefinition {
  const cached = loaded.get(file);
  if (cached !== undefined) return cached;
  const definition = protoLoader.loadSync(protoFilePath(file), PROTO_LOADER_OPTIONS);
  loaded.set(file, definition);
  return definition;
}
