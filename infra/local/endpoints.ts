// The endpoint table `up` prints once the cluster is ready. Pure.
import type { Plan } from '../plan/types.ts';
import type { ClusterSecrets } from './secrets.ts';

/** The operator console's URL: `/console/` on the proxy admin port. */
export function consoleUrl(plan: Plan): string {
  return `${plan.proxy.adminUrl.replace(/\/$/, '')}/console/`;
}

export function endpointTable(
  plan: Plan,
  bucketsByNode: ReadonlyMap<string, number> | null,
  secrets: Pick<ClusterSecrets, 'source'> & { adminTokenFile: string },
  logDir: string,
): string {
  const rows: Array<[string, string, string]> = [];
  rows.push(['web', plan.web.url, 'dtable-web lookup role (base creation, app-access-token)']);
  rows.push(['proxy', plan.proxy.url, 'internal services reach the nodes here']);
  rows.push(['proxy admin', plan.proxy.adminUrl, '/health /assignment /metrics /rebalance/ /drain/']);
  rows.push(['console', consoleUrl(plan), 'operator console in a browser (asks for the admin token)']);
  for (const n of plan.nodes) {
    const buckets = bucketsByNode ? `${bucketsByNode.get(n.nodeId) ?? 0} buckets` : 'buckets: n/a';
    rows.push([n.nodeId, n.nodeUrl, buckets]);
  }
  for (const m of plan.monitors) rows.push([m.monitorId, `http://${m.host}:${m.metricsPort}/metrics`, 'monitor metrics']);
  for (const m of plan.etcd.members) rows.push([m.name, m.clientUrl, 'etcd client URL']);
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  const lines = rows.map(([a, b, c]) => `  ${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`);
  const env = plan.secrets.adminTokenEnv;
  const token =
    secrets.source.adminToken === 'env'
      ? `admin token: the value of $${env}`
      : `admin token: generated into ${secrets.adminTokenFile} (read it with: jq -r .admin_token ${secrets.adminTokenFile}); set $${env} to choose your own`;
  return ['endpoints', ...lines, token, `logs: ${logDir}/<instance>.log`].join('\n');
}
