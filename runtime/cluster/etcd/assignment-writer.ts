// Writes the monitor's assignment: only the assign-<hh> keys whose stored value differs, plus the
// epoch record, in transactions that each compare the writer's election key create_revision — a
// deposed or paused leader's write fails as a whole. Chunked under etcd's max-txn-ops, in even
// chunks; the epoch record goes in the last one.
import type { Etcd3 } from 'etcd3';
import { BUCKETS } from '../buckets.ts';
import type { Keyspace } from '../keyspace.ts';
import type { EpochRecord } from '../values.ts';

/** Proof of leadership: the leader's election key and its create_revision. */
export interface LeaderGuard {
  readonly key: string;
  readonly createRevision: number;
}

export interface AssignmentWrite {
  /** Target assignment, 256 node ids ('' or null = leave the key alone). */
  target: ReadonlyArray<string | null>;
  /** What etcd holds now, bucket name → raw value (malformed values included, so they get repaired). */
  current: ReadonlyMap<string, string>;
  /** Epoch record to store with the change (its `epoch` should be the previous + 1). */
  epoch: EpochRecord;
}

export interface AssignmentWriteResult {
  /** false when leadership was lost: nothing (or, in a chunked write, no further chunk) was written. */
  ok: boolean;
  /** Keys written. */
  written: number;
  /** etcd revision of the last successful chunk. */
  revision: number;
}

export interface AssignmentWriterOptions {
  /** etcd's --max-txn-ops; default 128 (etcd's default). Larger values allow one atomic txn. */
  maxTxnOps?: number;
}

/** Buckets whose stored value differs from the target. */
export function changedBuckets(target: ReadonlyArray<string | null>, current: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  BUCKETS.forEach((b, i) => {
    const t = target[i];
    if (t && current.get(b) !== t) out.push(b);
  });
  return out;
}

export async function writeAssignment(
  client: Etcd3,
  ks: Keyspace,
  guard: LeaderGuard,
  w: AssignmentWrite,
  opts: AssignmentWriterOptions = {},
): Promise<AssignmentWriteResult> {
  const changed = changedBuckets(w.target, w.current);
  let max = Math.max(2, opts.maxTxnOps ?? 128);
  const puts: Array<[string, string]> = changed.map((b) => [ks.assign(b), w.target[BUCKETS.indexOf(b)]!]);
  puts.push([ks.epoch, JSON.stringify(w.epoch)]);
  let written = 0;
  let revision = 0;
  while (written < puts.length) {
    // Even chunks, so the last one (with the epoch record) always carries assign keys too: a
    // watcher of assign-* that has seen the epoch's revision has seen the whole write.
    const left = puts.length - written;
    const chunk = puts.slice(written, written + Math.ceil(left / Math.ceil(left / max)));
    try {
      const res = await client
        .if(guard.key, 'Create', '==', guard.createRevision)
        .then(...chunk.map(([k, v]) => client.put(k).value(v)))
        .commit();
      if (!res.succeeded) return { ok: false, written, revision };
      revision = Number(res.header.revision);
      written += chunk.length;
    } catch (err) {
      // etcd runs with a smaller --max-txn-ops than we were told: fall back to its default.
      if (/too many operations in txn/.test((err as Error).message) && max > 128) {
        max = 128;
        continue;
      }
      throw err;
    }
  }
  return { ok: true, written: written - 1, revision };
}
