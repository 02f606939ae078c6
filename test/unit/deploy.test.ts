// The deploy files, checked without Docker, Kubernetes or systemd running (none runs here): every
// YAML parses; the fields the cluster needs are there (publishNotReadyAddresses, PDB, probes,
// resources, securityContext, volume claims); every flag and RAFTQ_* variable handed to
// `raftq start` is one the CLI knows, and the settings each member would get resolve with
// src/node/config.ts into a consistent cluster; the Kubernetes entrypoint snippet runs in sh.
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { afterAll, beforeAll } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { AdminHttp } from '../../src/node/admin-http.js';
import { main } from '../../src/node/cli.js';
import { SETTINGS, formatHostPort, readConfigFile, resolveConfig, type RawSettings } from '../../src/node/config.js';
import { NodeMetrics } from '../../src/node/metrics.js';
import { makeDevCerts } from '../../src/node/dev-certs.js';
import { hashToken, newToken } from '../../src/rpc/auth.js';
import type { NodeConfig } from '../../src/node/config.js';

const ROOT = resolve(import.meta.dirname, '../..');
const DEPLOY = join(ROOT, 'deploy');
const read = (p: string): string => readFileSync(join(DEPLOY, p), 'utf8');
type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => v as Obj;

/** The flags of `raftq start --help`, as printed by the real CLI. */
async function startFlags(): Promise<Set<string>> {
  const out: string[] = [];
  const orig = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
  try {
    expect(await main(['node', 'raftq', 'start', '--help'])).toBe(0);
  } finally {
    process.stdout.write = orig;
  }
  return new Set(out.join('').match(/--[a-z][a-z-]*/g) ?? []);
}

const KNOWN_ENV = new Set(Object.values(SETTINGS).map((s) => s.env));

// Security is ON in every deploy file (issue #14): TLS files, the cluster secret and tokens. The
// files they name are mounted secrets; here they are made once (dev certificates for every member id
// the files use, a cluster secret, one token hash) and each path is read from this folder instead.
const SECRETS = mkdtempSync(join(tmpdir(), 'raftq-deploy-secrets-'));
let TOKENS_JSON = '';
beforeAll(async () => {
  const nodes = ['n1', 'n2', 'n3', 'n4', 'n5', 'raftq-0', 'raftq-1', 'raftq-2', 'raftq-3', 'raftq-4', 'raftq-7'];
  await makeDevCerts(SECRETS, { nodes, clients: ['client'], days: 2 });
  writeFileSync(join(SECRETS, 'cluster-secret'), `${'ab'.repeat(32)}\n`, { mode: 0o600 });
  TOKENS_JSON = JSON.stringify([{ id: 'ops', hash: await hashToken(newToken('ops')), roles: ['admin:*'] }]);
}, 60_000);
afterAll(() => rmSync(SECRETS, { recursive: true, force: true }));

/** A mounted secret's path, as this test's copy of it. */
const SECRET_DIRS = /^\/(run\/secrets|etc\/raftq\/tls|etc\/raftq\/auth|etc\/raftq)\/([A-Za-z0-9._-]+)$/;
function localize<T extends Record<string, unknown>>(settings: T): T {
  const out: Record<string, unknown> = { ...settings };
  for (const [k, v] of Object.entries(out)) {
    const m = typeof v === 'string' ? SECRET_DIRS.exec(v) : null;
    if (m) out[k] = join(SECRETS, m[2] as string);
  }
  return out as T;
}

