// Secures a local run (issue 8): certificates for every etcd member and component in the run
// dir (./tls.ts), and the per-component etcd roles (runtime/cluster/access-policy.ts) applied
// with the root certificate. The launcher calls `localCertificates` before it renders and
// starts etcd, `componentTls` for each rendered config's `tls` block, and
// `enableEtcdAccessControl` once etcd serves and before the runtime processes start.
import { join } from 'node:path';
import { accessPolicy, MONITOR_USER, PROXY_USER, ROOT_USER, WEB_USER } from '../../runtime/cluster/access-policy.ts';
import { connectEtcd } from '../../runtime/cluster/etcd/client.ts';
import { applyAccessPolicy } from '../../runtime/cluster/etcd/rbac.ts';
import { keyspace } from '../../runtime/cluster/keyspace.ts';
import { etcdUsers as usersOf } from '../plan/resolve.ts';
import type { Plan } from '../plan/types.ts';
import { ensureClusterCerts, type CertFiles, type ClusterCerts } from './tls.ts';

/** Every etcd user of a plan: root, one per node, monitor, proxy, web. */
export function etcdUsers(plan: Pick<Plan, 'nodes'>): string[] {
  return usersOf(plan.nodes);
}

/** CA, member and client certificates under `<runDir>/tls`, created once and reused. */
export function localCertificates(plan: Pick<Plan, 'nodes' | 'etcd'>, runDir: string): Promise<ClusterCerts> {
  return ensureClusterCerts(join(runDir, 'tls'), {
    members: plan.etcd.members.map((m) => ({ name: m.name, host: m.host })),
    users: etcdUsers(plan),
  });
}

export type Component = { kind: 'node'; nodeId: string } | { kind: 'monitor' | 'proxy' | 'web' | 'cli' };

/** The `tls` block of a component's rendered config (its own client certificate). */
export function componentTls(certs: ClusterCerts, c: Component): CertFiles {
  const user = c.kind === 'node' ? c.nodeId : c.kind === 'monitor' ? MONITOR_USER : c.kind === 'proxy' ? PROXY_USER : c.kind === 'web' ? WEB_USER : ROOT_USER;
  const files = certs.clients[user];
  if (!files) throw new Error(`no client certificate for etcd user ${user}`);
  return files;
}

/** Creates users and roles for the plan and turns etcd auth on (idempotent). */
export async function enableEtcdAccessControl(plan: Pick<Plan, 'nodes' | 'keyPrefix' | 'etcd'>, certs: ClusterCerts): Promise<void> {
  const client = connectEtcd({ hostList: [...plan.etcd.hostList], tls: certs.clients[ROOT_USER] });
  try {
    await applyAccessPolicy(client, accessPolicy(keyspace(plan.keyPrefix), plan.nodes.map((n) => n.nodeId)));
  } finally {
    client.close();
  }
}
