// Prometheus metrics of the proxy, kept in typed arrays so counting on the hot path allocates
// nothing and hashes no labels: requests by node and status, retries by reason, upstream latency,
// routing table age, assignment propagation. prom-client writes them (with the process's default
// metrics) through collect callbacks that read the arrays at scrape time; bench/metrics.ts
// measures what a prom-client counter would cost per request instead.
import { Registry } from 'prom-client';
import type { AppliedEpoch } from './cluster-routes.ts';
import { registerCollected, type Sample } from '../metrics/registry.ts';

/** Upstream time-to-response-headers histogram bounds, seconds. */
const LATENCY_BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Assignment propagation histogram bounds (the epoch's written_at → routing table applied), seconds. */
const PROPAGATION_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** A Prometheus histogram: counts per upper bound (the last slot is +Inf), sum and count. */
class Histogram {
  private readonly buckets: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.buckets = new Float64Array(bounds.length + 1);
  }

  observe(v: number): void {
    let i = 0;
    while (i < this.bounds.length && v > this.bounds[i]!) i++;
    this.buckets[i]! += 1;
    this.sum += v;
    this.count += 1;
  }

  /** Samples of the family: cumulative `_bucket`s (the last `le="+Inf"`), `_sum`, `_count`, each with `labels`. */
  samples(labels: Readonly<Record<string, string>> = {}): Sample[] {
    const out: Sample[] = [];
    let cum = 0;
    this.bounds.forEach((b, i) => {
      cum += this.buckets[i]!;
      out.push({ suffix: '_bucket', labels: { ...labels, le: String(b) }, value: cum });
    });
    out.push({ suffix: '_bucket', labels: { ...labels, le: '+Inf' }, value: cum + this.buckets[this.bounds.length]! });
    out.push({ suffix: '_sum', labels, value: this.sum });
    out.push({ suffix: '_count', labels, value: this.count });
    return out;
  }
}

/** Counters of one node (kept across pool re-creation, keyed by node id). */
export class NodeStats {
  /** Responses by status code (index = status). */
  readonly statuses = new Float64Array(600);
  readonly latency = new Histogram(LATENCY_BOUNDS);

  constructor(readonly nodeId: string) {}

  countStatus(status: number): void {
    this.statuses[status < 600 ? status : 599]! += 1;
  }

  observeLatency(seconds: number): void {
    this.latency.observe(seconds);
  }
}

export type RetryReason = 'misdirected' | 'connect' | 'socket' | 'no_route';
const RETRY_REASONS: RetryReason[] = ['misdirected', 'connect', 'socket', 'no_route'];

export interface TableGauges {
  /** ms since the routing table last changed. */
  ageMs(): number;
  revision(): number;
  liveNodes(): number;
  downNodes(): number;
  /** The table may be out of date (docs/proxy.md, Routing staleness). */
  stale(): boolean;
}

export class ProxyMetrics {
  private readonly nodes = new Map<string, NodeStats>();
  /** Answers the proxy gives itself (bad request, no route, dead node): node label "none". */
  readonly local = new NodeStats('none');
  readonly retries = new Float64Array(RETRY_REASONS.length);
  websocketsOpen = 0;
  websocketsTotal = 0;
  inFlight = 0;
  table: TableGauges | null = null;
  /** The latest assignment epochs the table routes by, oldest first (at most 32). */
  readonly epochs: AppliedEpoch[] = [];
  private readonly propagation = new Histogram(PROPAGATION_BOUNDS);

  /**
   * @param registry where the families are registered: the process registry (with default
   * metrics, runtime/metrics/registry.ts) in the proxy; a plain one by default.
   */
  constructor(readonly registry: Registry = new Registry()) {
    this.register();
  }

  /** The routing table now routes by a new assignment epoch. */
  epochApplied(e: AppliedEpoch): void {
    this.epochs.push(e);
    if (this.epochs.length > 32) this.epochs.shift();
    const seconds = Math.max(0, (Date.parse(e.applied_at) - Date.parse(e.written_at)) / 1000);
    if (Number.isFinite(seconds)) this.propagation.observe(seconds);
  }

