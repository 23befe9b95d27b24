// The proxy's in-memory routing table: bucket index → the upstream node to send to, plus one
// keep-alive undici Pool per node origin. Rebuilt (never patched) from a RoutingSnapshot whenever
// the cluster view changes; lookups on the hot path are an array index. Nodes the proxy cannot
// connect to are marked down and probed until they answer, so their buckets get a fast 503
// instead of a hang. The table is stale (docs/proxy.md, Routing staleness) while its source has not confirmed
// it current for staleAfterMs: the proxy keeps routing by it and says so.
import { EventEmitter } from 'node:events';
import { connect } from 'node:net';
import { Pool } from 'undici';
import { BUCKET_COUNT } from '../cluster/buckets.ts';
import type { Log } from '../cluster/etcd/log.ts';
import type { NodeStats, ProxyMetrics } from './metrics.ts';
import { RawPool } from './raw-upstream.ts';

export interface RoutedNode {
  readonly nodeId: string;
  /** The node's `local_node_url` (origin plus an optional path prefix). */
  readonly localNodeUrl: string;
  /** Changes when the node re-registers (new lease): clears a down mark. */
  readonly generation?: string;
}

export interface RoutingSnapshot {
  readonly nodes: readonly RoutedNode[];
  /** 256 entries: node id to route the bucket to (its owner, else its assignee), null when none. */
  readonly targets: ReadonlyArray<string | null>;
  /** etcd revision the snapshot reflects (0 when not from etcd). */
  readonly revision?: number;
}

export interface PoolOptions {
  /** Max sockets per node. */
  connections: number;
  keepAliveTimeoutMs: number;
  /** Max wait for a node's response headers. */
  headersTimeoutMs: number;
  /** Max gap between two body chunks from a node. */
  bodyTimeoutMs: number;
  connectTimeoutMs: number;
}

export const DEFAULT_POOL_OPTIONS: PoolOptions = {
  connections: 256,
  keepAliveTimeoutMs: 30_000,
  headersTimeoutMs: 60_000,
  bodyTimeoutMs: 60_000,
  connectTimeoutMs: 2_000,
};

export class Upstream {
  readonly origin: string;
  /** Path prefix of local_node_url without the trailing slash ("" for a root URL). */
  readonly pathPrefix: string;
  readonly host: string;
  readonly port: number;
  readonly pool: Pool;
  /** Kept-alive sockets of the raw fast path (raw-engine.ts). */
  readonly raw: RawPool;
  down = false;
  downSince = 0;

  constructor(
    readonly nodeId: string,
    readonly localNodeUrl: string,
    readonly generation: string,
    readonly stats: NodeStats,
    opts: PoolOptions,
  ) {
    const u = new URL(localNodeUrl);
    this.origin = u.origin;
    this.pathPrefix = u.pathname.replace(/\/+$/, '');
    this.host = u.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
    this.pool = new Pool(this.origin, {
      connections: opts.connections,
      pipelining: 1,
      keepAliveTimeout: opts.keepAliveTimeoutMs,
      keepAliveMaxTimeout: opts.keepAliveTimeoutMs,
      headersTimeout: opts.headersTimeoutMs,
      bodyTimeout: opts.bodyTimeoutMs,
      connect: { timeout: opts.connectTimeoutMs, noDelay: true },
    });
    this.raw = new RawPool(this.host, this.port, u.protocol === 'https:', {
      connectTimeoutMs: opts.connectTimeoutMs,
      responseTimeoutMs: Math.max(opts.headersTimeoutMs, opts.bodyTimeoutMs),
      keepAliveMs: opts.keepAliveTimeoutMs,
    });
  }

  /** Closes both pools (requests in flight finish first). */
  close(): Promise<void> {
    this.raw.close();
    return this.pool.close().catch(() => undefined);
  }
}

export interface RouteTableOptions {
  metrics: ProxyMetrics;
  log: Log;
  pool?: Partial<PoolOptions>;
  /** How often a down node is probed with a TCP connect. */
  probeIntervalMs?: number;
  /**
   * Epoch ms up to which the table's source (the cluster view) is known current, e.g.
   * ClusterView.confirmedAt. Without it the table is never stale.
   */
  confirmedAt?: () => number;
  /** The table is stale when its source confirmed nothing for this long, ms; default 3000. */
  staleAfterMs?: number;
}

export class RouteTable extends EventEmitter {
  private targets: Array<Upstream | null> = new Array(BUCKET_COUNT).fill(null);
  private readonly upstreams = new Map<string, Upstream>();
  private live: Upstream[] = [];
  private rr = 0;
  private changedAt = Date.now();
  private rev = 0;
  private waiters = new Set<() => void>();
  private probeTimer: NodeJS.Timeout | null = null;
  private readonly poolOpts: PoolOptions;
  private readonly probeIntervalMs: number;
  private closed = false;
  private readonly staleAfterMs: number;
  private staleTimer: NodeJS.Timeout | null = null;
  private wasStale = false;

