// The model of cluster.yaml: one zod schema, the single source of truth for parsing, defaults,
// the JSON Schema (`dtable-cluster schema`) and docs/cluster-yaml.md. Pure.
//
// Every string that reaches a rendered file is restricted here to a character set that is safe
// in all of its formats (JSON, Python literals, INI values, YAML), so no value can inject code
// or keys; the renderers escape as well (defence in depth).
import { z } from 'zod';
import { NODE_ID_PREFIX } from '../../runtime/cluster/keyspace.ts';

/**
 * Smallest accepted `lease_ttl`. etcd never grants a lease shorter than 1.5 × its election
 * timeout (rendered as 1000 ms, so 2 s), and a node must fit a keepalive round trip (every
 * TTL/3), a possible leader election (1 s) and its self-fencing margin inside the TTL; below
 * 5 s a healthy node under a slow fsync would lose its buckets.
 */
export const MIN_LEASE_TTL = 5;
/** Smallest accepted etcd `max_txn_ops`: the monitor writes all 256 `assign-<hh>` keys in one txn. */
export const MIN_MAX_TXN_OPS = 512;

export const DEFAULTS = {
  keyPrefix: '',
  leaseTtl: 90,
  privateKeyEnv: 'DTABLE_PRIVATE_KEY',
  adminTokenEnv: 'DTABLE_ADMIN_TOKEN',
  dockerHostName: 'default',
  dockerHostUrl: 'unix:///var/run/docker.sock',
  runtimeImage: 'dtable-cluster:latest',
  etcdImage: 'quay.io/coreos/etcd:v3.5.17',
  maxTxnOps: 1024,
  compactionMode: 'periodic',
  compactionRetention: { periodic: '5m', revision: '10000' },
  quotaBackendBytes: 2 * 1024 ** 3,
  autoDefragBelowInUse: 0.5,
  autoDefragMinDbBytes: 64 * 1024 ** 2,
  autoDefragCheckIntervalSeconds: 600,
  etcdClientPort: 2379,
  etcdPeerPort: 2380,
  nodePort: 5000,
  proxyName: 'dtable-server-proxy',
  proxyPort: 5550,
  proxyAdminPort: 5555,
  timeZone: 'Etc/UTC',
  retryDeadlineMs: 10000,
  monitorReplicas: 1,
  debounceMs: 1000,
  reconcileIntervalMs: 10000,
  electionTtl: 10,
  rebalanceMoveBudget: 32,
  metricsPort: 9105,
  webPort: 8000,
  localBasePort: 17000,
  storageKind: 'filesystem',
  mariadbPort: 3306,
  mariadbDatabase: 'dtable_bases',
  mariadbUser: 'dtable',
  mariadbPasswordEnv: 'DTABLE_STORAGE_PASSWORD',
  mariadbImage: 'mariadb:10.11',
  mariadbPoolSize: 4,
  snapshotEvery: 1000,
  scrapeInterval: '15s',
  evaluationInterval: '15s',
  etcdDbQuotaRatio: 0.8,
  leaseChurnWindow: '15m',
  leaseChurnDepartures: 3,
  prometheusImage: 'prom/prometheus:v2.53.5',
  prometheusPort: 9090,
  /** `for:` of each alert rule (templates/prometheus/alerts.yml): how long its condition holds before it fires. */
  alertFor: {
    node_down: '1m',
    component_down: '2m',
    buckets_unassigned: '2m',
    no_monitor_leader: '1m',
    routing_stale: '2m',
    node_lease_churn: '1m',
    etcd_no_leader: '1m',
    etcd_leader_churn: '5m',
    etcd_alarm: '1m',
    etcd_db_near_quota: '5m',
  },
} as const;

// Instance names become folder names, container names and etcd member names.
const instanceName = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, {
    error: 'must be lowercase letters, digits and "-" (at most 63, not starting or ending with "-")',
  });

const hostLabel = '[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
/** A DNS name or IPv4 address (no ports, no schemes, ASCII only). */
const hostName = z
  .string()
  .regex(new RegExp(`^${hostLabel}(\\.${hostLabel})*$`), {
    error: 'must be a host name or IPv4 address (letters, digits, "-" and ".", no port or scheme)',
  });

const port = z
  .number({ error: 'must be a port number' })
  .int({ error: 'must be a whole number' })
  .min(1, { error: 'must be a port number between 1 and 65535' })
  .max(65535, { error: 'must be a port number between 1 and 65535' });

