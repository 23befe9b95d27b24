// JSON values stored under the keys of keyspace.ts (documented in docs/keyspace.md). Every value
// read from etcd is untrusted: parse* functions return null (with a reason) instead of throwing,
// so a malformed value is logged and ignored by the caller. Pure: no I/O.
import { z } from 'zod';
import { BUCKETS } from './buckets.ts';
import { NODE_ID_PREFIX } from './keyspace.ts';

export const nodeIdSchema = z.string().startsWith(NODE_ID_PREFIX).regex(/^[A-Za-z0-9._-]+$/, 'node id: letters, digits, . _ -');

/**
 * `<p>dtable-server-NN`: SeaTable's `{node_id,node_url,local_node_url}` plus our optional fields.
 * Unknown fields are kept (a SeaTable node may write more).
 */
export const registrationSchema = z.looseObject({
  node_id: nodeIdSchema,
  node_url: z.string().url(),
  local_node_url: z.string().url(),
  /** Configured weight (default 1); an operator override under weight/<node_id> wins. */
  weight: z.number().min(0).optional(),
  /** ISO time the process started. */
  started_at: z.string().optional(),
  /** Decimal lease id the registration is on (informational; the kv's lease is authoritative). */
  lease_id: z.string().optional(),
});
export type Registration = z.infer<typeof registrationSchema>;

/** `<p>dtable-cluster/owner/<hh>`, on the owner's lease. The fencing token is the key's create_revision. */
export const ownerValueSchema = z.looseObject({
  node_id: nodeIdSchema,
  /** ISO time the ownership was taken. */
  acquired_at: z.string().optional(),
});
export type OwnerValue = z.infer<typeof ownerValueSchema>;

const bucketLoadSchema = z.object({
  /** Bases of this bucket currently loaded in memory. */
  bases: z.number().min(0),
  /** Operations applied per second (moving average the node chooses, e.g. last 60 s). */
  ops_per_sec: z.number().min(0),
  /** Bytes of the loaded bases (in memory or on disk, the node's best estimate). */
  bytes: z.number().min(0),
});
export type BucketLoad = z.infer<typeof bucketLoadSchema>;

/** `<p>dtable-cluster/load/<node_id>`, on the node's lease, republished on material change (runtime/cluster/load-report.ts). */
export const loadValueSchema = z.looseObject({
  node_id: nodeIdSchema,
  updated_at: z.string(),
  /** Only buckets with something loaded need to appear; absent = zero. */
  buckets: z.record(z.string().regex(/^[0-9a-f]{2}$/), bucketLoadSchema),
});
export type LoadValue = z.infer<typeof loadValueSchema>;

/** `<p>dtable-cluster/weight/<node_id>`: a plain number, e.g. `0` to drain. */
export const weightValueSchema = z.coerce.number().min(0).max(1e6);

/** `<p>dtable-cluster/epoch`: written in the same transaction as the last assignment change. */
export const epochRecordSchema = z.looseObject({
  epoch: z.number().int().min(0),
  monitor_id: z.string(),
  written_at: z.string(),
  /** Buckets whose assign-<hh> changed in this write. */
  moved: z.number().int().min(0),
  /** Buckets per node after the write. */
  counts: z.record(z.string(), z.number().int()),
});
export type EpochRecord = z.infer<typeof epochRecordSchema>;

/** `<p>dtable-cluster/rebalance/request/<id>`, on the requester's lease. */
export const rebalanceRequestSchema = z.object({
  id: z.string().min(1),
  /** Load-aware rebalance of the current assignment. */
  kind: z.literal('rebalance'),
  dry_run: z.boolean(),
  /** Maximum buckets to move; default: the monitor's rebalance_move_budget. */
  budget: z.number().int().min(0).optional(),
  requested_at: z.string(),
  requested_by: z.string().optional(),
});
export type RebalanceRequest = z.infer<typeof rebalanceRequestSchema>;

export interface Move {
  bucket: string;
  from: string | null;
  to: string;
}
export interface LoadStats {
  max: number;
  mean: number;
}
export interface RebalancePlan {
  moves: Move[];
  before: LoadStats;
  after: LoadStats;
}

const moveSchema = z.object({ bucket: z.string(), from: z.string().nullable(), to: z.string() });
const statsSchema = z.object({ max: z.number(), mean: z.number() });
export const rebalancePlanSchema = z.object({ moves: z.array(moveSchema), before: statsSchema, after: statsSchema });

/** `<p>dtable-cluster/rebalance/response/<id>`, written by the monitor leader on the request's lease. */
export const rebalanceResponseSchema = z.discriminatedUnion('ok', [
  z.object({
    id: z.string(),
    ok: z.literal(true),
    plan: rebalancePlanSchema,
    /** false for a dry run. */
    applied: z.boolean(),
    /** Epoch after the write (applied) or of the assignment the plan was computed on. */
    epoch: z.number().int(),
    monitor_id: z.string(),
  }),
  z.object({ id: z.string(), ok: z.literal(false), error: z.string(), monitor_id: z.string() }),
]);
export type RebalanceResponse = z.infer<typeof rebalanceResponseSchema>;

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

export function parseJson<T>(schema: z.ZodType<T>, raw: string): Parsed<T> {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  const r = schema.safeParse(data);
  if (!r.success) {
    return { ok: false, reason: r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') };
  }
  return { ok: true, value: r.data };
}

/** A registration stored under `<p><node_id>`; the node_id inside must match the key. */
export function parseRegistration(nodeIdFromKey: string, raw: string): Parsed<Registration> {
  const r = parseJson(registrationSchema, raw);
  if (r.ok && r.value.node_id !== nodeIdFromKey) {
    return { ok: false, reason: `node_id ${JSON.stringify(r.value.node_id)} does not match key ${JSON.stringify(nodeIdFromKey)}` };
  }
  return r;
}

/** An `assign-<hh>` value: a plain node id string. */
export function parseAssignValue(raw: string): Parsed<string> {
  const r = nodeIdSchema.safeParse(raw);
  return r.success ? { ok: true, value: r.data } : { ok: false, reason: `not a node id: ${JSON.stringify(raw.slice(0, 80))}` };
}

export function parseWeight(raw: string): Parsed<number> {
  if (raw.trim() === '') return { ok: false, reason: 'empty weight' };
  const r = weightValueSchema.safeParse(raw.trim());
  return r.success && Number.isFinite(r.data) ? { ok: true, value: r.data } : { ok: false, reason: `not a weight: ${JSON.stringify(raw.slice(0, 80))}` };
}

export function isBucketName(s: string): boolean {
  return /^[0-9a-f]{2}$/.test(s);
}

export { BUCKETS };
