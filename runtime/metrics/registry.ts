// The /metrics registry of a process: prom-client's default process metrics (CPU, memory, file
// descriptors, event loop lag, GC, heap) plus the process's own families. Families whose numbers
// live elsewhere (the proxy's typed arrays, the monitor's state) are read by a collect callback
// at scrape time, so nothing is paid between scrapes.
// Exposition format: https://prometheus.io/docs/instrumenting/exposition_formats/
import { collectDefaultMetrics, Registry, type Metric } from 'prom-client';

/** Content-Type of the text exposition format 0.0.4 (what every /metrics answers with). */
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/**
 * Default gauges whose names end in `_total`, which `promtool check metrics` rejects ("non-counter
 * metrics should not have _total suffix"). The per-type gauges of the same name without the
 * suffix (`nodejs_active_handles{type}` ...) carry the same numbers; sum them for the total.
 */
const LINT_FAILING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/**
 * A registry with prom-client's default metrics of this process. Call once per process (each
 * call starts an event-loop-delay monitor and a GC observer); tests that only need a process's
 * own families pass a plain `new Registry()`.
 */
export function processRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of LINT_FAILING_DEFAULTS) registry.removeSingleMetric(name);
  return registry;
}

/** One sample of a family: `labels` in exposition order, `suffix` for histogram series (`_bucket`...). */
export interface Sample {
  readonly labels?: Readonly<Record<string, string | number>>;
  readonly value: number;
  readonly suffix?: '_bucket' | '_sum' | '_count';
}

export interface CollectedFamilySpec {
  /** Metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  /** Called at every scrape; returns the family's samples now (none: only HELP and TYPE are written). */
  readonly collect: () => readonly Sample[] | Promise<readonly Sample[]>;
}

/**
 * Registers a family whose samples a callback reads at scrape time. prom-client's own Counter and
 * Histogram keep their numbers in label-hashed maps; this lets a family keep them in typed arrays
 * (the proxy's hot path) and still be written by prom-client's registry. Label values are escaped
 * by prom-client; a histogram's samples must be cumulative `_bucket`s ending with `le="+Inf"`,
 * then `_sum` and `_count` (https://prometheus.io/docs/concepts/metric_types/#histogram).
 * @throws Error (prom-client) when `registry` already has a metric named `spec.name`.
 */
export function registerCollected(registry: Registry, spec: CollectedFamilySpec): void {
  const family = {
    name: spec.name,
    help: spec.help,
    type: spec.type,
    aggregator: 'sum' as const,
    async get() {
      const samples = await spec.collect();
      return {
        name: spec.name,
        help: spec.help,
        type: spec.type,
        aggregator: 'sum' as const,
        values: samples.map((s) => ({ metricName: spec.name + (s.suffix ?? ''), labels: { ...s.labels }, value: s.value })),
      };
    },
    reset() {},
  };
  // The registry needs only name, get() and reset(); its type names prom-client's classes.
  registry.registerMetric(family as unknown as Metric);
}

/**
 * Shares one in-flight read among the collect callbacks of one scrape (the registry starts them
 * all in the same tick): e.g. the monitor's etcd families read Maintenance.Status once.
 */
export function oncePerScrape<T>(read: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | null = null;
  return () => {
    pending ??= read().finally(() => {
      pending = null;
    });
    return pending;
  };
}