const envName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
    error: 'must be the name of an environment variable (letters, digits, "_"), not a secret value',
  });

const image = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9._/-]*[a-z0-9])?(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/, {
    error: 'must be a Docker image reference like "repo/name:tag"',
  });

/** An http(s) URL with a host and no credentials, query or fragment; printable ASCII only. */
export const httpUrl = z.string().superRefine((value, ctx) => {
  const problem = httpUrlProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export function httpUrlProblem(value: string): string | null {
  if (!/^[\x21-\x7e]+$/.test(value)) {
    return 'must be a URL of printable ASCII characters (no spaces; write international names as punycode)';
  }
  if (/["'\\<>`{}|^]/.test(value)) return 'must not contain quotes, backslashes or <>`{}|^';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `is not a valid URL: "${value}"`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http:// or https:// URL';
  if (!url.hostname) return 'must name a host';
  if (url.username || url.password) return 'must not contain credentials';
  if (url.search || url.hash || value.includes('?') || value.includes('#')) {
    return 'must not contain a query or fragment';
  }
  return null;
}

const dockerHostUrl = z
  .string()
  .regex(/^(unix|npipe):\/\/\/[\x21-\x7e]+$|^(tcp|ssh|http|https):\/\/[\x21-\x7e]+$/, {
    error: 'must be a Docker host URL: unix:///path, tcp://host:port or ssh://user@host',
  })
  .refine((v) => !/["'\\\s]/.test(v), { error: 'must not contain quotes, backslashes or spaces' });

const dataVolume = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { error: 'must be a Docker volume name (letters, digits, "_", ".", "-")' });

const dockerHostRef = instanceName.describe('Name of an entry of `docker_hosts`. Default: `default`.');

const etcdMember = z
  .object({
    name: instanceName.describe('Member name (etcd `--name`), unique in the cluster, e.g. `etcd-01`.'),
    host: hostName.describe('Host name or IP address the other members and clients reach this member at.'),
    client_port: port.default(DEFAULTS.etcdClientPort).describe('Client port. Default 2379.'),
    peer_port: port.default(DEFAULTS.etcdPeerPort).describe('Peer port. Default 2380.'),
    docker_host: dockerHostRef.optional(),
    data_volume: dataVolume.optional().describe('Docker volume of the data dir. Default `<cluster>-<member>-data`.'),
  })
  .strict();

const node = z
  .object({
    node_id: z
      .string()
      .regex(/^[a-z0-9-]+$/, { error: 'must be lowercase letters, digits and "-"' })
      .startsWith(NODE_ID_PREFIX, { error: `must start with "${NODE_ID_PREFIX}"` })
      .max(63, { error: 'must be at most 63 characters' })
      .describe('SeaTable node id, e.g. `dtable-server-01`; also the instance name.'),
    node_url: httpUrl.describe('URL browsers use to reach this node (SeaTable `node_url`).'),
    local_node_url: httpUrl.describe('URL the proxy uses to reach this node (SeaTable `local_node_url`).'),
    host: hostName.optional().describe('Address of the node. Default: the host of `local_node_url`.'),
    port: port.default(DEFAULTS.nodePort).describe('Port the node process listens on. Default 5000.'),
    weight: z.number().min(0).max(1000).default(1).describe('Share of buckets relative to other nodes; 0 = drained. Default 1.'),
    docker_host: dockerHostRef.optional(),
    image: image.optional().describe('Image override, e.g. a SeaTable image. Default: `runtime_image`.'),
    data_volume: dataVolume.optional().describe('Docker volume of the data dir. Default `<cluster>-<node_id>-data`.'),
  })
  .strict();

const proxy = z
  .object({
    name: instanceName.default(DEFAULTS.proxyName).describe('Instance name. Default `dtable-server-proxy`.'),
    host: hostName.describe('Host name or IP address internal services reach the proxy at.'),
    port: port.default(DEFAULTS.proxyPort).describe('Routing port. Default 5550.'),
    admin_port: port.default(DEFAULTS.proxyAdminPort).describe('Admin port (`/rebalance/`, `/assignment`, `/metrics`). Default 5555.'),
    time_zone: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/, { error: 'must be a time zone name like "Europe/Berlin"' })
      .default(DEFAULTS.timeZone)
      .describe('TIME_ZONE of the proxy container. Default `Etc/UTC`.'),
    image: image.optional().describe('Proxy image (docker-compose and Docker stacks). Default: `runtime_image`.'),
    docker_host: dockerHostRef.optional(),
    retry_deadline_ms: z.number().int().min(0).max(600000).default(DEFAULTS.retryDeadlineMs).describe('How long a request for a moving bucket is retried. Default 10000.'),
  })
  .strict();

const monitor = z
  .object({
    replicas: z.number().int().min(1).max(9).default(DEFAULTS.monitorReplicas).describe('Monitor processes (one leader, the rest standby). Default 1.'),
    debounce_ms: z.number().int().min(0).max(600000).default(DEFAULTS.debounceMs).describe('Wait after a membership change before reassigning. Default 1000.'),
    reconcile_interval_ms: z.number().int().min(100).max(3600000).default(DEFAULTS.reconcileIntervalMs).describe('Periodic full check. Default 10000.'),
    election_ttl: z.number().int().min(2).max(3600).default(DEFAULTS.electionTtl).describe('Leader election lease TTL, seconds. Default 10.'),
    rebalance_move_budget: z.number().int().min(0).max(256).default(DEFAULTS.rebalanceMoveBudget).describe('Most buckets a load-aware rebalance moves. Default 32.'),
    metrics_port: port.default(DEFAULTS.metricsPort).describe('Metrics port of the first replica; replica N uses metrics_port + N - 1. Default 9105.'),
    host: hostName.optional().describe('Address of the monitors. Default: the proxy host.'),
    docker_host: dockerHostRef.optional(),
  })
  .strict();

const web = z
  .object({
    host: hostName.optional().describe('Address of the web lookup role. Default: the proxy host.'),
    port: port.default(DEFAULTS.webPort).describe('Port. Default 8000.'),
    url: httpUrl.optional().describe('Public URL. Default `http://<host>:<port>/`.'),
    docker_host: dockerHostRef.optional(),
    data_volume: dataVolume.optional().describe('Docker volume of the data dir. Default `<cluster>-web-data`.'),
  })
  .strict();

const portSlot = z.string().describe('`<instance>.<role>`, e.g. `etcd-01.client`, `dtable-server-01.http`.');

const local = z
  .object({
    base_port: port
      .max(65000, { error: 'must be at most 65000 (ports are allocated upwards from it)' })
      .default(DEFAULTS.localBasePort)
      .describe('First port of the local launcher; ports are allocated upwards from it. Default 17000.'),
    run_dir: z
      .string()
      .min(1)
      .regex(/^[^\0\n\r]+$/, { error: 'must be a path on one line' })
      .optional()
      .describe('Logs, data and rendered files, relative to the folder of cluster.yaml. Default `.run/<name>`.'),
    ports: z.record(portSlot, port).default({}).describe('Explicit ports by slot; other slots are allocated from base_port.'),
  })
  .strict();

const etcdTls = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .describe(
        'Client and peer TLS with client-certificate auth, and a role per component (docs/security.md). The local launcher generates the certificates in the run dir. Default false.',
      ),
  })
  .strict()
  .describe('etcd TLS and access control.');

// Where bases live (docs/cluster-yaml.md, storage). Bases move between nodes with their buckets, so every
// node must reach the same storage: a folder only works when all nodes share one host.
const sqlIdentifier = z
  .string()
  .regex(/^[A-Za-z0-9_]{1,64}$/, { error: 'must be 1 to 64 letters, digits or "_"' });

const filesystemStorage = z
  .object({
    kind: z.literal('filesystem').describe('Bases in a folder every node shares: one host only (the local launcher, a single Docker host).'),
  })
  .strict();

const mariadbStorage = z
  .object({
    kind: z.literal('mariadb').describe('Bases in MariaDB (snapshots and an operation log per base, fenced by owner token): nodes on any host.'),
    host: hostName.describe('Host name or IP address every node reaches MariaDB at.'),
    port: port.default(DEFAULTS.mariadbPort).describe('MariaDB port. Default 3306.'),
    database: sqlIdentifier.default(DEFAULTS.mariadbDatabase).describe('Database; the nodes create and migrate its tables. Default `dtable_bases`.'),
    user: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,80}$/, { error: 'must be letters, digits, "_", "." and "-" (at most 80)' })
      .default(DEFAULTS.mariadbUser)
      .describe('MariaDB user of the nodes. Default `dtable`.'),
    password_env: envName
      .default(DEFAULTS.mariadbPasswordEnv)
      .describe('Environment variable holding the MariaDB password (never the password itself). Default DTABLE_STORAGE_PASSWORD.'),
    docker_host: dockerHostRef
      .optional()
      .describe('Run MariaDB as a container on this entry of `docker_hosts` (Docker stacks). Omit to use an external server you run (and replicate) yourself.'),
    image: image.default(DEFAULTS.mariadbImage).describe('MariaDB image of that container. Default `mariadb:10.11`.'),
    data_volume: dataVolume.optional().describe('Docker volume of the MariaDB datadir. Default `<cluster>-mariadb-data`.'),
    pool_size: z.number().int().min(1).max(100).default(DEFAULTS.mariadbPoolSize).describe('Connections per node. Default 4.'),
    snapshot_every: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(DEFAULTS.snapshotEvery)
      .describe('Operations between two snapshots of a base. Default 1000.'),
  })
  .strict();

