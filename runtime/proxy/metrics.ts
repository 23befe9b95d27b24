// Prometheus metrics of the proxy, kept in typed arrays so counting on the hot path allocates
// nothing: requests by node and status, retries by reason, upstream latency, routing table age,
// assignment propagation.
import type { AppliedEpoch } from './cluster-routes.ts';

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

  /** Sample lines of `name` with extra `labels` (e.g. `node="x"`, or ""). */
  render(out: string[], name: string, labels = ''): void {
    const sep = labels ? `${labels},` : '';
    const own = labels ? `{${labels}}` : '';
    let cum = 0;
    this.bounds.forEach((b, i) => {
      cum += this.buckets[i]!;
      out.push(`${name}_bucket{${sep}le="${b}"} ${cum}`);
    });
    out.push(`${name}_bucket{${sep}le="+Inf"} ${cum + this.buckets[this.bounds.length]!}`);
    out.push(`${name}_sum${own} ${this.sum}`);
    out.push(`${name}_count${own} ${this.count}`);
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
  /** The table may be out of date (DESIGN.md section 13). */
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

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const out: string[] = [];
    out.push('# HELP dtable_proxy_requests_total Responses sent to clients, by node that answered and status.');
    out.push('# TYPE dtable_proxy_requests_total counter');
    for (const s of [...this.nodes.values(), this.local]) {
      s.statuses.forEach((n, status) => {
        if (n > 0) out.push(`dtable_proxy_requests_total{node="${esc(s.nodeId)}",status="${status}"} ${n}`);
      });
    }
    out.push('# HELP dtable_proxy_retries_total Requests re-sent (421 from a node, connect or socket failure, no route yet).');
    out.push('# TYPE dtable_proxy_retries_total counter');
    RETRY_REASONS.forEach((r, i) => out.push(`dtable_proxy_retries_total{reason="${r}"} ${this.retries[i]}`));
    out.push('# HELP dtable_proxy_upstream_latency_seconds Time from dispatch to the node\'s response headers.');
    out.push('# TYPE dtable_proxy_upstream_latency_seconds histogram');
    for (const s of this.nodes.values()) s.latency.render(out, 'dtable_proxy_upstream_latency_seconds', `node="${esc(s.nodeId)}"`);
    gauge(out, 'dtable_proxy_in_flight_requests', 'HTTP requests being proxied now.', this.inFlight);
    gauge(out, 'dtable_proxy_websockets_open', 'WebSocket tunnels open now.', this.websocketsOpen);
    out.push('# HELP dtable_proxy_websockets_total WebSocket tunnels opened.');
    out.push('# TYPE dtable_proxy_websockets_total counter');
    out.push(`dtable_proxy_websockets_total ${this.websocketsTotal}`);
    out.push('# HELP dtable_proxy_assignment_propagation_seconds From the monitor writing an assignment epoch (its written_at) to the routing table routing by it.');
    out.push('# TYPE dtable_proxy_assignment_propagation_seconds histogram');
    this.propagation.render(out, 'dtable_proxy_assignment_propagation_seconds');
    const epoch = this.epochs.at(-1);
    if (epoch) gauge(out, 'dtable_proxy_assignment_epoch', 'Latest assignment epoch the routing table routes by.', epoch.epoch);
    if (this.table) {
      gauge(out, 'dtable_proxy_routing_table_age_seconds', 'Seconds since the routing table last changed.', this.table.ageMs() / 1000);
      gauge(out, 'dtable_proxy_routing_table_revision', 'etcd revision the routing table reflects.', this.table.revision());
      gauge(out, 'dtable_proxy_nodes_live', 'Registered nodes the proxy can reach.', this.table.liveNodes());
      gauge(out, 'dtable_proxy_nodes_down', 'Registered nodes the proxy failed to connect to.', this.table.downNodes());
      gauge(out, 'dtable_proxy_routing_stale', '1 while the proxy cannot confirm that its routing table is current (no etcd contact or watch progress); it keeps routing by it.', this.table.stale() ? 1 : 0);
    }
    return `${out.join('\n')}\n`;
  }
}

function gauge(out: string[], name: string, help: string, value: number): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`);
}

function esc(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}
