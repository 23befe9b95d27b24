// Bucket ownership keys `<p>dtable-cluster/owner/<hh>` (docs/node.md, Ownership): taken only when
// absent (txn on create_revision = 0) on the node's own lease, released by the owner with a delete
// guarded by the token. The key's create_revision is the fencing token the storage layer checks.
import type { Etcd3 } from 'etcd3';
import type { Keyspace } from '../keyspace.ts';
import { ownerValueSchema, parseJson } from '../values.ts';

export type TakeResult =
  | { ok: true; token: number }
  /** Someone holds the key: its node id (null when the value is malformed) and token. */
  | { ok: false; holder: string | null; token: number };

/** Create the owner key on `leaseId` when absent. Idempotent for a holder on the same lease. */
export async function takeOwnership(
  client: Etcd3,
  ks: Keyspace,
  bucket: string,
  nodeId: string,
  leaseId: string,
): Promise<TakeResult> {
  const key = ks.owner(bucket);
  const value = JSON.stringify({ node_id: nodeId, acquired_at: new Date().toISOString() });
  const res = await client
    .if(key, 'Create', '==', 0)
    .then(client.put(key).value(value).lease(leaseId))
    .else(client.get(key))
    .commit();
  if (res.succeeded) return { ok: true, token: Number(res.header.revision) };
  const kv = res.responses[0]?.response_range?.kvs[0];
  if (!kv) return { ok: false, holder: null, token: 0 };
  const token = Number(kv.create_revision);
  const parsed = parseJson(ownerValueSchema, kv.value.toString());
  const holder = parsed.ok ? parsed.value.node_id : null;
  // Our own key on our current lease (e.g. a retried take whose answer was lost): still ours.
  if (holder === nodeId && String(kv.lease) === leaseId) return { ok: true, token };
  return { ok: false, holder, token };
}

/** Delete the owner key only while it is still the one with this token. True when deleted. */
export async function releaseOwnership(client: Etcd3, ks: Keyspace, bucket: string, token: number): Promise<boolean> {
  const key = ks.owner(bucket);
  const res = await client.if(key, 'Create', '==', token).then(client.delete().key(key)).commit();
  return res.succeeded;
}
