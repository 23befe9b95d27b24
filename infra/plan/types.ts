// The resolved plan: cluster.yaml with every default filled in, one record per component
// instance, for one target. Both backends (CDKTF stacks, local launcher) and the renderers
// consume only this; none of them reads cluster.yaml.

export type Target = 'docker' | 'local';

export type ComponentKind = 'etcd' | 'node' | 'proxy' | 'monitor' | 'web';

interface InstanceBase {
  /** Unique instance name across the plan; also the folder of its rendered files. */
  readonly name: string;
  /** Docker host name from cluster.yaml (`docker_hosts`); "local" for the local target. */
  readonly dockerHost: string;
  /** Address the process binds to (0.0.0.0 in containers, 127.0.0.1 locally). */
  readonly listenHost: string;
  /** Where the instance keeps data: a directory under the run dir (local) or inside the container (docker). */
  readonly dataDir: string;
  /** Docker volume name for dataDir (docker target); empty for local, and for the proxy and monitors, which keep no data. */
  readonly dataVolume: string;
}

export interface EtcdMemberPlan extends InstanceBase {
  readonly kind: 'etcd';
  /** Host others reach this member at (as written for docker, 127.0.0.x for local). */
  readonly host: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly clientUrl: string;
  readonly peerUrl: string;
  /** Plain-http `/health` and `/metrics` (etcd `listen-metrics-urls`), with TLS only; null without. */
  readonly metricsPort: number | null;
}

/** PEM files of one TLS identity, as the runtime configs name them. */
export interface TlsFiles {
  readonly ca_file: string;
  readonly cert_file: string;
  readonly key_file: string;
}

/** etcd TLS (cluster.yaml `etcd.tls`): where every certificate is read from. */
export interface EtcdTlsPlan {
  /** local: `<runDir>/tls`, where `up` generates them; docker: the certificate folder in the containers. */
  readonly dir: string;
  /** Server and peer certificate of each member, by member name. */
  readonly members: Readonly<Record<string, TlsFiles>>;
  /** Client certificate of each etcd user (CN = user name): root, each node id, monitor, proxy, web. */
  readonly clients: Readonly<Record<string, TlsFiles>>;
}

/** cluster.yaml `etcd.auto_defrag`. */
export interface EtcdAutoDefragPlan {
  readonly enabled: boolean;
  /** Defragment when in-use bytes / database size is below this fraction... */
  readonly inUseBelow: number;
  /** ...and the database is at least this many bytes. */
  readonly minDbSizeBytes: number;
  readonly checkIntervalSeconds: number;
}

export interface NodePlan extends InstanceBase {
  readonly kind: 'node';
  readonly nodeId: string;
  /** URL browsers use (SeaTable `node_url`). */
  readonly nodeUrl: string;
  /** URL the proxy uses (SeaTable `local_node_url`). */
  readonly localNodeUrl: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  /** Image override for this node (e.g. a SeaTable image); null = the runtime image. */
  readonly image: string | null;
  /**
   * Filesystem base storage (plan.storage.kind filesystem), shared by every node because bases
   * move with their buckets: one folder of the run dir (local) or the shared volume's mount
   * point (docker). Empty with MariaDB storage.
   */
  readonly storageDir: string;
}

/** The MariaDB server this package runs: a container on a docker host, or `up`'s local server. */
export interface MariadbServerPlan {
  readonly name: string;
  readonly dockerHost: string;
  /** Address mariadbd binds to (0.0.0.0 in the container, 127.0.0.1 locally). */
  readonly listenHost: string;
  readonly port: number;
  /** The datadir: in the container (docker) or `<runDir>/data/mariadb` (local). */
  readonly dataDir: string;
  /** Docker volume of the datadir (docker target); empty for local. */
  readonly dataVolume: string;
  readonly image: string;
}

/** Where bases live (cluster.yaml `storage`, docs/cluster-yaml.md, storage). */
export type StoragePlan =
  | { readonly kind: 'filesystem' }
  | {
      readonly kind: 'mariadb';
      /** Where nodes connect: as written (docker), 127.0.0.1 and the local port (local). */
      readonly host: string;
      readonly port: number;
      readonly database: string;
      readonly user: string;
      /** Name of the environment variable holding the password; its value never appears in a plan. */
      readonly passwordEnv: string;
      readonly poolSize: number;
      readonly snapshotEvery: number;
      /** null: an external server the operator runs (docker target without storage.docker_host). */
      readonly server: MariadbServerPlan | null;
    };

