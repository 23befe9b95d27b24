// Who may touch which etcd keys (issue 8): one etcd role per component, with the narrowest key
// permissions it needs. Pure: the etcd adapter (etcd/rbac.ts) applies it. User names are the
// CN of each component's client certificate, which is how etcd names a client under
// --client-cert-auth.
//
// etcd 3.4 RBAC works on keys and key ranges only, so:
// - a node's own keys (registration, load) are granted per node, as exact keys;
// - owner/<hh> keys belong to whichever node the bucket is assigned to, so every node may
//   write the owner/ range; ownership itself is protected by the create_revision = 0 txn and
//   the owner's lease, not by RBAC.
import type { Keyspace } from './keyspace.ts';

export type Permission = 'Read' | 'Write' | 'Readwrite';

/** An exact key, a prefix, or the whole keyspace (`all`, when the key prefix is empty). */
export type KeyGrant = { permission: Permission; key: string } | { permission: Permission; prefix: string } | { permission: Permission; all: true };

export interface RoleSpec {
  /** Role and user name (the certificate CN). */
  name: string;
  grants: KeyGrant[];
}

export const MONITOR_USER = 'dtable-cluster-monitor';
export const PROXY_USER = 'dtable-cluster-proxy';
export const WEB_USER = 'dtable-cluster-web';
/** etcd's superuser: the launcher and the CLI (status, rebalance, drain) act as root. */
export const ROOT_USER = 'root';

function readAll(ks: Keyspace): KeyGrant {
  return ks.prefix === '' ? { permission: 'Read', all: true } : { permission: 'Read', prefix: ks.prefix };
}

export function nodeRole(ks: Keyspace, nodeId: string): RoleSpec {
  return {
    name: nodeId,
    grants: [
      readAll(ks),
      { permission: 'Readwrite', key: ks.node(nodeId) },
      { permission: 'Readwrite', key: ks.load(nodeId) },
      { permission: 'Readwrite', prefix: ks.ownerPrefix },
    ],
  };
}

export function monitorRole(ks: Keyspace): RoleSpec {
  return {
    name: MONITOR_USER,
    grants: [
      readAll(ks),
      { permission: 'Readwrite', prefix: ks.assignPrefix },
      { permission: 'Readwrite', key: ks.epoch },
      { permission: 'Readwrite', prefix: ks.electionPrefix },
      { permission: 'Readwrite', prefix: ks.rebalanceResponsePrefix },
      // An answer is put on the requester's lease, and etcd only lets a user attach a lease whose
      // keys it could write (it could then revoke them): the request keys, here.
      { permission: 'Readwrite', prefix: ks.rebalanceRequestPrefix },
    ],
  };
}

/**
 * The proxy reads the cluster, may ask the monitor for a rebalance (POST /rebalance/) and set a
 * node's weight override (POST /drain/, the operator console).
 */
export function proxyRole(ks: Keyspace): RoleSpec {
  return {
    name: PROXY_USER,
    grants: [readAll(ks), { permission: 'Readwrite', prefix: ks.rebalanceRequestPrefix }, { permission: 'Readwrite', prefix: ks.weightPrefix }],
  };
}

export function webRole(ks: Keyspace): RoleSpec {
  return { name: WEB_USER, grants: [readAll(ks)] };
}

/** Every role of a cluster with these nodes. */
export function accessPolicy(ks: Keyspace, nodeIds: readonly string[]): RoleSpec[] {
  return [...nodeIds.map((id) => nodeRole(ks, id)), monitorRole(ks), proxyRole(ks), webRole(ks)];
}
