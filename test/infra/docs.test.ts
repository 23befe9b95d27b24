// The reference docs keep up with the model and the command list.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../infra/cli/main.ts';
import { clusterJsonSchema } from '../../infra/model/index.ts';
import { Registry } from 'prom-client';
import { parse } from 'yaml';
import { registerMonitorMetrics, type MonitorMetricsState } from '../../runtime/monitor/metrics.ts';
import { registerNodeMetrics } from '../../runtime/node/metrics.ts';
import { ProxyMetrics } from '../../runtime/proxy/metrics.ts';
import { registerWebMetrics } from '../../runtime/web/metrics.ts';

const doc = (p: string) => readFileSync(new URL(`../../${p}`, import.meta.url), 'utf8');

/** Every property name of the schema, with the object it sits in (`etcd.members[].host` → `host`). */
function propertyNames(schema: unknown, out = new Set<string>()): Set<string> {
  if (schema && typeof schema === 'object') {
    const s = schema as Record<string, unknown>;
    if (s.properties && typeof s.properties === 'object') {
      for (const [k, v] of Object.entries(s.properties)) {
        out.add(k);
        propertyNames(v, out);
      }
    }
    for (const key of ['items', 'additionalProperties', 'anyOf', 'oneOf', 'allOf']) {
      const v = s[key];
      if (Array.isArray(v)) v.forEach((x) => propertyNames(x, out));
      else if (v) propertyNames(v, out);
    }
  }
  return out;
}

describe('docs/cluster-yaml.md', () => {
  it.each([...propertyNames(clusterJsonSchema())])('documents the key %s', (key) => {
    expect(doc('docs/cluster-yaml.md')).toMatch(new RegExp('`([a-z_]+\\.)*' + key + '`'));
  });
});

describe('docs/cli.md', () => {
  it.each(COMMANDS.map((c) => c.name))('documents the %s command', (name) => {
    expect(doc('docs/cli.md')).toContain(`## ${name}\n`);
  });
});

/** Every family the processes register (their own, not prom-client's defaults), from the registries themselves. */
async function registeredFamilies(): Promise<string[]> {
  const registry = new Registry();
  const monitorState: MonitorMetricsState = {
    monitorId: 'm',
    isLeader: true,
    bucketsPerNode: new Map(),
    movesTotal: 0,
    reconcilesTotal: 0,
    writesRejectedTotal: 0,
    lastReconcileSeconds: 0,
    epoch: 0,
    liveNodes: 0,
    bucketsUnassigned: 0,
    nodeRegistrationsTotal: new Map(),
    nodeDeparturesTotal: new Map(),
  };
  registerMonitorMetrics(registry, async () => monitorState);
  registerNodeMetrics(registry, { nodeId: 'n', bucketsOwned: () => 0, basesLoaded: () => 0, operations: () => 0, socketConnections: () => 0, registered: () => true });
  registerWebMetrics(registry, () => 0);
  const proxy = new ProxyMetrics();
  const all = [...(await registry.getMetricsAsJSON()), ...(await proxy.registry.getMetricsAsJSON())];
  return all.map((m) => m.name);
}

describe('docs/observability.md', () => {
  it('names every metric family the monitor, proxy, node and web role register', async () => {
    const families = await registeredFamilies();
    expect(families.length).toBeGreaterThan(40);
    expect(families.filter((name) => !doc('docs/observability.md').includes(`\`${name}\``))).toEqual([]);
  });

  it('names every alert of templates/prometheus/alerts.yml', () => {
    const rules = (parse(doc('templates/prometheus/alerts.yml').replace(/\{\{ [a-z_]+ \}\}/g, '0')) as { groups: Array<{ rules: Array<{ alert: string }> }> }).groups.flatMap((g) => g.rules);
    expect(rules.length).toBe(10);
    expect(rules.filter((r) => !doc('docs/observability.md').includes(`| \`${r.alert}\` |`)).map((r) => r.alert)).toEqual([]);
  });
});