const storage = z
  .discriminatedUnion('kind', [filesystemStorage, mariadbStorage], {
    error: 'must be "filesystem" or "mariadb"',
  })
  .describe('Where bases live. Default `{kind: filesystem}`: one host only.');
/** Smallest accepted `etcd.quota_backend_bytes` (8 MiB): below it etcd's own bookkeeping raises NOSPACE. */
export const MIN_QUOTA_BACKEND_BYTES = 8 * 1024 ** 2;
/** Largest accepted `etcd.quota_backend_bytes`: etcd's documented maximum (8 GiB, docs/op-guide/maintenance.md). */
export const MAX_QUOTA_BACKEND_BYTES = 8 * 1024 ** 3;

/** A Go duration of etcd's periodic compactor, e.g. `5m`, `1h`, `1h30m`; a bare number means hours. */
const GO_DURATION = /^(\d+(\.\d+)?|(\d+(\.\d+)?(h|m|s))+)$/;

const etcdCompaction = z
  .object({
    mode: z
      .enum(['periodic', 'revision'], { error: 'must be "periodic" or "revision"' })
      .default(DEFAULTS.compactionMode)
      .describe('etcd `auto-compaction-mode`: `periodic` keeps a time window of history, `revision` a number of revisions. Default `periodic`.'),
    retention: z
      .string()
      .optional()
      .describe('etcd `auto-compaction-retention`: a duration like `5m` or `1h` (periodic), a revision count like `10000` (revision). Default `5m` (periodic), `10000` (revision).'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.retention === undefined) return;
    if (c.mode === 'periodic') {
      if (!GO_DURATION.test(c.retention)) {
        ctx.addIssue({ code: 'custom', path: ['retention'], message: 'must be a duration like "5m", "1h" or "1h30m" for mode periodic' });
      } else if (durationSeconds(c.retention) < 60) {
        ctx.addIssue({ code: 'custom', path: ['retention'], message: 'must be at least 1m: watchers that reconnect need some history' });
      }
    } else if (!/^[1-9]\d{0,11}$/.test(c.retention)) {
      ctx.addIssue({ code: 'custom', path: ['retention'], message: 'must be a whole number of revisions (at least 1) for mode revision' });
    }
  })
  .describe('Automatic compaction of the key history (etcd `auto-compaction-*`).');

