// etcd key names (docs/keyspace.md). The `dtable-server-NN` and `assign-<hh>` rows are
// SeaTable's contract (dtable-web reads them); everything of ours lives under `dtable-cluster/`.
// Pure: no I/O.

export const NODE_ID_PREFIX = 'dtable-server-';
export const ASSIGN_PREFIX = 'assign-';
export const OWN_PREFIX = 'dtable-cluster/';

export interface Keyspace {
  readonly prefix: string;
  /** Prefix of every node registration (`<p>dtable-server-`). */
  readonly nodesPrefix: string;
  /** A node's registration key: the node id itself, e.g. `<p>dtable-server-01`. */
  node(nodeId: string): string;
  /** Prefix of the 256 assignment keys (`<p>assign-`). */
  readonly assignPrefix: string;
  /** `<p>assign-<hh>`: plain node id string, written by the monitor leader. */
  assign(bucket: string): string;
  /** `<p>dtable-cluster/owner/`: bucket ownership keys, each on its owner's lease. */
  readonly ownerPrefix: string;
  owner(bucket: string): string;
  /** `<p>dtable-cluster/load/<node_id>`: per-bucket load a node publishes (on its lease). */
  readonly loadPrefix: string;
  load(nodeId: string): string;
  /** `<p>dtable-cluster/weight/<node_id>`: operator override of a node's weight (drain = 0). */
  readonly weightPrefix: string;
  weight(nodeId: string): string;
  /** `<p>dtable-cluster/epoch`: JSON record of the last assignment write. */
  readonly epoch: string;
  /** `<p>dtable-cluster/monitor/election/`: monitor leader election. */
  readonly electionPrefix: string;
  /** `<p>dtable-cluster/rebalance/request/<id>` and `.../response/<id>`. */
  readonly rebalanceRequestPrefix: string;
  rebalanceRequest(id: string): string;
  readonly rebalanceResponsePrefix: string;
  rebalanceResponse(id: string): string;
  /** Strip the prefix from a full key (returns null when the key is not ours). */
  strip(key: string): string | null;
}

export function keyspace(prefix = ''): Keyspace {
  const own = `${prefix}${OWN_PREFIX}`;
  return {
    prefix,
    nodesPrefix: `${prefix}${NODE_ID_PREFIX}`,
    node: (nodeId) => `${prefix}${nodeId}`,
    assignPrefix: `${prefix}${ASSIGN_PREFIX}`,
    assign: (bucket) => `${prefix}${ASSIGN_PREFIX}${bucket}`,
    ownerPrefix: `${own}owner/`,
    owner: (bucket) => `${own}owner/${bucket}`,
    loadPrefix: `${own}load/`,
    load: (nodeId) => `${own}load/${nodeId}`,
    weightPrefix: `${own}weight/`,
    weight: (nodeId) => `${own}weight/${nodeId}`,
    epoch: `${own}epoch`,
    electionPrefix: `${own}monitor/election/`,
    rebalanceRequestPrefix: `${own}rebalance/request/`,
    rebalanceRequest: (id) => `${own}rebalance/request/${id}`,
    rebalanceResponsePrefix: `${own}rebalance/response/`,
    rebalanceResponse: (id) => `${own}rebalance/response/${id}`,
    strip: (key) => (key.startsWith(prefix) ? key.slice(prefix.length) : null),
  };
}
