#!/usr/bin/env bash
# Runs deploy/docker/Dockerfile's build and start steps on this machine, without Docker (the machine
# this was written on has no Docker engine, so no image was ever built there):
#   build stage    copy the package files, `npm ci --ignore-scripts && npm rebuild`, copy the sources,
#                  `npm run build`, `npm prune --omit=dev`
#   runtime stage  copy exactly what the image copies into a fresh folder and make it read-only
#                  (the Kubernetes manifest runs with a read-only root file system)
#   start          `raftq start` from that folder with the image's RAFTQ_* environment on loopback
#                  ports, wait for the HEALTHCHECK script to pass and for /readyz (a one-node cluster
#                  elects itself), then SIGTERM it by PID and expect a clean exit 0.
# Usage: deploy/docker/build-steps.sh   (KEEP=1 keeps the temporary folder)
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/raftq-build-steps.XXXXXX")
node_pid=''

cleanup() {
  if [[ -n $node_pid ]] && kill -0 "$node_pid" 2>/dev/null; then kill -KILL "$node_pid" || true; fi
  chmod -R u+w "$work" 2>/dev/null || true
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

step() { echo "::: $*"; }

step "build stage in $work/src"
mkdir -p "$work/src"
cp "$repo/package.json" "$repo/package-lock.json" "$work/src/"
(cd "$work/src" && npm ci --ignore-scripts --no-audit --no-fund --prefer-offline && npm rebuild)
cp "$repo/tsconfig.json" "$repo/tsconfig.build.json" "$work/src/"
cp -R "$repo/bin" "$repo/src" "$work/src/"
mkdir -p "$work/src/scripts" && cp "$repo/scripts/copy-assets.mjs" "$work/src/scripts/"
(cd "$work/src" && npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund)
for dev in typescript vitest eslint tsx; do
  if [[ -e $work/src/node_modules/$dev ]]; then
    echo "build-steps: dev dependency $dev survived npm prune --omit=dev" >&2
    exit 1
  fi
done

step "runtime stage in $work/app"
app=$work/app
mkdir -p "$app/dist" "$app/src/protocol" "$app/deploy" "$work/bin"
cp "$work/src/package.json" "$app/"
cp -R "$work/src/node_modules" "$app/node_modules"
cp -R "$work/src/dist/src" "$app/dist/src"
cp -R "$work/src/bin" "$app/bin"
cp "$work/src/src/protocol/"*.proto "$app/src/protocol/"
cp "$repo/deploy/docker/healthcheck.mjs" "$app/deploy/"
ln -s "$app/bin/raftq.js" "$work/bin/raftq"
chmod -R a-w "$app"
echo "image payload: $(du -sh "$app" | cut -f1) (node_modules $(du -sh "$app/node_modules" | cut -f1))"

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
client=$(free_port)
peer=$(free_port)
http=$(free_port)

step "start: raftq start (client $client, peer $peer, http $http)"
mkdir -m 0700 "$work/data"
# The image runs as uid/gid 10001: so does this node when we are root (then the read-only install
# folder really is read-only to it, as with readOnlyRootFilesystem).
as_user=()
if [[ $(id -u) == 0 ]] && command -v setpriv >/dev/null; then
  chmod 0755 "$work"
  chown 10001:10001 "$work/data"
  as_user=(setpriv --reuid=10001 --regid=10001 --clear-groups --inh-caps=-all)
  echo "running the node as uid/gid 10001, as the image does"
fi
touch "$work/started"
(
  cd "$work"
  export PATH="$work/bin:$PATH" NODE_ENV=production RAFTQ_DATA_DIR="$work/data" \
    RAFTQ_LISTEN="127.0.0.1:$client" RAFTQ_PEER_LISTEN="127.0.0.1:$peer" RAFTQ_HTTP="127.0.0.1:$http" \
    RAFTQ_LOG_LEVEL=info RAFTQ_ID=n1 RAFTQ_PEERS="n1=127.0.0.1:$peer" RAFTQ_CLUSTER_ID=build-steps \
    RAFTQ_ADVERTISE="127.0.0.1:$client"
  exec "${as_user[@]}" raftq start
) >"$work/node.log" 2>&1 &
node_pid=$!

# Bounded waits: 60 × 0.5 s each.
healthy=0
for _ in $(seq 60); do
  if RAFTQ_HTTP="127.0.0.1:$http" node "$app/deploy/healthcheck.mjs" 2>/dev/null; then healthy=1; break; fi
  kill -0 "$node_pid" 2>/dev/null || break
  sleep 0.5
done
if [[ $healthy != 1 ]]; then
  echo "build-steps: the HEALTHCHECK never passed; node log:" >&2
  cat "$work/node.log" >&2
  exit 1
fi
echo "HEALTHCHECK (healthcheck.mjs -> /healthz) passed"
ready=0
for _ in $(seq 60); do
  if curl -fsS "http://127.0.0.1:$http/readyz" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.5
done
if [[ $ready != 1 ]]; then
  echo "build-steps: /readyz never answered 200; node log:" >&2
  cat "$work/node.log" >&2
  exit 1
fi
echo "/readyz: $(curl -fsS "http://127.0.0.1:$http/readyz")"
echo "/status: $(curl -fsS "http://127.0.0.1:$http/status" | head -c 300)"

step "stop: SIGTERM to PID $node_pid"
kill -TERM "$node_pid"
rc=0
wait "$node_pid" || rc=$?
node_pid=''
if [[ $rc != 0 ]]; then
  echo "build-steps: raftq exited $rc after SIGTERM; node log:" >&2
  cat "$work/node.log" >&2
  exit 1
fi
echo "raftq exited 0 after SIGTERM"
if find "$app" -newer "$work/started" -print -quit | grep -q .; then
  echo "build-steps: the node wrote into its install folder" >&2
  exit 1
fi
echo "build-steps: OK"
