// A reference dtable-server node: wires the etcd adapters (registration, cluster view, bucket
// ownership), the base storage, the REST API and socket.io. The entry file (main.ts) only reads
// the config and handles signals.
import { mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Server as HttpServer } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { connectEtcd, type Etcd3 } from '../cluster/etcd/client.ts';
import { ClusterView } from '../cluster/etcd/cluster-view.ts';
import type { Log } from '../cluster/etcd/log.ts';
import { NodeRegistration } from '../cluster/etcd/registration.ts';
import { keyspace } from '../cluster/keyspace.ts';
import { DEFAULT_LOAD_REPORT_POLICY, shouldPublishLoad, type LoadReportPolicy, type PublishedLoad } from '../cluster/load-report.ts';
import type { NodeConfig } from '../config/files.ts';
import { LoadedBases } from './bases.ts';
import { BucketOwnership } from './bucket-ownership.ts';
import { buildNodeApp } from './http/app.ts';
import { BaseSockets } from './sockets.ts';
import { registerNodeMetrics } from './metrics.ts';
import { Registry } from 'prom-client';
import { baseStorageFor } from './storage/from-config.ts';
import type { BaseStorage } from './storage/storage.ts';

export interface DtableNodeOptions {
  config: NodeConfig;
  privateKey: string;
  log: Log & { child?: (b: object) => Log };
  /** How often the load is measured (and a report considered); default 5000 ms. */
  loadIntervalMs?: number;
  /** Where secrets named by the config are read (the MariaDB password); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** When a measured load is published (runtime/cluster/load-report.ts); default DEFAULT_LOAD_REPORT_POLICY. */
  loadReportPolicy?: LoadReportPolicy;
  /** Where GET /metrics reads from: the process registry in main.ts; default a registry of the node's own families. */
  registry?: Registry;
}

export class DtableNode {
  private client: Etcd3 | null = null;
  private view: ClusterView | null = null;
  private reg: NodeRegistration | null = null;
  private ownership: BucketOwnership | null = null;
  private app: FastifyInstance | null = null;
  private sockets: BaseSockets | null = null;
  private bases: LoadedBases | null = null;
  private storage: BaseStorage | null = null;
  private timers: NodeJS.Timeout[] = [];
  private ready = false;
  private lastLoad: PublishedLoad | null = null;

  constructor(private readonly opts: DtableNodeOptions) {}

  get nodeId(): string {
    return this.opts.config.cluster_config.node_id;
  }

