// Plan → rendered config files, one per component instance (docs/cluster-yaml.md, Rendered files), from the
// templates in templates/. Pure and deterministic: the templates are read once at import, and
// the output depends on the plan only.
import { readFileSync } from 'node:fs';
import { MONITOR_USER, PROXY_USER, WEB_USER } from '../../runtime/cluster/access-policy.ts';
import type { EtcdMemberPlan, MonitorPlan, NodePlan, Plan, RenderedFile, TlsFiles } from '../plan/types.ts';
import type { Literal } from './escape.ts';
import { fillTemplate, type Format } from './template.ts';

const TEMPLATE_DIR = new URL('../../templates/', import.meta.url);

const TEMPLATE_FILES = {
  node: 'node/dtable_server_config.json',
  proxyConfig: 'proxy/dtable_server_config.json',
  proxyCompose: 'proxy/docker-compose.yml',
  webSettings: 'dtable-web/dtable_web_settings.py',
  dbConf: 'dtable-db/dtable-db.conf',
  etcd: 'etcd/etcd.conf.yml',
  etcdTls: 'etcd/tls.fragment.yml',
  monitor: 'monitor/monitor.json',
  web: 'web/web.json',
  prometheusConfig: 'prometheus/prometheus.yml',
  prometheusAlerts: 'prometheus/alerts.yml',
} as const;

type TemplateName = keyof typeof TEMPLATE_FILES;

const TEMPLATES = Object.fromEntries(
  Object.entries(TEMPLATE_FILES).map(([k, f]) => [k, readFileSync(new URL(f, TEMPLATE_DIR), 'utf8')]),
) as Record<TemplateName, string>;

/** Where our runtime images read their config (docker target). */
export const CONTAINER_CONF_DIR = '/opt/dtable-cluster/conf';
/** SeaTable's layout, used for SeaTable images and the fragments meant for SeaTable services. */
export const SEATABLE_CONF_DIR = '/shared/seatable/conf';
/** The proxy's config path in SeaTable's compose layout (`/opt/dtable-server-proxy/shared` → `/shared`). */
export const PROXY_CONTAINER_CONFIG = '/shared/seatable-proxy/conf/dtable_server_config.json';
export const PROXY_HOST_SHARED_DIR = '/opt/dtable-server-proxy/shared';
export const PROXY_COMPOSE_PATH = '/opt/dtable-server-proxy/docker-compose.yml';
/** Where the official Prometheus image reads its configuration (docker target). */
export const PROMETHEUS_CONF_DIR = '/etc/prometheus';
/** Folder (instance) of the rendered Prometheus files. */
export const PROMETHEUS_INSTANCE = 'prometheus';

/** etcd timings rendered into every member; MIN_LEASE_TTL is derived from them. */
export const ETCD_HEARTBEAT_MS = 100;
export const ETCD_ELECTION_TIMEOUT_MS = 1000;

/** The client certificate of an etcd user, or null without etcd TLS. */
function clientTls(plan: Plan, user: string): TlsFiles | null {
  if (!plan.etcd.tls) return null;
  const files = plan.etcd.tls.clients[user];
  if (!files) throw new Error(`no client certificate for etcd user ${user}`);
  return files;
}

/** Folder of the rendered files of a local plan: `<runDir>/conf`. */
export function localConfDir(plan: Plan): string {
  return `${plan.runDir}/conf`;
}

export function renderPlan(plan: Plan): RenderedFile[] {
  const files: RenderedFile[] = [
    ...plan.etcd.members.map((m) => renderEtcdMember(plan, m)),
    ...plan.nodes.map((n) => renderNodeConfig(plan, n)),
    renderProxyConfig(plan),
    renderProxyCompose(plan),
    ...plan.monitors.map((m) => renderMonitorConfig(plan, m)),
    renderWebConfig(plan),
    renderWebSettings(plan),
    renderDbConf(plan),
    renderPrometheusConfig(plan),
    renderPrometheusAlerts(plan),
  ];
  return files;
}

