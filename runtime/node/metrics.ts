// The node's Prometheus families, read at scrape time from the node's parts (no per-request
// bookkeeping): buckets owned, bases loaded, operations applied, socket.io connections, and
// whether the node is registered.
import type { Registry } from 'prom-client';
import { registerCollected } from '../metrics/registry.ts';

/** What the node reports; each read happens at scrape time. */
export interface NodeMetricsSource {
  nodeId: string;
  /** Buckets this node holds an owner key for and serves. */
  bucketsOwned(): number;
  basesLoaded(): number;
  /** Operations applied since start (HTTP and socket.io). */
  operations(): number;
  socketConnections(): number;
  /** Registered in etcd on a live lease and serving. */
  registered(): boolean;
}

/** Registers the node's families (each sample labelled `node_id`) in `registry`. */
export function registerNodeMetrics(registry: Registry, src: NodeMetricsSource): void {
  const one = (value: number) => [{ labels: { node_id: src.nodeId }, value }];
  registerCollected(registry, {
    name: 'dtable_node_buckets_owned',
    help: 'Buckets this node owns (dtable-cluster/owner/<hh> on its lease) and serves.',
    type: 'gauge',
    collect: () => one(src.bucketsOwned()),
  });
  registerCollected(registry, { name: 'dtable_node_bases_loaded', help: 'Bases loaded in memory.', type: 'gauge', collect: () => one(src.basesLoaded()) });
  registerCollected(registry, {
    name: 'dtable_node_operations_total',
    help: 'Operations applied to bases (HTTP and socket.io update-dtable) since start.',
    type: 'counter',
    collect: () => one(src.operations()),
  });
  registerCollected(registry, {
    name: 'dtable_node_socket_connections',
    help: 'socket.io connections open now.',
    type: 'gauge',
    collect: () => one(src.socketConnections()),
  });
  registerCollected(registry, {
    name: 'dtable_node_registered',
    help: '1 once the node is registered in etcd and serving, 0 while starting or stopping.',
    type: 'gauge',
    collect: () => one(src.registered() ? 1 : 0),
  });
}