  async start(): Promise<void> {
    const { config, log } = this.opts;
    const cc = config.cluster_config;
    const dc = config.dtable_cluster;
    mkdirSync(dc.data_dir, { recursive: true });
    const storageDir = dc.storage_dir ?? join(dc.data_dir, 'bases');
    const storage = baseStorageFor(dc.storage, storageDir, this.opts.env ?? process.env, log);
    this.storage = storage;
    if (dc.storage.kind === 'filesystem') {
      mkdirSync(storageDir, { recursive: true });
      if (!dc.storage_dir) log.warn({ storage_dir: storageDir }, 'storage_dir not set: bases live below data_dir, which must be storage shared by every node or bases lose their data when buckets move');
    } else {
      // MariaDB may come up after the node: requests answer 503 until it does, nothing crashes.
      await storage.ready?.().catch((err: Error) => log.warn({ err: err.message }, 'base storage not ready yet; retried on first use'));
    }
    const ks = keyspace(dc.key_prefix);

    this.client = connectEtcd({ hostList: cc.etcd_host_list, tls: dc.tls });
    this.view = await ClusterView.open(this.client, ks, { log });
    this.reg = new NodeRegistration(this.client, {
      ks,
      registration: { node_id: cc.node_id, node_url: cc.node_url, local_node_url: cc.local_node_url, weight: dc.weight },
      ttlSeconds: dc.lease_ttl,
      previousLeaseId: this.readLeaseId(),
      log,
    });
    this.reg.on('registered', (id: string) => this.saveLeaseId(id));

    const gateRef: { current: BucketOwnership | null } = { current: null };
    const gate = {
      tokenFor: (b: string) => gateRef.current?.tokenFor(b) ?? null,
      ackGuard: (b: string, t: number) => (gateRef.current ? gateRef.current.ackGuard(b, t) : new Error('not started')),
      ownerInfo: (b: string) => gateRef.current?.ownerInfo(b) ?? null,
    };
    this.bases = new LoadedBases(storage, gate);
    const bases = this.bases;
    const registry = this.opts.registry ?? new Registry();
    registerNodeMetrics(registry, {
      nodeId: cc.node_id,
      bucketsOwned: () => this.ownership?.owned().length ?? 0,
      basesLoaded: () => bases.loadedCount(),
      operations: () => bases.operations,
      socketConnections: () => this.sockets?.count() ?? 0,
      registered: () => this.ready,
    });
    this.app = buildNodeApp({
      nodeId: cc.node_id,
      bases,
      gate,
      privateKey: this.opts.privateKey,
      maxBodyBytes: dc.max_body_bytes,
      ready: () => this.ready,
      lease: () => {
        const leaseId = this.reg?.leaseId;
        const validForMs = Math.floor((this.reg?.validUntil() ?? 0) - Date.now());
        return leaseId && validForMs > 0 ? { lease_id: leaseId, valid_for_ms: validForMs } : null;
      },
      sysInfo: () => ({ sockets: this.sockets?.count() ?? 0, buckets: this.ownership?.owned().length ?? 0 }),
      metrics: () => registry.metrics(),
    });
    await this.app.ready();
    this.sockets = new BaseSockets(this.app.server as HttpServer, { bases, privateKey: this.opts.privateKey, log });
    const sockets = this.sockets;

    this.ownership = new BucketOwnership(this.client, this.view, this.reg, {
      unload: async (b) => {
        await bases.unloadBucket(b);
        sockets.closeBucket(b, 'bucket moved to another node');
      },
      drop: (b) => {
        bases.dropBucket(b);
        sockets.closeBucket(b, 'node lost its lease');
      },
      claim: storage.fenceBucket ? (b, token) => storage.fenceBucket!(b, token) : undefined,
    }, log);
    gateRef.current = this.ownership;

    await this.app.listen({ host: dc.listen.host, port: dc.listen.port });
    await this.reg.start();
    this.ownership.start();
    this.ready = true;

    const every = this.opts.loadIntervalMs ?? 5000;
    let last = Date.now();
    this.timers.push(
      setInterval(() => {
        const now = Date.now();
        void this.publishLoad(now - last).catch((err) => log.warn({ err: (err as Error).message }, 'load report failed'));
        last = now;
      }, every),
      setInterval(() => void bases.unloadIdle(dc.idle_unload_seconds * 1000), Math.min(dc.idle_unload_seconds * 500, 30_000)),
    );
    for (const t of this.timers) t.unref?.();
    log.info({ node_id: cc.node_id, listen: dc.listen, storage: dc.storage.kind === 'filesystem' ? { kind: 'filesystem', dir: storageDir } : { kind: 'mariadb', host: dc.storage.host, port: dc.storage.port, database: dc.storage.database } }, 'node started');
  }

  /** Port actually listened on (tests pass port 0). */
  port(): number {
    const a = this.app?.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  /** Graceful stop: no new writes, flush, release owner keys, revoke the lease. */
  async stop(): Promise<void> {
    const log = this.opts.log;
    this.ready = false;
    for (const t of this.timers) clearInterval(t);
    await this.ownership?.stop();
    await this.bases?.closeAll();
    await this.storage?.close().catch(() => undefined);
    await this.reg?.stop().catch((err) => log.warn({ err: (err as Error).message }, 'lease revoke failed'));
    await this.sockets?.close().catch(() => undefined);
    await this.app?.close().catch(() => undefined);
    await this.view?.close().catch(() => undefined);
    this.client?.close();
    log.info({ node_id: this.nodeId }, 'node stopped');
  }

  /** Measures the load and publishes it when the policy says it is news (each put is a revision). */
  private async publishLoad(elapsedMs: number): Promise<void> {
    const lease = this.reg?.leaseId;
    if (!lease || !this.client || !this.view || !this.bases) return;
    const buckets = this.bases.load(elapsedMs);
    const now = Date.now();
    if (!shouldPublishLoad(this.lastLoad, buckets, now, lease, this.opts.loadReportPolicy ?? DEFAULT_LOAD_REPORT_POLICY)) return;
    const value = { node_id: this.nodeId, updated_at: new Date(now).toISOString(), buckets };
    await this.client.put(this.view.ks.load(this.nodeId)).value(JSON.stringify(value)).lease(lease);
    this.lastLoad = { at: now, leaseId: lease, buckets };
  }

  private leaseFile(): string {
    return join(this.opts.config.dtable_cluster.data_dir, 'lease-id');
  }

  private readLeaseId(): string | null {
    try {
      const id = readFileSync(this.leaseFile(), 'utf8').trim();
      return /^\d+$/.test(id) ? id : null;
    } catch {
      return null;
    }
  }

  private saveLeaseId(id: string): void {
    const tmp = `${this.leaseFile()}.tmp`;
    writeFileSync(tmp, id);
    renameSync(tmp, this.leaseFile());
  }
}
