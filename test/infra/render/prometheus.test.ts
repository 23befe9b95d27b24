// The rendered Prometheus files, read back by their real consumer: promtool (from Debian's
// prometheus package) checks the scrape config and the alert rules, and runs unit tests of the
// rules on synthetic series. The integration test with a running Prometheus is
// test/e2e/prometheus.e2e.test.ts.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadClusterText } from '../../../infra/model/index.ts';
import { resolvePlan } from '../../../infra/plan/resolve.ts';
import type { Plan } from '../../../infra/plan/types.ts';
import { renderPlan } from '../../../infra/render/render.ts';
import { FIXED_RUN_DIR, REPO_ROOT, repoPlan } from './fixtures.ts';

const tmp = mkdtempSync(join(tmpdir(), 'prometheus-render-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Writes the plan's Prometheus files (and the admin token file the config names) to a fresh folder. */
function writePrometheusFiles(plan: Plan, name: string): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  for (const f of renderPlan(plan).filter((f) => f.component === 'prometheus')) writeFileSync(join(dir, f.path.split('/')[1]!), f.contents);
  writeFileSync(join(dir, 'admin_token'), 'test-admin-token\n');
  return dir;
}

function promtool(args: string[], cwd: string): { code: number; output: string } {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool not runnable (Debian package prometheus; bin/ensure-deps.sh installs it): ${r.error.message}`);
  return { code: r.status ?? 1, output: `${r.stdout}${r.stderr}` };
}

interface RuleFile {
  groups: Array<{ rules: Array<{ alert: string; expr: string; for: string }> }>;
}
interface ScrapeConfig {
  global: Record<string, string>;
  scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[]; labels: { instance_name: string } }> }>;
}

const plans = { docker: repoPlan('docker'), local: repoPlan('local'), 'local-tls': repoPlan('local', { tls: true }) };

describe.each(Object.entries(plans))('the %s target', (name, plan) => {
  const dir = writePrometheusFiles(plan, name);

  it('renders a scrape config that promtool check config accepts, with its rule file', () => {
    const r = promtool(['check', 'config', 'prometheus.yml'], dir);
    expect(r.output).toContain('SUCCESS: 10 rules found');
    expect(r.code, r.output).toBe(0);
  });

  it('renders alert rules that promtool check rules accepts', () => {
    const r = promtool(['check', 'rules', 'alerts.yml'], dir);
    expect(r.code, r.output).toBe(0);
  });

  it('scrapes every process of the plan at its metrics port', () => {
    const cfg = parse(readFileSync(join(dir, 'prometheus.yml'), 'utf8')) as ScrapeConfig;
    const targets = Object.fromEntries(cfg.scrape_configs.map((j) => [j.job_name, j.static_configs.map((s) => `${s.labels.instance_name}@${s.targets.join()}`)]));
    expect(targets).toEqual({
      etcd: plan.etcd.members.map((m) => `${m.name}@${m.host}:${m.metricsPort ?? m.clientPort}`),
      'dtable-monitor': plan.monitors.map((m) => `${m.name}@${m.host}:${m.metricsPort}`),
      'dtable-node': plan.nodes.map((n) => `${n.name}@${n.host}:${n.port}`),
      'dtable-proxy': [`${plan.proxy.name}@${plan.proxy.host}:${plan.proxy.adminPort}`],
      'dtable-web': [`${plan.web.name}@${plan.web.host}:${plan.web.port}`],
    });
  });
});

describe('cluster.yaml prometheus settings', () => {
  const base = readFileSync(join(REPO_ROOT, 'cluster.yaml'), 'utf8');
  const planWith = (yaml: string) =>
    resolvePlan(loadClusterText(base + yaml, 'cluster.yaml').model, { target: 'local', configDir: REPO_ROOT, runDir: FIXED_RUN_DIR });
  const rulesOf = (plan: Plan) => {
    const f = renderPlan(plan).find((x) => x.path === 'prometheus/alerts.yml')!;
    return Object.fromEntries((parse(f.contents) as RuleFile).groups[0]!.rules.map((r) => [r.alert, r]));
  };

  it('renders production defaults: every alert waits 1m to 5m', () => {
    const fors = Object.values(rulesOf(plans.local)).map((r) => r.for);
    expect(fors).toHaveLength(10);
    for (const f of fors) expect(['1m', '2m', '5m']).toContain(f);
  });

  it('renders the intervals, for: durations and thresholds cluster.yaml sets', () => {
    const plan = planWith(
      'prometheus:\n  scrape_interval: 1s\n  evaluation_interval: 2s\n  etcd_db_quota_ratio: 0.5\n' +
        '  lease_churn: { window: 5m, departures: 2 }\n  alert_for: { node_down: 3s, etcd_alarm: 0s }\n',
    );
    const rules = rulesOf(plan);
    expect(rules.DtableNodeDown!.for).toBe('3s');
    expect(rules.DtableEtcdAlarm!.for).toBe('0s');
    expect(rules.DtableComponentDown!.for).toBe('2m');
    expect(rules.DtableEtcdDbNearQuota!.expr).toMatch(/> 0\.5$/);
    expect(rules.DtableNodeLeaseChurn!.expr).toBe('max by (node_id) (increase(dtable_cluster_node_departures_total[5m])) >= 2');
    const cfg = parse(renderPlan(plan).find((x) => x.path === 'prometheus/prometheus.yml')!.contents) as ScrapeConfig;
    expect(cfg.global).toMatchObject({ scrape_interval: '1s', evaluation_interval: '2s' });
  });

  it('refuses a duration Prometheus cannot read, at its position', () => {
    expect(() => loadClusterText(`${base}prometheus:\n  alert_for: { node_down: 1 minute }\n`, 'cluster.yaml')).toThrow(
      /cluster\.yaml:\d+:\d+: .*must be a Prometheus duration/,
    );
  });
});

// promtool test rules: each alert against synthetic series (docs: https://prometheus.io/docs/prometheus/latest/configuration/unit_testing_rules/).
describe('the alert rules on synthetic series (promtool test rules)', () => {
  it('fire and stay silent as documented in docs/observability.md', () => {
    const dir = writePrometheusFiles(repoPlan('local'), 'unit');
    const rules = (parse(readFileSync(join(dir, 'alerts.yml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; annotations: Record<string, string> }> }> }).groups[0]!.rules;
    /** The rule's annotations with Prometheus' `{{ $labels.x }}` and `{{ $value }}` filled in. */
    const ann = (alert: string, labels: Record<string, string>, value = '', percentage = '') =>
      Object.fromEntries(
        Object.entries(rules.find((r) => r.alert === alert)!.annotations).map(([k, v]) => [
          k,
          v.replace(/\{\{ \$labels\.([a-z_]+) \}\}/g, (_, l: string) => labels[l] ?? '').replace(/\{\{ \$value \}\}/g, value)
            .replace(/\{\{ \$value \| humanizePercentage \}\}/g, percentage),
        ]),
      );
    const tests = {
      rule_files: ['alerts.yml'],
      evaluation_interval: '15s',
      tests: [
        {
          interval: '15s',
          input_series: [
            { series: 'up{job="dtable-node",instance="n1:5000",instance_name="dtable-server-01"}', values: '1 1 0 0 0 0 0 0 0 0' },
            { series: 'up{job="dtable-node",instance="n2:5000",instance_name="dtable-server-02"}', values: '1x10' },
            { series: 'dtable_cluster_monitor_is_leader{monitor_id="monitor-1"}', values: '1 1 0x8' },
            { series: 'dtable_cluster_buckets_unassigned{monitor_id="monitor-1"}', values: '0 0 128x10' },
            { series: 'dtable_proxy_routing_stale{instance_name="dtable-server-proxy"}', values: '0x10' },
            { series: 'dtable_cluster_node_departures_total{monitor_id="monitor-1",node_id="dtable-server-02"}', values: '0 1 2 3 3 3 3 3 3 3' },
            { series: 'etcd_mvcc_db_total_size_in_bytes{job="etcd",instance_name="etcd-01"}', values: '500 900x30' },
            { series: 'etcd_server_quota_backend_bytes{job="etcd",instance_name="etcd-01"}', values: '1000x31' },
            { series: 'dtable_cluster_etcd_alarm{monitor_id="monitor-1",alarm="NOSPACE"}', values: '0 0 1x10' },
            { series: 'dtable_cluster_etcd_alarm{monitor_id="monitor-1",alarm="CORRUPT"}', values: '0x12' },
            // every member counts every leader change: 5 changes in the first minute, then calm
            { series: 'etcd_server_leader_changes_seen_total{job="etcd",instance_name="etcd-01"}', values: '0 1 2 3 5 5x40' },
            { series: 'etcd_server_leader_changes_seen_total{job="etcd",instance_name="etcd-02"}', values: '0 1 2 3 5 5x40' },
          ],
          alert_rule_test: [
            { eval_time: '30s', alertname: 'DtableNodeDown', exp_alerts: [] },
            {
              eval_time: '2m',
              alertname: 'DtableNodeDown',
              exp_alerts: [
                {
                  exp_labels: { severity: 'critical', job: 'dtable-node', instance: 'n1:5000', instance_name: 'dtable-server-01' },
                  exp_annotations: {
                    summary: 'dtable-server node dtable-server-01 is down',
                    description:
                      'dtable-server-01 (n1:5000) has not answered a scrape of /metrics. Its buckets move to the other nodes once its lease expires (lease_ttl).',
                  },
                },
              ],
            },
            { eval_time: '2m', alertname: 'DtableNoMonitorLeader', exp_alerts: [{ exp_labels: { severity: 'critical' }, exp_annotations: ann('DtableNoMonitorLeader', {}) }] },
            { eval_time: '2m15s', alertname: 'DtableBucketsUnassigned', exp_alerts: [] },
            {
              eval_time: '2m30s',
              alertname: 'DtableBucketsUnassigned',
              exp_alerts: [{ exp_labels: { severity: 'critical' }, exp_annotations: ann('DtableBucketsUnassigned', {}, '128') }],
            },
            { eval_time: '2m', alertname: 'DtableProxyRoutingStale', exp_alerts: [] },
            {
              eval_time: '2m',
              alertname: 'DtableNodeLeaseChurn',
              exp_alerts: [
                { exp_labels: { severity: 'warning', node_id: 'dtable-server-02' }, exp_annotations: ann('DtableNodeLeaseChurn', { node_id: 'dtable-server-02' }, '3') },
              ],
            },
            { eval_time: '5m', alertname: 'DtableEtcdDbNearQuota', exp_alerts: [] },
            {
              eval_time: '5m15s',
              alertname: 'DtableEtcdDbNearQuota',
              exp_alerts: [
                {
                  exp_labels: { severity: 'warning', job: 'etcd', instance_name: 'etcd-01' },
                  exp_annotations: ann('DtableEtcdDbNearQuota', { instance_name: 'etcd-01' }, '', '90%'),
                },
              ],
            },
            { eval_time: '5m', alertname: 'DtableEtcdLeaderChurn', exp_alerts: [] },
            {
              eval_time: '6m',
              alertname: 'DtableEtcdLeaderChurn',
              exp_alerts: [{ exp_labels: { severity: 'warning' }, exp_annotations: ann('DtableEtcdLeaderChurn', {}, '5') }],
            },
            { eval_time: '17m', alertname: 'DtableEtcdLeaderChurn', exp_alerts: [] },
            { eval_time: '1m15s', alertname: 'DtableEtcdAlarm', exp_alerts: [] },
            {
              eval_time: '1m30s',
              alertname: 'DtableEtcdAlarm',
              exp_alerts: [{ exp_labels: { severity: 'critical', alarm: 'NOSPACE' }, exp_annotations: ann('DtableEtcdAlarm', { alarm: 'NOSPACE' }) }],
            },
          ],
        },
      ],
    };
    writeFileSync(join(dir, 'alerts.test.yml'), JSON.stringify(tests));
    const r = promtool(['test', 'rules', 'alerts.test.yml'], dir);
    expect(r.code, r.output).toBe(0);
  });
});
