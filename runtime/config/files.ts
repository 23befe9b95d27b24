// The rendered config file of each runtime process: the contract between infra/ (which renders
// them from templates/) and runtime/ (whose entry files read them). One schema per file; the
// process refuses to start on a file that does not match, naming the path of the bad field.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port');
const listen = z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65535) }).strict();

/** Settings every process that talks to etcd shares. */
const etcdClient = z
  .object({
    /** Key prefix (cluster.yaml `key_prefix`), "" for SeaTable compatibility. */
    key_prefix: z.string().default(''),
    /** Optional TLS (issue 8); file paths of PEM files. */
    tls: z
      .object({ ca_file: z.string(), cert_file: z.string(), key_file: z.string() })
      .strict()
      .optional(),
  })
  .strict();

const envVarName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected the name of an environment variable');

/**
 * Where a node keeps bases (cluster.yaml `storage`, docs/cluster-yaml.md, storage). `filesystem`: the
 * folder `storage_dir`, which every node must share (one host). `mariadb`: a MariaDB server every
 * node reaches; the password is read from the environment variable `password_env`, never from
 * this file.
 */
export const nodeStorageSchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('filesystem') }).strict(),
    z
      .object({
        kind: z.literal('mariadb'),
        host: z.string().min(1),
        port: z.number().int().min(1).max(65535).default(3306),
        database: z.string().regex(/^[A-Za-z0-9_]{1,64}$/, 'expected a database name (letters, digits, "_")'),
        user: z.string().min(1).max(80),
        password_env: envVarName,
        /** Connections per node. */
        pool_size: z.number().int().min(1).max(100).default(4),
        /** Operations between two snapshots of a base. */
        snapshot_every: z.number().int().min(1).default(1000),
      })
      .strict(),
  ])
  .default({ kind: 'filesystem' });
export type NodeStorageConfig = z.infer<typeof nodeStorageSchema>;

/**
 * `dtable_server_config.json` of a node. `cluster_config` is exactly SeaTable's block; our node
 * settings sit beside it under `dtable_cluster` so a SeaTable dtable-server can read the same file.
 */
export const nodeConfigSchema = z
  .object({
    cluster_config: z
      .object({
        etcd_host_list: z.array(hostPort).min(1),
        node_id: z.string().startsWith('dtable-server-'),
        node_url: z.string().url(),
        local_node_url: z.string().url(),
      })
      .strict(),
    dtable_cluster: etcdClient
      .extend({
        listen,
        /** Registration lease TTL in seconds (cluster.yaml `lease_ttl`). */
        lease_ttl: z.number().int().min(2),
        weight: z.number().min(0).default(1),
        /** Where bases, the saved lease id and logs live. */
        data_dir: z.string().min(1),
        /**
         * Filesystem base storage (`storage.kind` filesystem), shared by every node (bases move
         * between nodes with their buckets): snapshots and per-owner logs, see docs/node.md.
         * Default `<data_dir>/bases`; a local run must render a shared path here.
         */
        storage_dir: z.string().min(1).optional(),
        storage: nodeStorageSchema,
        /** Environment variable holding the HS256 key for base access tokens. */
        private_key_env: z.string().default('DTABLE_PRIVATE_KEY'),
        /** Unload a base after this many seconds without use. */
        idle_unload_seconds: z.number().int().min(1).default(300),
        max_body_bytes: z.number().int().min(1024).default(10 * 1024 * 1024),
      })
      .strict(),
  })
  .strict();
export type NodeConfig = z.infer<typeof nodeConfigSchema>;

/** The proxy's `dtable_server_config.json`: SeaTable's `cluster_config{etcd_host_list}` plus ours. */
export const proxyConfigSchema = z
  .object({
    cluster_config: z.object({ etcd_host_list: z.array(hostPort).min(1) }).strict(),
    dtable_cluster: etcdClient
      .extend({
        listen,
        admin_listen: listen,
        /** How long a request for a moving or dead bucket is retried before answering 503. */
        retry_deadline_ms: z.number().int().min(0).default(10000),
        admin_token_env: z.string().default('DTABLE_ADMIN_TOKEN'),
      })
      .strict(),
  })
  .strict();
export type ProxyConfig = z.infer<typeof proxyConfigSchema>;

/** `monitor.json` of one monitor replica. */
export const monitorConfigSchema = z
  .object({
    etcd_host_list: z.array(hostPort).min(1),
    key_prefix: z.string().default(''),
    tls: etcdClient.shape.tls,
    /** Unique per replica, e.g. `monitor-1`. */
    monitor_id: z.string().min(1),
    /** Node registration lease TTL (seconds) the cluster runs with. */
    lease_ttl: z.number().int().min(2),
    /** Election lease TTL in seconds. */
    election_ttl: z.number().int().min(2).default(10),
    debounce_ms: z.number().int().min(0).default(1000),
    reconcile_interval_ms: z.number().int().min(100).default(10000),
    /** Maximum buckets a load-aware rebalance may move. */
    rebalance_move_budget: z.number().int().min(0).default(32),
    /** etcd's --max-txn-ops; assignment writes are chunked under it (256 + 1 fits in one atomic txn at >= 257). */
    etcd_max_txn_ops: z.number().int().min(2).default(128),
    /** Member names, in the order of etcd_host_list (metrics labels); default `etcd-<host:port>`. */
    etcd_member_names: z.array(z.string().min(1)).optional(),
    /** etcd's quota-backend-bytes as rendered (a metric, for alerting on the fill level). */
    etcd_quota_backend_bytes: z.number().int().min(0).optional(),
    /** Automatic defragmentation by the leader (cluster.yaml etcd.auto_defrag). */
    auto_defrag: z
      .object({
        enabled: z.boolean(),
        in_use_below: z.number().gt(0).lt(1),
        min_db_size_bytes: z.number().int().min(0),
        check_interval_seconds: z.number().int().min(1),
      })
      .strict()
      .optional(),
    /** Prometheus metrics. */
    metrics_listen: listen,
  })
  .strict();
export type MonitorConfig = z.infer<typeof monitorConfigSchema>;

/** `web.json` of the dtable-web lookup role. */
export const webConfigSchema = z
  .object({
    etcd_host_list: z.array(hostPort).min(1),
    key_prefix: z.string().default(''),
    tls: etcdClient.shape.tls,
    listen,
    /** Public URL of the web role. */
    url: z.string().url(),
    /** The proxy URL internal services use (DTABLE_PROXY_SERVER_URL). */
    proxy_url: z.string().url(),
    data_dir: z.string().min(1),
    private_key_env: z.string().default('DTABLE_PRIVATE_KEY'),
    admin_token_env: z.string().default('DTABLE_ADMIN_TOKEN'),
    /** Lifetime of issued base access tokens, seconds. */
    access_token_ttl: z.number().int().min(60).default(3 * 24 * 3600),
  })
  .strict();
export type WebConfig = z.infer<typeof webConfigSchema>;

/** A rendered config file that does not match its schema. */
export class ConfigFileError extends Error {
  override name = 'ConfigFileError';
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: invalid config\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export function readConfigFile<S extends z.ZodType>(schema: S, file: string): z.infer<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigFileError(file, [(err as Error).message]);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigFileError(
      file,
      parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
    );
  }
  return parsed.data;
}