  constructor(private readonly opts: RouteTableOptions) {
    super();
    this.poolOpts = { ...DEFAULT_POOL_OPTIONS, ...opts.pool };
    this.probeIntervalMs = opts.probeIntervalMs ?? 250;
    this.staleAfterMs = opts.staleAfterMs ?? 3000;
    const self = this;
    opts.metrics.table = {
      ageMs: () => Date.now() - self.changedAt,
      revision: () => self.rev,
      liveNodes: () => self.live.filter((u) => !u.down).length,
      downNodes: () => self.live.filter((u) => u.down).length,
      stale: () => self.isStale(),
    };
    if (opts.confirmedAt) {
      // Only to log the transitions; isStale() itself is computed when asked.
      this.staleTimer = setInterval(() => this.logStaleness(), 500);
      this.staleTimer.unref();
    }
  }

  /**
   * True while the source has not confirmed the table current within staleAfterMs (no etcd
   * contact or watch progress); routing goes on with the table as it is.
   */
  isStale(now = Date.now()): boolean {
    return this.opts.confirmedAt ? now - this.opts.confirmedAt() > this.staleAfterMs : false;
  }

  /** ms since the source last confirmed the table current (0 without a source). */
  unconfirmedMs(now = Date.now()): number {
    return this.opts.confirmedAt ? Math.max(0, now - this.opts.confirmedAt()) : 0;
  }

  private logStaleness(): void {
    const stale = this.isStale();
    if (stale === this.wasStale) return;
    this.wasStale = stale;
    if (stale) this.opts.log.warn({ unconfirmed_ms: this.unconfirmedMs(), revision: this.rev }, 'routing table may be stale: no confirmation from etcd; routing by the last table');
    else this.opts.log.info({ revision: this.rev }, 'routing table confirmed current again');
  }

  /** Replace the table. Pools of nodes that left are closed after their in-flight requests. */
  update(s: RoutingSnapshot): void {
    if (this.closed) return;
    const seen = new Set<string>();
    for (const n of s.nodes) {
      seen.add(n.nodeId);
      const gen = n.generation ?? '';
      const have = this.upstreams.get(n.nodeId);
      if (have && have.localNodeUrl === n.localNodeUrl) {
        if (have.generation === gen) continue;
        if (have.down) this.opts.log.info({ node_id: n.nodeId }, 'node re-registered: routing to it again');
      }
      if (have) void have.close();
      try {
        this.upstreams.set(n.nodeId, new Upstream(n.nodeId, n.localNodeUrl, gen, this.opts.metrics.node(n.nodeId), this.poolOpts));
      } catch (err) {
        this.opts.log.warn({ node_id: n.nodeId, local_node_url: n.localNodeUrl, err: (err as Error).message }, 'ignoring node with unusable local_node_url');
      }
    }
    for (const [id, u] of this.upstreams) {
      if (seen.has(id)) continue;
      this.upstreams.delete(id);
      void u.close();
    }
    const targets: Array<Upstream | null> = new Array(BUCKET_COUNT).fill(null);
    for (let i = 0; i < BUCKET_COUNT; i++) {
      const id = s.targets[i];
      targets[i] = id ? (this.upstreams.get(id) ?? null) : null;
    }
    this.targets = targets;
    this.live = [...this.upstreams.values()];
    this.rev = s.revision ?? this.rev;
    this.changedAt = Date.now();
    const w = this.waiters;
    this.waiters = new Set();
    for (const wake of w) wake();
    this.emit('change');
  }

  /** The node for bucket `i`, or null when the bucket has no registered owner or assignee. */
  target(i: number): Upstream | null {
    return this.targets[i]!;
  }

  /** Any reachable node, round robin (for requests without a base). */
  any(): Upstream | null {
    const n = this.live.length;
    for (let k = 0; k < n; k++) {
      const u = this.live[(this.rr = (this.rr + 1) % n)]!;
      if (!u.down) return u;
    }
    return null;
  }

  /** Resolves at the next update() or after `ms`, whichever comes first. */
  waitForChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const waiters = this.waiters;
      const timer = setTimeout(done, Math.max(0, ms));
      function done() {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      }
      waiters.add(done);
    });
  }

  markDown(u: Upstream, reason: string): void {
    if (u.down || this.upstreams.get(u.nodeId) !== u) return;
    u.down = true;
    u.downSince = Date.now();
    this.opts.log.warn({ node_id: u.nodeId, origin: u.origin, reason }, 'node unreachable: answering 503 for its buckets');
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    if (this.probeTimer || this.closed) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null;
      const down = this.live.filter((u) => u.down);
      for (const u of down) {
        const sock = connect({ host: u.host, port: u.port });
        sock.setTimeout(this.probeIntervalMs * 4);
        sock.once('connect', () => {
          sock.destroy();
          if (u.down) {
            u.down = false;
            this.opts.log.info({ node_id: u.nodeId, down_ms: Date.now() - u.downSince }, 'node reachable again');
          }
        });
        sock.once('timeout', () => sock.destroy());
        sock.once('error', () => undefined);
      }
      if (down.length > 0) this.scheduleProbe();
    }, this.probeIntervalMs);
    this.probeTimer.unref();
  }

  /** For the admin API: node id → upstream. */
  nodes(): ReadonlyMap<string, Upstream> {
    return this.upstreams;
  }

  revision(): number {
    return this.rev;
  }

  ageMs(): number {
    return Date.now() - this.changedAt;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    if (this.staleTimer) clearInterval(this.staleTimer);
    const w = this.waiters;
    this.waiters = new Set();
    for (const wake of w) wake();
    await Promise.all([...this.upstreams.values()].map((u) => u.close()));
    this.upstreams.clear();
  }
}