/** A member's resolved config has TLS on every port, the peer MAC secret, client tokens, a connection cap. */
function expectSecured(config: NodeConfig): void {
  expect(config.tls, `${config.id}: TLS on`).not.toBeNull();
  expect(config.tls?.paths.certFile.endsWith(`${config.id}.crt`), 'its own certificate').toBe(true);
  expect(config.tls?.paths.keyFile.endsWith(`${config.id}.key`)).toBe(true);
  expect(config.clusterSecret, `${config.id}: cluster secret`).not.toBeNull();
  expect(config.tokens.length, `${config.id}: auth on`).toBeGreaterThan(0);
  expect(config.clientLimits.connectionsPerAddress).toBe(256);
}
const camel = (flag: string): string => flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** `--flag value` / `--flag=value` pairs as RawSettings; every flag must be one `start --help` lists. */
function flagsToSettings(args: string[], known: Set<string>): RawSettings {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    expect(a.startsWith('--'), `"${a}" is not a flag`).toBe(true);
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, null];
    expect(known, `raftq start has no ${flag}`).toContain(flag);
    out[camel(flag)] = inline ?? (args[++i] as string);
  }
  return out as RawSettings;
}

function expectKnownEnv(env: Record<string, string>): void {
  for (const k of Object.keys(env).filter((k) => k.startsWith('RAFTQ_'))) {
    expect(KNOWN_ENV, `config.ts reads no ${k}`).toContain(k);
  }
}

/** The Dockerfile's ENV defaults (one ENV instruction, continued with backslashes). */
function dockerfile(): { text: string; env: Record<string, string>; uid: number } {
  const text = read('docker/Dockerfile');
  const joined = text.replace(/\\\n\s*/g, ' ');
  const env: Record<string, string> = {};
  for (const line of joined.split('\n').filter((l) => l.startsWith('ENV '))) {
    for (const m of line.slice(4).matchAll(/([A-Z_]+)=(\S+)/g)) env[m[1] as string] = m[2] as string;
  }
  const uid = Number(/useradd .*--uid (\d+)/.exec(joined)?.[1]);
  return { text, env, uid };
}

/** Compose's `${VAR:-default}` and `${VAR:?error}` interpolation. */
function interpolate(v: unknown, vars: Record<string, string>): unknown {
  if (typeof v === 'string')
    return v
      .replace(/\$\{(\w+):-([^}]*)\}/g, (_, n: string, d: string) => vars[n] || d)
      .replace(/\$\{(\w+):\?([^}]*)\}/g, (_, n: string, e: string) => {
        if (!vars[n]) throw new Error(`compose: ${n}: ${e}`);
        return vars[n];
      });
  if (Array.isArray(v)) return v.map((x) => interpolate(x, vars));
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolate(x, vars)]));
  return v;
}