function file(
  plan: Plan,
  spec: {
    instance: string;
    fileName: string;
    component: RenderedFile['component'];
    format: Format;
    template: TemplateName;
    values: Record<string, Literal>;
    containerPath: string;
    /** JSON configs: the component's etcd client certificate, set as `tls` in the object at this key ("" = top level). */
    tls?: { at: string; files: TlsFiles | null };
    /** Appended after the template (a fragment that only applies to some plans). */
    extra?: string;
    /** JSON configs: settings that only apply to some plans, set on the parsed object. */
    patch?: (json: Record<string, Record<string, unknown>>) => void;
  },
): RenderedFile {
  const path = `${spec.instance}/${spec.fileName}`;
  let contents = fillTemplate(TEMPLATES[spec.template], spec.format, spec.values, TEMPLATE_FILES[spec.template]) + (spec.extra ?? '');
  // Normalise JSON layout (and prove the template yields valid JSON).
  if (spec.format === 'json') {
    const json = JSON.parse(contents) as Record<string, Record<string, unknown>>;
    if (spec.tls?.files) (spec.tls.at ? json[spec.tls.at]! : json).tls = { ...spec.tls.files };
    spec.patch?.(json);
    contents = `${JSON.stringify(json, null, 2)}\n`;
  }
  return {
    path,
    instance: spec.instance,
    component: spec.component,
    format: spec.format,
    contents,
    containerPath: plan.target === 'local' ? `${localConfDir(plan)}/${path}` : spec.containerPath,
  };
}

export function renderNodeConfig(plan: Plan, node: NodePlan): RenderedFile {
  return file(plan, {
    instance: node.name,
    fileName: 'dtable_server_config.json',
    component: 'node',
    format: 'json',
    template: 'node',
    values: {
      etcd_host_list: plan.etcd.hostList,
      node_id: node.nodeId,
      node_url: node.nodeUrl,
      local_node_url: node.localNodeUrl,
      key_prefix: plan.keyPrefix,
      listen_host: node.listenHost,
      port: node.port,
      lease_ttl: plan.leaseTtl,
      weight: node.weight,
      data_dir: node.dataDir,
      storage_kind: plan.storage.kind,
      storage_dir: node.storageDir,
      private_key_env: plan.secrets.privateKeyEnv,
    },
    patch: (json) => nodeStorage(plan, json.dtable_cluster!),
    containerPath: `${node.image ? SEATABLE_CONF_DIR : CONTAINER_CONF_DIR}/dtable_server_config.json`,
    tls: { at: 'dtable_cluster', files: clientTls(plan, node.nodeId) },
  });
}

/**
 * MariaDB storage: where every node connects and the name of the password's environment
 * variable (the password itself is never rendered); no storage_dir.
 */
function nodeStorage(plan: Plan, dc: Record<string, unknown>): void {
  const st = plan.storage;
  if (st.kind !== 'mariadb') return;
  delete dc.storage_dir;
  dc.storage = {
    kind: 'mariadb',
    host: st.host,
    port: st.port,
    database: st.database,
    user: st.user,
    password_env: st.passwordEnv,
    pool_size: st.poolSize,
    snapshot_every: st.snapshotEvery,
  };
}

export function renderProxyConfig(plan: Plan): RenderedFile {
  const p = plan.proxy;
  return file(plan, {
    instance: p.name,
    fileName: 'dtable_server_config.json',
    component: 'proxy',
    format: 'json',
    template: 'proxyConfig',
    values: {
      etcd_host_list: plan.etcd.hostList,
      key_prefix: plan.keyPrefix,
      listen_host: p.listenHost,
      port: p.port,
      admin_port: p.adminPort,
      retry_deadline_ms: p.retryDeadlineMs,
      admin_token_env: plan.secrets.adminTokenEnv,
    },
    containerPath: PROXY_CONTAINER_CONFIG,
    tls: { at: 'dtable_cluster', files: clientTls(plan, PROXY_USER) },
  });
}

export function renderProxyCompose(plan: Plan): RenderedFile {
  const p = plan.proxy;
  return file(plan, {
    instance: p.name,
    fileName: 'docker-compose.yml',
    component: 'proxy',
    format: 'yaml',
    template: 'proxyCompose',
    values: {
      service: p.name,
      image: p.image ?? plan.runtimeImage,
      container_name: p.name,
      port_mapping: `${p.port}:${p.port}`,
      admin_port_mapping: `${p.adminPort}:${p.adminPort}`,
      shared_volume: `${PROXY_HOST_SHARED_DIR}:/shared`,
      time_zone: `TIME_ZONE=${p.timeZone}`,
      admin_token_env: plan.secrets.adminTokenEnv,
    },
    // Not read inside a container: where `docker compose` expects it on the proxy's machine.
    containerPath: PROXY_COMPOSE_PATH,
  });
}

