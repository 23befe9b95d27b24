// The web role's Prometheus families (prom-client counters: the web role is not on a hot path).
import { Counter, Gauge, type Registry } from 'prom-client';

/** Outcome of an app-access-token request, the `result` label. */
export type AccessTokenResult = 'issued' | 'unauthorized' | 'invalid_token' | 'no_node';

export interface WebMetrics {
  readonly accessTokens: Counter<'result'>;
  readonly basesCreated: Counter;
}

/** Registers the web role's families in `registry`; `bases` counts the bases it knows (read at scrape time). */
export function registerWebMetrics(registry: Registry, bases: () => number): WebMetrics {
  const accessTokens = new Counter({
    name: 'dtable_web_access_tokens_total',
    help: 'app-access-token requests by result: issued, unauthorized (no token), invalid_token, no_node (bucket without a live node: 503).',
    labelNames: ['result'],
    registers: [registry],
  });
  for (const result of ['issued', 'unauthorized', 'invalid_token', 'no_node'] as const) accessTokens.inc({ result }, 0);
  const basesCreated = new Counter({ name: 'dtable_web_bases_created_total', help: 'Bases created through POST /api/v2.1/dtables/.', registers: [registry] });
  new Gauge({
    name: 'dtable_web_bases',
    help: 'Bases the web role knows (with an API token).',
    registers: [registry],
    collect() {
      this.set(bases());
    },
  });
  return { accessTokens, basesCreated };
}
