// The load-report policy: how many etcd revisions a node's load reports cost.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LOAD_REPORT_POLICY as P, materiallyDifferent, shouldPublishLoad, type BucketLoads } from '../../../runtime/cluster/load-report.ts';

const load = (ops: number, bytes = 1000, bases = 1): BucketLoads => ({ '5e': { bases, ops_per_sec: ops, bytes } });
const last = (buckets: BucketLoads, at = 0, leaseId = 'L1') => ({ at, leaseId, buckets });

describe('materiallyDifferent', () => {
  it('ignores small changes in ops per second', () => {
    expect(materiallyDifferent(load(10), load(11))).toBe(false);
  });

  it('ignores relative jumps below one op per second', () => {
    expect(materiallyDifferent(load(0.1), load(0.5))).toBe(false);
  });

  it('reports a quarter more ops per second', () => {
    expect(materiallyDifferent(load(10), load(14))).toBe(true);
  });

  it('reports a bucket that appears', () => {
    expect(materiallyDifferent({}, load(0))).toBe(true);
  });

  it('reports a bucket that leaves', () => {
    expect(materiallyDifferent(load(0), {})).toBe(true);
  });

  it('reports a base loaded or unloaded', () => {
    expect(materiallyDifferent(load(0, 1000, 1), load(0, 1000, 2))).toBe(true);
  });

  it('reports a base that grew by more than a quarter and a MiB', () => {
    expect(materiallyDifferent(load(0, 2e6), load(0, 4e6))).toBe(true);
  });

  it('is symmetric', () => {
    const loads = fc.dictionary(
      fc.constantFrom('00', '5e', 'ff'),
      fc.record({ bases: fc.nat(3), ops_per_sec: fc.double({ min: 0, max: 100, noNaN: true }), bytes: fc.nat(1e8) }),
    );
    fc.assert(fc.property(loads, loads, (a, b) => materiallyDifferent(a, b) === materiallyDifferent(b, a)));
  });
});

describe('shouldPublishLoad', () => {
  it('publishes the first report on a lease at once', () => {
    expect(shouldPublishLoad(null, load(1), 0, 'L1')).toBe(true);
  });

  it('publishes at once on a new lease (the old report vanished with the old lease)', () => {
    expect(shouldPublishLoad(last(load(1), 0, 'L1'), load(1), 1000, 'L2')).toBe(true);
  });

  it('holds a material change until the minimum interval has passed', () => {
    expect(shouldPublishLoad(last(load(1)), load(100), P.minIntervalMs - 1, 'L1')).toBe(false);
    expect(shouldPublishLoad(last(load(1)), load(100), P.minIntervalMs, 'L1')).toBe(true);
  });

  it('stays silent about an unchanged load until the maximum silence', () => {
    expect(shouldPublishLoad(last(load(1)), load(1), P.maxSilenceMs - 1, 'L1')).toBe(false);
    expect(shouldPublishLoad(last(load(1)), load(1), P.maxSilenceMs, 'L1')).toBe(true);
  });

  it('never publishes more than once per minimum interval, whatever the load does', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 20_000 }), fc.double({ min: 0, max: 1000, noNaN: true })), { maxLength: 200 }), (steps) => {
        let t = 0;
        let prev: ReturnType<typeof last> | null = null;
        for (const [dt, ops] of steps) {
          t += dt;
          if (shouldPublishLoad(prev, load(ops), t, 'L1')) {
            if (prev) expect(t - prev.at).toBeGreaterThanOrEqual(P.minIntervalMs);
            prev = last(load(ops), t);
          }
        }
      }),
    );
  });
});