export interface ProxyPlan extends InstanceBase {
  readonly kind: 'proxy';
  readonly host: string;
  readonly port: number;
  readonly adminPort: number;
  readonly timeZone: string;
  /** Image of the proxy container (docker-compose and CDKTF); null = the runtime image. */
  readonly image: string | null;
  /** `http://host:port/`, what dtable-web and dtable-db are given. */
  readonly url: string;
  readonly adminUrl: string;
  readonly retryDeadlineMs: number;
}

export interface MonitorPlan extends InstanceBase {
  readonly kind: 'monitor';
  /** `monitor-1`, `monitor-2`, ... */
  readonly monitorId: string;
  readonly host: string;
  readonly debounceMs: number;
  readonly reconcileIntervalMs: number;
  readonly electionTtl: number;
  readonly rebalanceMoveBudget: number;
  /** Prometheus metrics port. */
  readonly metricsPort: number;
}

export interface WebPlan extends InstanceBase {
  readonly kind: 'web';
  readonly host: string;
  readonly port: number;
  readonly url: string;
}

/** cluster.yaml `prometheus`: what the rendered scrape config and alert rules use. */
export interface PrometheusPlan {
  /** Prometheus durations (`15s`, `1m`). */
  readonly scrapeInterval: string;
  readonly evaluationInterval: string;
  readonly etcdDbQuotaRatio: number;
  readonly leaseChurn: { readonly window: string; readonly departures: number };
  /** `for:` of each alert rule, by the snake_case key of cluster.yaml `prometheus.alert_for`. */
  readonly alertFor: Readonly<Record<string, string>>;
  /** The Prometheus container of `prometheus.deploy` (docker target); null: none (and always for local). */
  readonly server: PrometheusServerPlan | null;
}

export interface PrometheusServerPlan {
  readonly name: string;
  readonly dockerHost: string;
  readonly host: string;
  readonly port: number;
  readonly image: string;
  /** Docker volume of the time series database, mounted at dataDir. */
  readonly dataVolume: string;
  readonly dataDir: string;
}

export interface Plan {
  readonly target: Target;
  readonly name: string;
  readonly keyPrefix: string;
  /** Node registration lease TTL in seconds. */
  readonly leaseTtl: number;
  /** Names of environment variables holding secrets; values never appear in a plan. */
  readonly secrets: { readonly privateKeyEnv: string; readonly adminTokenEnv: string };
  /** docker: `docker_hosts` from cluster.yaml; local: a single `local` entry. */
  readonly dockerHosts: ReadonlyArray<{ readonly name: string; readonly url: string }>;
  /** Image every runtime role runs from (built from the repo's Dockerfile for docker). */
  readonly runtimeImage: string;
  /** local: absolute run dir (logs, data, rendered files); docker: "". */
  readonly runDir: string;
  readonly etcd: {
    readonly image: string;
    readonly clusterToken: string;
    readonly maxTxnOps: number;
    /** etcd `auto-compaction-mode` and `auto-compaction-retention` (retention as etcd reads it). */
    readonly compaction: { readonly mode: 'periodic' | 'revision'; readonly retention: string };
    /** etcd `quota-backend-bytes`. */
    readonly quotaBackendBytes: number;
    /** Automatic defragmentation by the monitor leader. */
    readonly autoDefrag: EtcdAutoDefragPlan;
    readonly members: readonly EtcdMemberPlan[];
    /** `host:clientPort` of every member, SeaTable's `etcd_host_list`. */
    readonly hostList: readonly string[];
    /** null = plain http, no access control. */
    readonly tls: EtcdTlsPlan | null;
  };
  readonly storage: StoragePlan;
  readonly nodes: readonly NodePlan[];
  readonly proxy: ProxyPlan;
  readonly monitors: readonly MonitorPlan[];
  readonly web: WebPlan;
  readonly prometheus: PrometheusPlan;
}

export type InstancePlan = EtcdMemberPlan | NodePlan | ProxyPlan | MonitorPlan | WebPlan;

/** One rendered config file. */
export interface RenderedFile {
  /** Path relative to the render output dir: `<instance>/<file name>`. */
  readonly path: string;
  readonly instance: string;
  readonly component: ComponentKind | 'dtable-web' | 'dtable-db' | 'prometheus';
  readonly format: 'json' | 'python' | 'ini' | 'yaml';
  readonly contents: string;
  /**
   * Absolute path at which the consuming process reads it: inside its container for the docker
   * target (the proxy's docker-compose.yml: its path on the proxy's machine); for the local
   * target `<runDir>/conf/<path>`, where `up` writes the rendered files.
   */
  readonly containerPath: string;
}
