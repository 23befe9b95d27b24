// Drain and undrain a node (the proxy admin API's POST /drain/, the console, the CLI's `drain`):
// the weight override write (setNodeWeight), with a dry run that previews the moves by the
// monitor's own algorithm on the caller's view.
import type { Etcd3 } from 'etcd3';
import type { BucketMove } from '../assignment.ts';
import { planWeightChange } from '../drain-plan.ts';
import type { ClusterView } from './cluster-view.ts';
import { setNodeWeight } from './requests.ts';

export interface DrainOptions {
  nodeId: string;
  /** Remove the override instead: the node gets its registered weight back. */
  undo: boolean;
  /** Only compute the moves; write nothing. */
  dryRun: boolean;
}

export interface DrainResult {
  node_id: string;
  action: 'drain' | 'undrain';
  dry_run: boolean;
  /** The weight override was written (false for a dry run). */
  applied: boolean;
  /** The node's effective weight afterwards. */
  weight: number;
  /** The moves the monitor's next reconcile makes (computed on the proxy's view, in bucket order). */
  moves: BucketMove[];
}

/** The node id is neither registered, nor assigned a bucket, nor has a weight override. */
export class UnknownNodeError extends Error {
  override name = 'UnknownNodeError';
  constructor(
    readonly nodeId: string,
    readonly known: string[],
  ) {
    super(`unknown node "${nodeId}"; known nodes: ${known.join(', ') || '(none)'}`);
  }
}

/** Node ids the cluster knows of: registered, assigned a bucket, or with a weight override. */
export function knownNodes(view: ClusterView): string[] {
  const ids = new Set<string>([...view.nodes().keys(), ...view.weightOverrides().keys()]);
  for (const id of view.assignment()) if (id) ids.add(id);
  return [...ids].sort();
}

/** Drain (weight 0) or undrain a node; throws UnknownNodeError (nothing written) for an unknown id. */
export async function drainNode(client: Etcd3, view: ClusterView, opts: DrainOptions): Promise<DrainResult> {
  const known = knownNodes(view);
  if (!known.includes(opts.nodeId)) throw new UnknownNodeError(opts.nodeId, known);
  const weight = opts.undo ? (view.node(opts.nodeId)?.weight ?? 1) : 0;
  const live = [...view.nodes().keys()].sort().map((id) => ({ id, weight: view.effectiveWeight(id) }));
  const moves = planWeightChange(view.assignment(), live, opts.nodeId, weight);
  if (!opts.dryRun) await setNodeWeight(client, view.ks, opts.nodeId, opts.undo ? null : 0);
  return { node_id: opts.nodeId, action: opts.undo ? 'undrain' : 'drain', dry_run: opts.dryRun, applied: !opts.dryRun, weight, moves };
}