export function renderMonitorConfig(plan: Plan, m: MonitorPlan): RenderedFile {
  return file(plan, {
    instance: m.name,
    fileName: 'monitor.json',
    component: 'monitor',
    format: 'json',
    template: 'monitor',
    values: {
      etcd_host_list: plan.etcd.hostList,
      key_prefix: plan.keyPrefix,
      monitor_id: m.monitorId,
      lease_ttl: plan.leaseTtl,
      election_ttl: m.electionTtl,
      debounce_ms: m.debounceMs,
      reconcile_interval_ms: m.reconcileIntervalMs,
      // All 256 assign keys in one transaction: etcd runs with this limit (rendered etcd.conf.yml).
      etcd_max_txn_ops: plan.etcd.maxTxnOps,
      etcd_member_names: plan.etcd.members.map((e) => e.name),
      etcd_quota_backend_bytes: plan.etcd.quotaBackendBytes,
      auto_defrag_enabled: plan.etcd.autoDefrag.enabled,
      auto_defrag_in_use_below: plan.etcd.autoDefrag.inUseBelow,
      auto_defrag_min_db_size_bytes: plan.etcd.autoDefrag.minDbSizeBytes,
      auto_defrag_check_interval_seconds: plan.etcd.autoDefrag.checkIntervalSeconds,
      rebalance_move_budget: m.rebalanceMoveBudget,
      listen_host: m.listenHost,
      metrics_port: m.metricsPort,
    },
    containerPath: `${CONTAINER_CONF_DIR}/monitor.json`,
    tls: { at: '', files: clientTls(plan, MONITOR_USER) },
  });
}

export function renderWebConfig(plan: Plan): RenderedFile {
  const w = plan.web;
  return file(plan, {
    instance: w.name,
    fileName: 'web.json',
    component: 'web',
    format: 'json',
    template: 'web',
    values: {
      etcd_host_list: plan.etcd.hostList,
      key_prefix: plan.keyPrefix,
      listen_host: w.listenHost,
      port: w.port,
      url: w.url,
      proxy_url: plan.proxy.url,
      data_dir: w.dataDir,
      private_key_env: plan.secrets.privateKeyEnv,
      admin_token_env: plan.secrets.adminTokenEnv,
    },
    containerPath: `${CONTAINER_CONF_DIR}/web.json`,
    tls: { at: '', files: clientTls(plan, WEB_USER) },
  });
}

/**
 * SeaTable's dtable-web hands each ETCD_SERVER_HOST_LIST entry to the Python etcd3 client as a
 * host, which connects to port 2379; a member on another client port is written `host:port`
 * (the loader warns about it).
 */
export function etcdServerHostList(plan: Plan): string[] {
  return plan.etcd.members.map((m) => (m.clientPort === 2379 ? m.host : `${m.host}:${m.clientPort}`));
}

export function renderWebSettings(plan: Plan): RenderedFile {
  return file(plan, {
    instance: 'dtable-web',
    fileName: 'dtable_web_settings.py',
    component: 'dtable-web',
    format: 'python',
    template: 'webSettings',
    values: {
      enable: true,
      etcd_server_host_list: etcdServerHostList(plan),
      proxy_url: plan.proxy.url,
    },
    containerPath: `${SEATABLE_CONF_DIR}/dtable_web_settings.py`,
  });
}

export function renderDbConf(plan: Plan): RenderedFile {
  return file(plan, {
    instance: 'dtable-db',
    fileName: 'dtable-db.conf',
    component: 'dtable-db',
    format: 'ini',
    template: 'dbConf',
    values: { dtable_server_url: plan.proxy.url },
    containerPath: `${SEATABLE_CONF_DIR}/dtable-db.conf`,
  });
}

