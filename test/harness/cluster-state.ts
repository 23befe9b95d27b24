// Helpers for integration tests that inspect the assignment in etcd directly.
import type { Etcd3 } from 'etcd3';
import { BUCKETS } from '../../runtime/cluster/buckets.ts';
import { NodeRegistration } from '../../runtime/cluster/etcd/registration.ts';
import type { Keyspace } from '../../runtime/cluster/keyspace.ts';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until<T>(probe: () => Promise<T> | T, ok: (v: T) => boolean, ms = 20_000, what = 'condition'): Promise<T> {
  const end = Date.now() + ms;
  let last: T;
  for (;;) {
    last = await probe();
    if (ok(last)) return last;
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms; last: ${JSON.stringify(last)?.slice(0, 500)}`);
    await sleep(50);
  }
}

/** assign-<hh> values straight from etcd, 256 entries (null when absent). */
export async function readAssignment(client: Etcd3, ks: Keyspace): Promise<Array<string | null>> {
  const all = await client.getAll().prefix(ks.assignPrefix).strings();
  return BUCKETS.map((b) => all[ks.assign(b)] ?? null);
}

export function counts(a: ReadonlyArray<string | null>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const id of a) if (id) out[id] = (out[id] ?? 0) + 1;
  return out;
}

export function changed(a: ReadonlyArray<string | null>, b: ReadonlyArray<string | null>): Array<{ bucket: string; from: string | null; to: string | null }> {
  return BUCKETS.flatMap((bucket, i) => (a[i] === b[i] ? [] : [{ bucket, from: a[i] ?? null, to: b[i] ?? null }]));
}

export function nodeId(n: number): string {
  return `dtable-server-${String(n).padStart(2, '0')}`;
}

/** Register a fake node through the adapter (as a real node does). */
export async function registerNode(client: Etcd3, ks: Keyspace, n: number, ttlSeconds = 3, weight?: number): Promise<NodeRegistration> {
  const id = nodeId(n);
  const r = new NodeRegistration(client, {
    ks,
    ttlSeconds,
    registration: {
      node_id: id,
      node_url: `http://node${n}.example.test/`,
      local_node_url: `http://127.0.0.1:${5000 + n}/`,
      ...(weight === undefined ? {} : { weight }),
    },
  });
  await r.start();
  return r;
}