  node(nodeId: string): NodeStats {
    let s = this.nodes.get(nodeId);
    if (!s) {
      s = new NodeStats(nodeId);
      this.nodes.set(nodeId, s);
    }
    return s;
  }

  retry(reason: RetryReason): void {
    this.retries[RETRY_REASONS.indexOf(reason)]! += 1;
  }

  retryCount(reason: RetryReason): number {
    return this.retries[RETRY_REASONS.indexOf(reason)]!;
  }

  /** Text exposition format 0.0.4 of the whole registry (default process metrics included when the registry has them). */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  private register(): void {
    const r = this.registry;
    registerCollected(r, {
      name: 'dtable_proxy_requests_total',
      help: 'Responses sent to clients, by node that answered and status.',
      type: 'counter',
      collect: () => {
        const out: Sample[] = [];
        for (const s of [...this.nodes.values(), this.local]) {
          s.statuses.forEach((n, status) => {
            if (n > 0) out.push({ labels: { node: s.nodeId, status }, value: n });
          });
        }
        return out;
      },
    });
    registerCollected(r, {
      name: 'dtable_proxy_retries_total',
      help: 'Requests re-sent (421 from a node, connect or socket failure, no route yet).',
      type: 'counter',
      collect: () => RETRY_REASONS.map((reason, i) => ({ labels: { reason }, value: this.retries[i]! })),
    });
    registerCollected(r, {
      name: 'dtable_proxy_upstream_latency_seconds',
      help: "Time from dispatch to the node's response headers.",
      type: 'histogram',
      collect: () => [...this.nodes.values()].flatMap((s) => s.latency.samples({ node: s.nodeId })),
    });
    gauge(r, 'dtable_proxy_in_flight_requests', 'HTTP requests being proxied now.', () => this.inFlight);
    gauge(r, 'dtable_proxy_websockets_open', 'WebSocket tunnels open now.', () => this.websocketsOpen);
    registerCollected(r, {
      name: 'dtable_proxy_websockets_total',
      help: 'WebSocket tunnels opened.',
      type: 'counter',
      collect: () => [{ value: this.websocketsTotal }],
    });
    registerCollected(r, {
      name: 'dtable_proxy_assignment_propagation_seconds',
      help: 'From the monitor writing an assignment epoch (its written_at) to the routing table routing by it.',
      type: 'histogram',
      collect: () => this.propagation.samples(),
    });
    gauge(r, 'dtable_proxy_assignment_epoch', 'Latest assignment epoch the routing table routes by.', () => this.epochs.at(-1)?.epoch);
    gauge(r, 'dtable_proxy_routing_table_age_seconds', 'Seconds since the routing table last changed.', () => this.table && this.table.ageMs() / 1000);
    gauge(r, 'dtable_proxy_routing_table_revision', 'etcd revision the routing table reflects.', () => this.table?.revision());
    gauge(r, 'dtable_proxy_nodes_live', 'Registered nodes the proxy can reach.', () => this.table?.liveNodes());
    gauge(r, 'dtable_proxy_nodes_down', 'Registered nodes the proxy failed to connect to.', () => this.table?.downNodes());
    gauge(
      r,
      'dtable_proxy_routing_stale',
      '1 while the proxy cannot confirm that its routing table is current (no etcd contact or watch progress); it keeps routing by it.',
      () => this.table && (this.table.stale() ? 1 : 0),
    );
  }
}

/** An unlabelled gauge read at scrape time; no sample while `read` gives null or undefined (nothing to report yet). */
function gauge(registry: Registry, name: string, help: string, read: () => number | null | undefined): void {
  registerCollected(registry, {
    name,
    help,
    type: 'gauge',
    collect: () => {
      const value = read();
      return value === null || value === undefined ? [] : [{ value }];
    },
  });
}