/** Seconds of a Go duration accepted by GO_DURATION (a bare number is hours, as etcd reads it). */
export function durationSeconds(text: string): number {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 3600;
  const unit = { h: 3600, m: 60, s: 1 } as const;
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)([hms])/g)) total += Number(m[1]) * unit[m[2] as keyof typeof unit];
  return total;
}

const etcdAutoDefrag = z
  .object({
    enabled: z.boolean().default(true).describe('The monitor leader defragments members whose database is mostly free space. Default true.'),
    in_use_below: z
      .number()
      .gt(0, { error: 'must be a fraction between 0 and 1' })
      .lt(1, { error: 'must be a fraction between 0 and 1' })
      .default(DEFAULTS.autoDefragBelowInUse)
      .describe('Defragment a member when in-use bytes / database size falls below this. Default 0.5.'),
    min_db_size_bytes: z
      .number()
      .int()
      .min(0)
      .default(DEFAULTS.autoDefragMinDbBytes)
      .describe('...and its database is at least this large (smaller files are not worth a pause). Default 67108864 (64 MiB).'),
    check_interval_seconds: z
      .number()
      .int()
      .min(5)
      .max(86400)
      .default(DEFAULTS.autoDefragCheckIntervalSeconds)
      .describe('How often the monitor leader checks the members. Default 600.'),
  })
  .strict()
  .describe('Automatic defragmentation by the monitor leader (one member at a time, followers first).');