describe('deploy/docker', () => {
  it('Dockerfile: build with npm ci + build + prune, run non-root with raftq start and a /healthz check', () => {
    const { text, env, uid } = dockerfile();
    expect(text).toMatch(/^FROM \S+ AS build$/m);
    expect(text).toMatch(/^FROM \S+ AS runtime$/m);
    const runs = text.split('\n').filter((l) => l.startsWith('RUN '));
    expect(runs.join('\n')).toMatch(/npm ci .*&& npm rebuild/);
    expect(runs.join('\n')).toMatch(/npm run build && npm prune --omit=dev/);
    // The runtime stage only copies from the build stage (production node_modules) and the .proto files.
    expect(text).toMatch(/^COPY --from=build \/src\/node_modules/m);
    expect(text).toMatch(/^COPY --from=build \/src\/src\/protocol\/\*\.proto \.\/src\/protocol\/$/m);
    expect(uid).toBeGreaterThan(0);
    expect(text).toMatch(/^USER raftq:raftq$/m);
    expect(text).toMatch(/^ENTRYPOINT \["raftq", "start"\]$/m);
    expect(text).toMatch(/^HEALTHCHECK .*healthcheck\.mjs"\]$/m);
    expectKnownEnv(env);
    // build-steps.sh runs the same npm steps.
    const steps = read('docker/build-steps.sh');
    for (const s of ['npm ci --ignore-scripts', 'npm rebuild', 'npm run build', 'npm prune --omit=dev']) {
      expect(steps).toContain(s);
    }
  });

  it('.dockerignore lets in every file the Dockerfile copies from the context, and no more', () => {
    const allowed = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('!'))
      .map((l) => l.slice(1).replace(/\/$/, ''));
    const copies = dockerfile()
      .text.split('\n')
      .filter((l) => l.startsWith('COPY ') && !l.startsWith('COPY --from'))
      .flatMap((l) => l.split(/\s+/).slice(1, -1));
    expect(copies.length).toBeGreaterThan(4);
    for (const src of copies) {
      expect(allowed.some((a) => src === a || src.startsWith(`${a}/`))).toBe(true);
      expect(existsSync(join(ROOT, src)), src).toBe(true);
    }
    expect(allowed).not.toContain('node_modules');
  });

  it('healthcheck.mjs passes on /healthz 200 and fails when nothing answers', async () => {
    const admin = new AdminHttp({ ready: () => false, status: () => ({}), digests: () => [] }, new NodeMetrics());
    const { port } = await admin.listen('127.0.0.1', 0);
    const check = (http: string) =>
      promisify(execFile)(process.execPath, [join(DEPLOY, 'docker/healthcheck.mjs')], {
        env: { PATH: process.env['PATH'] ?? '', RAFTQ_HTTP: http },
      }).then(
        () => 0,
        (e: { code?: number }) => e.code ?? -1,
      );
    try {
      expect(await check(`0.0.0.0:${port}`)).toBe(0); // a wildcard bind is checked on loopback
      expect(await check(`127.0.0.1:${port}`)).toBe(0);
    } finally {
      await admin.close();
    }
    expect(await check(`127.0.0.1:${port}`)).toBe(1);
    expect(await check('nonsense')).toBe(1);
  });

  for (const size of [3, 5]) {
    it(`compose.${size}.yml: ${size} members that resolve into one cluster reachable from the host`, async () => {
      const known = await startFlags();
      const raw = parse(read(`docker/compose.${size}.yml`), { merge: true }) as Obj;
      // Without tokens compose refuses to start (auth is on by default).
      expect(() => interpolate(raw, {})).toThrow(/RAFTQ_TOKENS/);
      for (const more of [{}, { RAFTQ_PUBLIC_HOST: '10.1.2.3', RAFTQ_BIND: '10.1.2.3' }] as Record<string, string>[]) {
        const vars: Record<string, string> = { ...more, RAFTQ_TOKENS: TOKENS_JSON };
        const doc = interpolate(raw, vars) as Obj;
        const secrets = obj(doc['secrets']);
        const services = obj(doc['services']);
        const names = Object.keys(services);
        expect(names).toHaveLength(size);
        const configs = names.map((name) => {
          const svc = obj(services[name]);
          expect(svc['command'], 'the image entrypoint is raftq start').toBeUndefined();
          expect(svc['read_only']).toBe(true);
          const env = { ...dockerfile().env, ...(svc['environment'] as Record<string, string>) };
          expectKnownEnv(env);
          const config = resolveConfig(flagsToSettings([], known), localize(env));
          expect(config.id).toBe(name);
          expectSecured(config);
          // Its TLS pair, the CA and the cluster secret are compose secrets (files under ./secrets).
          const mine = ['ca.crt', 'cluster-secret', `${name}.crt`, `${name}.key`];
          expect(svc['secrets']).toEqual(mine);
          for (const f of mine) expect(obj(secrets[f])['file']).toBe(`./secrets/${f}`);
          expect(svc['volumes']).toEqual([`${name}:${config.dataDir}`]);
          expect(Object.keys(obj(doc['volumes']))).toContain(name);
          const ports = svc['ports'] as string[];
          const bind = vars['RAFTQ_BIND'] ?? '127.0.0.1';
          // Clients reach the advertised address; admin on loopback only; the peer port unpublished.
          const adv = config.advertise;
          expect(adv).toBe(`${vars['RAFTQ_PUBLIC_HOST'] ?? '127.0.0.1'}:${config.listen.port}`);
          expect(ports).toContain(`${bind}:${config.listen.port}:${config.listen.port}`);
          expect(ports).toContain(`127.0.0.1:${config.http?.port}:${config.http?.port}`);
          expect(ports).toHaveLength(2);
          expect(ports.some((p) => p.endsWith(`:${config.peerListen.port}`))).toBe(false);
          return config;
        });
        for (const c of configs) {
          expect([...c.peers.keys()].sort()).toEqual([...names].sort());
          for (const [id, hp] of c.peers) expect(formatHostPort(hp)).toBe(`${id}:${c.peerListen.port}`);
          expect(c.clusterId).toBe(`compose-${size}`);
        }
        expect(new Set(configs.map((c) => c.listen.port)).size).toBe(size);
      }
    });
  }
});