export function renderEtcdMember(plan: Plan, m: EtcdMemberPlan): RenderedFile {
  const scheme = plan.etcd.tls ? 'https' : 'http';
  const listen = (port: number) => `${scheme}://${m.listenHost}:${port}`;
  const certs = plan.etcd.tls?.members[m.name];
  const extra = certs
    ? fillTemplate(
        TEMPLATES.etcdTls,
        'yaml',
        { listen_metrics_urls: `http://${m.listenHost}:${m.metricsPort}`, ...certs },
        TEMPLATE_FILES.etcdTls,
      )
    : '';
  return file(plan, {
    instance: m.name,
    fileName: 'etcd.conf.yml',
    component: 'etcd',
    format: 'yaml',
    template: 'etcd',
    values: {
      name: m.name,
      data_dir: m.dataDir,
      listen_client_urls: listen(m.clientPort),
      advertise_client_urls: m.clientUrl,
      listen_peer_urls: listen(m.peerPort),
      initial_advertise_peer_urls: m.peerUrl,
      initial_cluster: plan.etcd.members.map((o) => `${o.name}=${o.peerUrl}`).join(','),
      initial_cluster_token: plan.etcd.clusterToken,
      initial_cluster_state: 'new',
      max_txn_ops: plan.etcd.maxTxnOps,
      heartbeat_interval: ETCD_HEARTBEAT_MS,
      election_timeout: ETCD_ELECTION_TIMEOUT_MS,
      auto_compaction_mode: plan.etcd.compaction.mode,
      auto_compaction_retention: plan.etcd.compaction.retention,
      quota_backend_bytes: plan.etcd.quotaBackendBytes,
    },
    extra,
    containerPath: `${CONTAINER_CONF_DIR}/etcd.conf.yml`,
  });
}

/** One Prometheus static_config: a target and the `instance_name` label naming its plan instance. */
function target(instanceName: string, host: string, port: number): Literal {
  return { targets: [`${host}:${port}`], labels: { instance_name: instanceName } };
}

/**
 * The Prometheus scrape config: a job per component with every process of the plan at its
 * metrics port (etcd: the client port, or the plain-http metrics port with etcd.tls; monitor:
 * metrics_port; node and web: their HTTP port; proxy: the admin port, with the admin token).
 */
export function renderPrometheusConfig(plan: Plan): RenderedFile {
  const pr = plan.prometheus;
  return file(plan, {
    instance: PROMETHEUS_INSTANCE,
    fileName: 'prometheus.yml',
    component: 'prometheus',
    format: 'yaml',
    template: 'prometheusConfig',
    values: {
      scrape_interval: pr.scrapeInterval,
      evaluation_interval: pr.evaluationInterval,
      external_labels: { cluster: plan.name },
      etcd_targets: plan.etcd.members.map((m) => target(m.name, m.host, m.metricsPort ?? m.clientPort)),
      monitor_targets: plan.monitors.map((m) => target(m.name, m.host, m.metricsPort)),
      node_targets: plan.nodes.map((n) => target(n.name, n.host, n.port)),
      proxy_targets: [target(plan.proxy.name, plan.proxy.host, plan.proxy.adminPort)],
      web_targets: [target(plan.web.name, plan.web.host, plan.web.port)],
    },
    containerPath: `${PROMETHEUS_CONF_DIR}/prometheus.yml`,
  });
}

/** The alert rules (docs/observability.md), with cluster.yaml's `prometheus.alert_for` durations and thresholds. */
export function renderPrometheusAlerts(plan: Plan): RenderedFile {
  const pr = plan.prometheus;
  const forOf = Object.fromEntries(Object.entries(pr.alertFor).map(([k, v]) => [`${k}_for`, v]));
  return file(plan, {
    instance: PROMETHEUS_INSTANCE,
    fileName: 'alerts.yml',
    component: 'prometheus',
    format: 'yaml',
    template: 'prometheusAlerts',
    values: {
      ...forOf,
      // The range selector takes a bare duration, so the expression is written whole.
      lease_churn_expr: `max by (node_id) (increase(dtable_cluster_node_departures_total[${pr.leaseChurn.window}])) >= ${pr.leaseChurn.departures}`,
      etcd_db_quota_ratio: pr.etcdDbQuotaRatio,
    },
    containerPath: `${PROMETHEUS_CONF_DIR}/alerts.yml`,
  });
}