/**
 * A Prometheus duration (https://prometheus.io/docs/prometheus/latest/configuration/configuration/#duration):
 * units y, w, d, h, m, s, ms in that order, e.g. `30s`, `1m`, `1h30m`; `0s` for no delay.
 */
const PROMETHEUS_DURATION = /^(?=\d)(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$/;
const promDuration = (what: string, fallback: string) =>
  z
    .string()
    .regex(PROMETHEUS_DURATION, { error: 'must be a Prometheus duration like "30s", "1m" or "1h30m"' })
    .default(fallback)
    .describe(`${what} Default \`${fallback}\`.`);

type AlertName = keyof typeof DEFAULTS.alertFor;
const ALERT_FOR_HELP: Record<AlertName, string> = {
  node_down: 'DtableNodeDown: a node\'s /metrics does not answer.',
  component_down: 'DtableComponentDown: an etcd member, monitor, proxy or web role does not answer.',
  buckets_unassigned: 'DtableBucketsUnassigned: buckets with no live node assigned.',
  no_monitor_leader: 'DtableNoMonitorLeader: no monitor replica leads.',
  routing_stale: 'DtableProxyRoutingStale: the proxy cannot confirm its routing table.',
  node_lease_churn: 'DtableNodeLeaseChurn: a node lost its registration repeatedly.',
  etcd_no_leader: 'DtableEtcdNoLeader: an etcd member has no leader.',
  etcd_leader_churn: 'DtableEtcdLeaderChurn: etcd changed its leader 4 or more times in 15 minutes.',
  etcd_alarm: 'DtableEtcdAlarm: an etcd alarm (NOSPACE, CORRUPT) is raised.',
  etcd_db_near_quota: 'DtableEtcdDbNearQuota: an etcd database is close to quota-backend-bytes.',
};
const alertFor = z
  .object(
    Object.fromEntries(
      (Object.keys(DEFAULTS.alertFor) as AlertName[]).map((k) => [k, promDuration(ALERT_FOR_HELP[k], DEFAULTS.alertFor[k])]),
    ) as Record<AlertName, ReturnType<typeof promDuration>>,
  )
  .strict()
  .describe('`for:` of each alert rule: how long its condition must hold before the alert fires.');

const prometheus = z
  .object({
    scrape_interval: promDuration('How often Prometheus scrapes every process.', DEFAULTS.scrapeInterval),
    evaluation_interval: promDuration('How often Prometheus evaluates the alert rules.', DEFAULTS.evaluationInterval),
    etcd_db_quota_ratio: z
      .number()
      .gt(0, { error: 'must be a fraction between 0 and 1' })
      .lt(1, { error: 'must be a fraction between 0 and 1' })
      .default(DEFAULTS.etcdDbQuotaRatio)
      .describe('DtableEtcdDbNearQuota fires above this fraction of quota-backend-bytes. Default 0.8.'),
    lease_churn: z
      .object({
        window: promDuration('Window over which a node\'s lost registrations are counted.', DEFAULTS.leaseChurnWindow),
        departures: z
          .number()
          .int()
          .min(1)
          .max(1000)
          .default(DEFAULTS.leaseChurnDepartures)
          .describe('DtableNodeLeaseChurn fires when a node lost its registration this many times within the window. Default 3.'),
      })
      .strict()
      .default(() => ({ window: DEFAULTS.leaseChurnWindow, departures: DEFAULTS.leaseChurnDepartures })),
    alert_for: alertFor.default(() => alertFor.parse({})),
    deploy: z
      .object({
        docker_host: dockerHostRef,
        host: hostName.optional().describe('Address of the Prometheus host (its published port). Default: the proxy host.'),
        port: port.default(DEFAULTS.prometheusPort).describe('Web and API port, published on the Docker host. Default 9090.'),
        image: image.default(DEFAULTS.prometheusImage).describe(`Prometheus image. Default \`${DEFAULTS.prometheusImage}\`.`),
        data_volume: dataVolume.optional().describe('Docker volume of the time series database. Default `<name>-prometheus-data`.'),
      })
      .strict()
      .optional()
      .describe('A Prometheus container in the Docker stacks (`synth`), running the rendered files. Default: none (use your own Prometheus).'),
  })
  .strict()
  .describe('The rendered Prometheus scrape config and alert rules (`prometheus/` of `render`, docs/observability.md).');

const secrets = z
  .object({
    private_key_env: envName.default(DEFAULTS.privateKeyEnv).describe('Environment variable holding the HS256 key for base access tokens. Default DTABLE_PRIVATE_KEY.'),
    admin_token_env: envName.default(DEFAULTS.adminTokenEnv).describe('Environment variable holding the admin token. Default DTABLE_ADMIN_TOKEN.'),
  })
  .strict();

export const clusterFileSchema = z
  .object({
    name: instanceName.describe('Cluster name; prefixes container and volume names.'),
    key_prefix: z
      .string()
      .regex(/^[A-Za-z0-9_./-]*$/, { error: 'must be letters, digits, "_", ".", "/" and "-" only' })
      .default(DEFAULTS.keyPrefix)
      .describe('Prefix of every etcd key. Default "" (SeaTable-compatible).'),
    lease_ttl: z
      .number()
      .int({ error: 'must be a whole number of seconds' })
      .min(MIN_LEASE_TTL, {
        error: `must be at least ${MIN_LEASE_TTL} seconds (below etcd's minimum lease plus a keepalive round and fencing margin)`,
      })
      .max(3600, { error: 'must be at most 3600 seconds' })
      .default(DEFAULTS.leaseTtl)
      .describe('Node registration lease TTL, seconds. Default 90.'),
    secrets: secrets.default({ private_key_env: DEFAULTS.privateKeyEnv, admin_token_env: DEFAULTS.adminTokenEnv }),
    docker_hosts: z
      .record(instanceName, dockerHostUrl)
      .default({ [DEFAULTS.dockerHostName]: DEFAULTS.dockerHostUrl })
      .describe('Docker engines by name. Default `{default: unix:///var/run/docker.sock}`.'),
    runtime_image: image.default(DEFAULTS.runtimeImage).describe('Image the monitor, proxy, node and web roles run from.'),
    etcd: z
      .object({
        image: image.default(DEFAULTS.etcdImage).describe('etcd image (docker target).'),
        cluster_token: z
          .string()
          .regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: 'must be letters, digits, "_", "." and "-"' })
          .optional()
          .describe('etcd initial-cluster-token. Default `<name>-etcd`.'),
        max_txn_ops: z
          .number()
          .int()
          .min(MIN_MAX_TXN_OPS, { error: `must be at least ${MIN_MAX_TXN_OPS} so the 256 assign keys fit one transaction` })
          .max(100000)
          .default(DEFAULTS.maxTxnOps)
          .describe('etcd --max-txn-ops. Default 1024.'),
        compaction: etcdCompaction.default(() => etcdCompaction.parse({})),
        quota_backend_bytes: z
          .number()
          .int({ error: 'must be a whole number of bytes' })
          .min(MIN_QUOTA_BACKEND_BYTES, { error: `must be at least ${MIN_QUOTA_BACKEND_BYTES} (8 MiB)` })
          .max(MAX_QUOTA_BACKEND_BYTES, { error: `must be at most ${MAX_QUOTA_BACKEND_BYTES} (8 GiB, etcd's documented maximum)` })
          .default(DEFAULTS.quotaBackendBytes)
          .describe('etcd `quota-backend-bytes`: above it etcd raises the NOSPACE alarm and refuses writes. Default 2147483648 (2 GiB).'),
        auto_defrag: etcdAutoDefrag.default(() => etcdAutoDefrag.parse({})),
        members: z.array(etcdMember).min(1, { error: 'needs at least one member' }),
        tls: etcdTls.default({ enabled: false }),
      })
      .strict(),
    storage: storage.default({ kind: DEFAULTS.storageKind }),
    nodes: z.array(node).min(1, { error: 'needs at least one dtable-server node' }),
    proxy,
    monitor: monitor.default(() => monitor.parse({})),
    web: web.default(() => web.parse({})),
    local: local.default(() => local.parse({})),
    prometheus: prometheus.default(() => prometheus.parse({})),
  })
  .strict();

/** cluster.yaml as written (before defaults). */
export type ClusterFileInput = z.input<typeof clusterFileSchema>;
/** cluster.yaml with zod defaults applied; instance-relative defaults are filled by resolvePlan. */
export type ClusterModel = z.output<typeof clusterFileSchema>;
export type EtcdMemberModel = ClusterModel['etcd']['members'][number];
export type NodeModel = ClusterModel['nodes'][number];
export type StorageModel = ClusterModel['storage'];