describe('deploy/kubernetes', () => {
  const docs = parseAllDocuments(read('kubernetes/raftq.yaml'));
  const all = docs.map((d) => {
    expect(d.errors).toEqual([]);
    return d.toJS() as Obj;
  });
  const byKind = (kind: string): Obj[] => all.filter((d) => d['kind'] === kind);
  const sts = byKind('StatefulSet')[0] as Obj;
  const spec = obj(sts['spec']);
  const pod = obj(obj(spec['template'])['spec']);
  const podLabels = obj(obj(obj(spec['template'])['metadata'])['labels']);
  const container = (pod['containers'] as Obj[])[0] as Obj;
  const env = Object.fromEntries(
    (container['env'] as Obj[]).map((e) => [e['name'] as string, (e['value'] as string | undefined) ?? 'queues']),
  );
  const portOf = (name: string) => (container['ports'] as Obj[]).find((p) => p['name'] === name)?.['containerPort'];
  const selects = (sel: Obj) => Object.entries(sel).every(([k, v]) => podLabels[k] === v);

  it('has a headless Service that publishes not-ready pods, a client Service, a PDB, a NetworkPolicy', () => {
    expect(all.map((d) => d['kind']).sort()).toEqual([
      'NetworkPolicy',
      'PodDisruptionBudget',
      'Service',
      'Service',
      'StatefulSet',
    ]);
    const [headless, client] = byKind('Service').map((s) => obj(s['spec']));
    expect(headless?.['clusterIP']).toBe('None');
    expect(headless?.['publishNotReadyAddresses']).toBe(true);
    expect(obj(byKind('Service')[0]?.['metadata'])['name']).toBe(spec['serviceName']);
    expect(selects(obj(headless?.['selector']))).toBe(true);
    expect(client?.['type']).toBe('ClusterIP');
    expect(selects(obj(client?.['selector']))).toBe(true);
    expect(client?.['ports']).toEqual([{ name: 'client', port: 7001, targetPort: 'client' }]);
    // The PDB keeps a majority of the replicas.
    const pdb = obj(byKind('PodDisruptionBudget')[0]?.['spec']);
    const replicas = spec['replicas'] as number;
    expect(pdb['maxUnavailable']).toBe(1);
    expect(replicas - (pdb['maxUnavailable'] as number)).toBeGreaterThan(replicas / 2);
    expect(selects(obj(obj(pdb['selector'])['matchLabels']))).toBe(true);
    // The peer port admits only members.
    const ingress = obj(byKind('NetworkPolicy')[0]?.['spec'])['ingress'] as Obj[];
    const peerRule = ingress.find((r) => (r['ports'] as Obj[]).some((p) => p['port'] === portOf('peer')));
    expect(selects(obj(obj((peerRule?.['from'] as Obj[])[0]?.['podSelector'])['matchLabels']))).toBe(true);
  });

  it('StatefulSet: parallel start, probes, resources, non-root read-only pod, anti-affinity, claims', () => {
    expect(spec['replicas']).toBe(Number(env['INITIAL_MEMBERS']));
    expect(spec['podManagementPolicy']).toBe('Parallel');
    expect(pod['enableServiceLinks']).toBe(false);
    // Ports agree with what the process binds.
    expect(portOf('client')).toBe(Number(env['RAFTQ_LISTEN']?.split(':')[1]));
    expect(portOf('peer')).toBe(Number(env['RAFTQ_PEER_LISTEN']?.split(':')[1]));
    expect(portOf('http')).toBe(Number(env['RAFTQ_HTTP']?.split(':')[1]));
    // With TLS on, the admin port speaks HTTPS (/healthz and /readyz need no token).
    const probe = (k: string) => obj(obj(container[k])['httpGet']);
    expect(probe('readinessProbe')).toEqual({ path: '/readyz', port: 'http', scheme: 'HTTPS' });
    expect(probe('livenessProbe')).toEqual({ path: '/healthz', port: 'http', scheme: 'HTTPS' });
    expect(probe('startupProbe')).toEqual({ path: '/healthz', port: 'http', scheme: 'HTTPS' });
    const res = obj(container['resources']);
    for (const k of ['requests', 'limits']) expect(Object.keys(obj(res[k])).sort()).toEqual(['cpu', 'memory']);
    const podSec = obj(pod['securityContext']);
    expect(podSec).toMatchObject({ runAsNonRoot: true, runAsUser: dockerfile().uid, fsGroup: dockerfile().uid });
    expect(obj(container['securityContext'])).toMatchObject({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    const anti = obj(obj(pod['affinity'])['podAntiAffinity']);
    const rule = (anti['requiredDuringSchedulingIgnoredDuringExecution'] as Obj[])[0] as Obj;
    expect(rule['topologyKey']).toBe('kubernetes.io/hostname');
    expect(selects(obj(obj(rule['labelSelector'])['matchLabels']))).toBe(true);
    const ann = obj(obj(obj(spec['template'])['metadata'])['annotations']);
    expect(ann).toEqual({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': String(portOf('http')),
      'prometheus.io/path': '/metrics',
      'prometheus.io/scheme': 'https',
    });
    const claims = spec['volumeClaimTemplates'] as Obj[];
    expect(claims.map((c) => obj(c['metadata'])['name'])).toEqual(['data']);
    expect(obj(obj(claims[0]?.['spec'])['resources'])).toEqual({ requests: { storage: '20Gi' } });
    const mounts = container['volumeMounts'] as Obj[];
    expect(mounts).toContainEqual({ name: 'data', mountPath: env['RAFTQ_DATA_DIR'] });
    // The TLS and auth Secrets, read-only; the tokens (hashes) from the auth Secret.
    expect(mounts).toContainEqual({ name: 'tls', mountPath: env['TLS_DIR'], readOnly: true });
    expect(mounts).toContainEqual({ name: 'auth', mountPath: '/etc/raftq/auth', readOnly: true });
    const vols = Object.fromEntries(
      (pod['volumes'] as Obj[]).map((v) => [v['name'], (v['secret'] as Obj | undefined)?.['secretName']]),
    );
    expect(vols).toMatchObject({ tls: 'raftq-tls', auth: 'raftq-auth' });
    const tokens = (container['env'] as Obj[]).find((e) => e['name'] === 'RAFTQ_TOKENS');
    expect(obj(obj(tokens?.['valueFrom'])['secretKeyRef'])).toEqual({ name: 'raftq-auth', key: 'tokens.json' });
    expectKnownEnv(env);
  });

  /**
   * Runs the container's `sh -c` snippet with a stub `raftq` that prints its arguments and keeps the
   * RAFTQ_JOIN it was started with (unset: null).
   */
  function runEntrypoint(hostname: string): {
    status: number | null;
    args: string[];
    join: string | null;
    stderr: string;
  } {
    const bin = mkdtempSync(join(tmpdir(), 'raftq-deploy-'));
    const stub = '#!/bin/sh\n[ -z "${RAFTQ_JOIN+x}" ] || printf "%s" "$RAFTQ_JOIN" > "$0.join"\nprintf "%s\\0" "$@"\n';
    writeFileSync(join(bin, 'raftq'), stub);
    chmodSync(join(bin, 'raftq'), 0o755);
    const [shell, flag] = container['command'] as string[];
    const r = spawnSync(shell as string, [flag as string, (container['args'] as string[])[0] as string], {
      env: { ...env, HOSTNAME: hostname, PATH: `${bin}:/usr/bin:/bin` },
      encoding: 'utf8',
    });
    const joinFile = join(bin, 'raftq.join');
    const joined = existsSync(joinFile) ? readFileSync(joinFile, 'utf8') : null;
    rmSync(bin, { recursive: true });
    return { status: r.status, args: r.stdout.split('\0').slice(0, -1), join: joined, stderr: r.stderr };
  }

  it('entrypoint: the member id from the pod ordinal, peers by their headless DNS names', async () => {
    const known = await startFlags();
    const replicas = spec['replicas'] as number;
    const ids = Array.from({ length: replicas }, (_, i) => `raftq-${i}`);
    for (const id of ids) {
      const r = runEntrypoint(id);
      expect(r.status, r.stderr).toBe(0);
      expect(r.join, 'an initial member bootstraps, it joins nothing').toBeNull();
      expect(r.args[0]).toBe('start');
      const flags = localize(flagsToSettings(r.args.slice(1), known));
      const config = resolveConfig(flags, localize({ ...env, RAFTQ_TOKENS: TOKENS_JSON }));
      expect(config.id).toBe(id);
      expectSecured(config);
      expect(config.advertise).toBe(`${id}.raftq.queues.svc:${portOf('client')}`);
      expect([...config.peers.keys()]).toEqual(ids);
      for (const [peer, hp] of config.peers) expect(formatHostPort(hp)).toBe(`${peer}.raftq.queues.svc:7101`);
      expect(config.clusterId).toBe(env['RAFTQ_CLUSTER_ID']);
    }
    expect(runEntrypoint('raftq').status).toBe(2);
  });

  it('entrypoint: a pod above the initial members (replicas 3 -> 5) joins with --join, never bootstraps', async () => {
    const known = await startFlags();
    const initial = Number(env['INITIAL_MEMBERS']);
    const headlessPorts = obj(byKind('Service')[0]?.['spec'])['ports'] as Obj[];
    const adminPort = headlessPorts.find((p) => p['name'] === 'http')?.['port'];
    expect(adminPort).toBe(portOf('http'));
    for (const ordinal of [initial, initial + 1, initial + 4]) {
      const id = `raftq-${ordinal}`;
      const r = runEntrypoint(id);
      expect(r.status, r.stderr).toBe(0);
      expect(r.args[0]).toBe('start');
      // The join list: the admin port of every pod below it, by the names the headless Service
      // publishes before they are ready; the joiner asks them in turn until the leader answers.
      const below = Array.from({ length: ordinal }, (_, i) => `raftq-${i}.raftq.queues.svc:${String(adminPort)}`);
      expect(r.join?.split(',')).toEqual(below);
      const flags = localize(flagsToSettings(r.args.slice(1), known));
      const config = resolveConfig(flags, localize({ ...env, RAFTQ_TOKENS: TOKENS_JSON, RAFTQ_JOIN: r.join ?? '' }));
      expectSecured(config);
      expect(config.id).toBe(id);
      expect(config.join).toEqual(below);
      expect(config.joinAs).toBe('voter');
      // Its --peers is only itself (the address the members will dial it by): with --join it never
      // bootstraps a membership of its own; the others come with the join's answer.
      expect([...config.peers.keys()]).toEqual([id]);
      expect(formatHostPort(config.peers.get(id)!)).toBe(`${id}.raftq.queues.svc:${String(portOf('peer'))}`);
      expect(config.advertise).toBe(`${id}.raftq.queues.svc:${portOf('client')}`);
      expect(config.clusterId).toBe(env['RAFTQ_CLUSTER_ID']);
    }
    // The manifest's comment and docs/operations.md describe this path (and scaling down).
    expect(read('kubernetes/raftq.yaml')).toMatch(/^# Scaling up: raise `replicas` \(3 -> 5\)/m);
    const ops = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
    expect(ops).toContain('kubectl scale statefulset raftq --replicas 5');
    expect(ops).toContain('raftq members remove raftq-4');
  });
});

describe('deploy/systemd', () => {
  const unit = read('systemd/raftq@.service');
  const keys = new Map<string, string[]>();
  for (const line of unit.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) keys.set(m[1] as string, [...(keys.get(m[1] as string) ?? []), m[2] as string]);
  }
  const one = (k: string) => keys.get(k)?.[0];

  it('raftq@.service: raftq start --config /etc/raftq/%i.json as the raftq user, hardened', async () => {
    const exec = (one('ExecStart') ?? '').split(/\s+/);
    expect(exec.slice(1, 3)).toEqual(['start', '--config']);
    expect(exec[3]).toBe('/etc/raftq/%i.json');
    expect(await startFlags()).toContain('--config');
    expect(one('User')).toBe('raftq');
    expect(read('systemd/raftq.sysusers.conf')).toMatch(/^u raftq /m);
    expect(one('StateDirectory')).toBe('raftq/%i');
    for (const [k, v] of Object.entries({
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      RestrictSUIDSGID: 'yes',
      CapabilityBoundingSet: '',
    })) {
      expect(one(k), k).toBe(v);
    }
    // V8 needs W+X pages: this one must never be switched on.
    expect(keys.has('MemoryDenyWriteExecute')).toBe(false);
  });

  it('n1.example.json loads with config.ts and keeps its data in the unit state directory', () => {
    const file = readConfigFile(join(DEPLOY, 'systemd/n1.example.json'));
    const config = resolveConfig({}, {}, localize(file));
    expect(config.id).toBe('n1');
    expectSecured(config);
    // SIGHUP reloads the TLS files and the cluster secret.
    expect(one('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(config.dataDir).toBe(`/var/lib/${(one('StateDirectory') ?? '').replace('%i', config.id)}`);
    expect(config.peers.size).toBe(3);
    expect(config.advertise).toBe(formatHostPort(config.listen));
  });

  const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;
  it.skipIf(!analyze)('systemd-analyze verify finds nothing to say about the unit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftq-unit-'));
    // ExecStart must name an existing binary: point it at this checkout's launcher.
    const launcher = `${process.execPath} ${join(ROOT, 'bin/raftq.js')}`;
    writeFileSync(join(dir, 'raftq@.service'), unit.replace('ExecStart=/usr/local/bin/raftq', `ExecStart=${launcher}`));
    const r = spawnSync('systemd-analyze', ['verify', join(dir, 'raftq@n1.service')], { encoding: 'utf8' });
    rmSync(dir, { recursive: true });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('every deploy file says security is on, and how (docs/security.md)', () => {
  for (const f of ['docker/compose.3.yml', 'docker/compose.5.yml', 'kubernetes/raftq.yaml', 'systemd/raftq@.service']) {
    it(f, () => {
      const text = read(f);
      expect(text).toMatch(/^# Security: ON.*docs\/security\.md/m);
      // It says how to make the certificates and tokens, with commands the CLI has.
      expect(text).toMatch(/raftq certs dev /);
      expect(text).toMatch(/raftq tokens hash --id /);
      expect(text).toMatch(/raftq tokens add\|revoke/);
    });
  }
  it('docker/Dockerfile names the TLS and auth settings config.ts reads', () => {
    const text = read('docker/Dockerfile');
    expect(text).toMatch(/^# Security:/m);
    for (const v of ['RAFTQ_TLS_CERT_FILE', 'RAFTQ_CLUSTER_SECRET_FILE', 'RAFTQ_TOKENS']) {
      expect(text).toContain(v);
      expect(KNOWN_ENV).toContain(v);
    }
  });
  it('the TLS and auth flags the deploy files rely on are flags of raftq start', async () => {
    const known = await startFlags();
    for (const f of ['--tls-cert-file', '--tls-key-file', '--tls-ca-file', '--cluster-secret-file'])
      expect(known).toContain(f);
    expect(known).toContain('--limit-connections-per-address');
    // Tokens come from the config file or RAFTQ_TOKENS (a JSON array of hashes), never a flag value.
    expect(KNOWN_ENV).toContain('RAFTQ_TOKENS');
  });
});
