// A cluster on this machine: each node a `quorumlock serve` child. `quorumlock dev` and the test
// kit (test/support/cluster.ts, which tests and the benchmark start clusters with) both build the
// nodes' command lines here, so that what is tested is how dev runs a node.

/** One node on this machine: its addresses and where it keeps its data. */
export interface LocalNode {
  readonly id: string;
  readonly client: string;
  readonly peer: string;
  readonly http: string;
  readonly dataDir: string;
}

/** The --peers value of a cluster of these nodes: every node's id and Raft address. */
export function peersFlag(nodes: readonly LocalNode[]): string {
  return nodes.map((n) => `${n.id}=${n.peer}`).join(',');
}

/**
 * The arguments after the CLI script that run node: `serve` with its addresses and data
 * directory, the given --peers, then any other flags (settings, log format).
 */
export function serveArgs(node: LocalNode, peers: string, flags: readonly string[] = []): string[] {
  return [
    ...['serve', '--id', node.id, '--peers', peers],
    ...['--client-address', node.client, '--peer-address', node.peer],
    ...['--http-address', node.http, '--data-dir', node.dataDir],
    ...flags,
  ];
}
