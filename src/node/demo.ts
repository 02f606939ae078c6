// The one-command demo (issue #5). Until the broker node runs, it says what exists and exits 0.
export async function runDemo(): Promise<number> {
  process.stdout.write(
    'raftq demo: the Raft core, the queue state machine and the node are being built; ' +
      'the full demo (3 nodes, producers, workers, a leader kill and a verdict) lands with the SDK.\n',
  );
  return 0;
}
