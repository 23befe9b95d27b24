// When a node publishes `dtable-cluster/load/<node_id>` (docs/keyspace.md). Every put is an
// etcd revision that stays in the history until compaction, so a report goes out only when the
// load changed materially, never more often than a minimum interval, and at least once per
// maximum silence (so `updated_at` says the node is still measuring). Pure: no I/O, no clock.
import type { BucketLoad } from './values.ts';

export type BucketLoads = Readonly<Record<string, BucketLoad>>;

export interface LoadReportPolicy {
  /** Never two reports closer than this, ms. */
  readonly minIntervalMs: number;
  /** Report at least this often even when nothing changed, ms. */
  readonly maxSilenceMs: number;
  /** A bucket's ops/s or bytes changed by more than this fraction of the reported value... */
  readonly relativeChange: number;
  /** ...and by at least this many ops/s (ops), */
  readonly minOpsDelta: number;
  /** ...or at least this many bytes (bytes). */
  readonly minBytesDelta: number;
}

/**
 * 30 s minimum interval, 10 min maximum silence: an idle node writes 6 revisions an hour, a busy
 * one at most 2 a minute. A change is material at 25 % and 1 op/s or 1 MiB: below that the
 * load-aware rebalance would not decide differently.
 */
export const DEFAULT_LOAD_REPORT_POLICY: LoadReportPolicy = {
  minIntervalMs: 30_000,
  maxSilenceMs: 600_000,
  relativeChange: 0.25,
  minOpsDelta: 1,
  minBytesDelta: 1024 * 1024,
};

/** The last report a node published: when, on which lease, and what. */
export interface PublishedLoad {
  readonly at: number;
  readonly leaseId: string;
  readonly buckets: BucketLoads;
}

function changed(before: number, after: number, relative: number, floor: number): boolean {
  const delta = Math.abs(after - before);
  return delta >= floor && delta > relative * Math.max(before, after);
}

/** True when `next` differs from `prev` enough to matter to a rebalance. */
export function materiallyDifferent(prev: BucketLoads, next: BucketLoads, policy: LoadReportPolicy = DEFAULT_LOAD_REPORT_POLICY): boolean {
  const buckets = new Set([...Object.keys(prev), ...Object.keys(next)]);
  const zero: BucketLoad = { bases: 0, ops_per_sec: 0, bytes: 0 };
  for (const b of buckets) {
    const p = prev[b] ?? zero;
    const n = next[b] ?? zero;
    // A bucket appearing or leaving, or bases loaded or unloaded, is always news.
    if ((prev[b] === undefined) !== (next[b] === undefined) || p.bases !== n.bases) return true;
    if (changed(p.ops_per_sec, n.ops_per_sec, policy.relativeChange, policy.minOpsDelta)) return true;
    if (changed(p.bytes, n.bytes, policy.relativeChange, policy.minBytesDelta)) return true;
  }
  return false;
}

/**
 * Whether to publish `next` at `now` on `leaseId`. Always when nothing was published on this
 * lease yet (the previous report vanished with its lease); never within `minIntervalMs` of the
 * last report; then on a material change or after `maxSilenceMs`.
 */
export function shouldPublishLoad(
  last: PublishedLoad | null,
  next: BucketLoads,
  now: number,
  leaseId: string,
  policy: LoadReportPolicy = DEFAULT_LOAD_REPORT_POLICY,
): boolean {
  if (!last || last.leaseId !== leaseId) return true;
  const since = now - last.at;
  if (since < policy.minIntervalMs) return false;
  return since >= policy.maxSilenceMs || materiallyDifferent(last.buckets, next, policy);
}
