// Requests other processes (proxy admin, CLI) send to the monitor leader through etcd:
// a load-aware rebalance (request/response keys on the requester's lease, so both vanish when it
// is gone) and drain (a weight override per node).
import { randomUUID } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import type { Keyspace } from '../keyspace.ts';
import { parseJson, rebalanceResponseSchema, type RebalancePlan, type RebalanceRequest } from '../values.ts';

export interface RebalanceOptions {
  dryRun: boolean;
  /** Max buckets to move; default: the monitor's configured budget. */
  budget?: number;
  requestedBy?: string;
}

export interface RebalanceResult {
  plan: RebalancePlan;
  applied: boolean;
  epoch: number;
  monitorId: string;
}

/** The monitor refused the request, or no monitor leader answered in time. */
export class RebalanceError extends Error {
  override name = 'RebalanceError';
}

/** Ask the monitor leader for a rebalance plan (and to apply it unless dryRun). */
export async function requestRebalance(
  client: Etcd3,
  ks: Keyspace,
  opts: RebalanceOptions,
  timeoutMs = 15_000,
): Promise<RebalanceResult> {
  const id = randomUUID();
  const lease = client.lease(Math.max(5, Math.ceil(timeoutMs / 1000) + 5), { autoKeepAlive: false });
  lease.on('lost', () => undefined);
  const leaseId = await lease.grant();
  const responseKey = ks.rebalanceResponse(id);
  const watcher = await client.watch().key(responseKey).create();
  try {
    const answered = new Promise<string>((resolve) => {
      watcher.on('put', (kv) => resolve(kv.value.toString()));
    });
    const request: RebalanceRequest = {
      id,
      kind: 'rebalance',
      dry_run: opts.dryRun,
      ...(opts.budget === undefined ? {} : { budget: opts.budget }),
      requested_at: new Date().toISOString(),
      ...(opts.requestedBy ? { requested_by: opts.requestedBy } : {}),
    };
    await client.put(ks.rebalanceRequest(id)).value(JSON.stringify(request)).lease(leaseId);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RebalanceError(`no answer from the monitor leader within ${timeoutMs} ms`)), timeoutMs);
    });
    const raw = await Promise.race([answered, timeout]).finally(() => clearTimeout(timer));
    const r = parseJson(rebalanceResponseSchema, raw);
    if (!r.ok) throw new RebalanceError(`malformed answer from the monitor: ${r.reason}`);
    if (!r.value.ok) throw new RebalanceError(`monitor ${r.value.monitor_id} refused: ${r.value.error}`);
    return { plan: r.value.plan, applied: r.value.applied, epoch: r.value.epoch, monitorId: r.value.monitor_id };
  } finally {
    await watcher.cancel().catch(() => undefined);
    await lease.revoke().catch(() => undefined);
  }
}

/**
 * Override a node's weight (0 drains it: the monitor moves all its buckets away and gives it none);
 * null removes the override, so the node's registered weight applies again.
 */
export async function setNodeWeight(client: Etcd3, ks: Keyspace, nodeId: string, weight: number | null): Promise<void> {
  if (weight === null) {
    await client.delete().key(ks.weight(nodeId));
    return;
  }
  if (!(Number.isFinite(weight) && weight >= 0)) throw new RangeError(`weight must be a number >= 0, got ${weight}`);
  await client.put(ks.weight(nodeId)).value(String(weight));
}
