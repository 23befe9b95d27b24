// Observability end to end: a real local cluster (`up --detach`, the e2e cluster.yaml), the
// Prometheus files `render --target local` writes for it, and a real Prometheus (Debian's
// prometheus) scraping every process. cluster.yaml's `prometheus:` section shortens the
// intervals and DtableNodeDown's `for:`, so the same templates and code path as production
// render the rules. Checks: every process's /metrics passes `promtool check metrics`; the alert
// rules and the Grafana dashboard name only metrics the running cluster exposes; a killed node
// fires DtableNodeDown, which resolves once the node is back.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { freePort } from '../harness/free-port.ts';
import { REPO, runCli, testCluster, type TestCluster } from './cli.ts';
import { adminToken, pidOf, removeTestCluster, status, until, type StatusJson } from './client.ts';

const PROMETHEUS_YAML = `
prometheus:
  scrape_interval: 2s
  evaluation_interval: 1s
  alert_for: { node_down: 3s }
`;

interface ScrapeJob {
  job_name: string;
  authorization?: unknown;
  static_configs: Array<{ targets: string[]; labels: { instance_name: string } }>;
}
interface Alert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
  activeAt: string;
}

let c: TestCluster;
let st: StatusJson;
let promDir: string;
let promUrl: string;
let prometheus: ChildProcess | null = null;
let promLog = '';
let jobs: ScrapeJob[] = [];
let token = '';
/** Every metric name the running processes expose (from # TYPE lines; histograms with their series suffixes). */
const exposed = new Set<string>(['up', 'ALERTS', 'ALERTS_FOR_STATE']);

async function scrape(job: ScrapeJob, target: string): Promise<string> {
  const headers: Record<string, string> = job.authorization ? { authorization: `Bearer ${token}` } : {};
  const r = await fetch(`http://${target}/metrics`, { headers, signal: AbortSignal.timeout(10_000) });
  if (r.status !== 200) throw new Error(`${job.job_name} ${target}: /metrics answered ${r.status}`);
  return r.text();
}

async function promApi<T>(path: string): Promise<T> {
  const r = await fetch(`${promUrl}${path}`, { signal: AbortSignal.timeout(5_000) });
  const body = (await r.json()) as { status: string; data: T };
  if (body.status !== 'success') throw new Error(`${path}: ${JSON.stringify(body)}`);
  return body.data;
}

const alerts = async (name: string) => (await promApi<{ alerts: Alert[] }>('/api/v1/alerts')).alerts.filter((a) => a.labels.alertname === name);

/**
 * Metric names a PromQL expression selects: identifiers left after removing label matchers,
 * range and grouping clauses, strings, functions and keywords.
 */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const keywords = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'inf', 'nan']);
  return [...stripped.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?/g)].filter((m) => !m[2] && !keywords.has(m[1]!.toLowerCase())).map((m) => m[1]!);
}

beforeAll(async () => {
  c = await testCluster(PROMETHEUS_YAML);
  const up = await runCli(['up', '--detach', ...c.flags], { timeoutMs: 120_000 });
  if (up.code !== 0) throw new Error(`up failed (exit ${up.code}):\n${up.stdout}${up.stderr}`);
  st = await status(c);
  token = adminToken(c);

  const out = join(c.dir, 'rendered');
  const r = await runCli(['render', '--target', 'local', '--out', out, ...c.flags]);
  if (r.code !== 0) throw new Error(`render failed:\n${r.stderr}`);
  promDir = join(out, 'prometheus');
  writeFileSync(join(promDir, 'admin_token'), `${token}\n`);
  jobs = (parse(readFileSync(join(promDir, 'prometheus.yml'), 'utf8')) as { scrape_configs: ScrapeJob[] }).scrape_configs;

  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  mkdirSync(join(c.dir, 'prometheus-data'));
  prometheus = spawn(
    'prometheus',
    [`--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(c.dir, 'prometheus-data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  prometheus.stderr!.on('data', (d: Buffer) => (promLog = (promLog + d.toString()).slice(-20_000)));
  prometheus.on('error', (err) => (promLog += `\nspawn failed: ${err.message} (Debian package prometheus; bin/ensure-deps.sh installs it)`));
  const targets = jobs.reduce((n, j) => n + j.static_configs.length, 0);
  await until(
    `Prometheus scraping all ${targets} targets successfully`,
    async () => {
      const t = await promApi<{ activeTargets: Array<{ health: string }> }>('/api/v1/targets');
      return t.activeTargets.length === targets && t.activeTargets.every((x) => x.health === 'up');
    },
    60_000,
    250,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\nprometheus log:\n${promLog}`);
  });
}, 240_000);

afterAll(async () => {
  if (prometheus?.pid && prometheus.exitCode === null) {
    prometheus.kill('SIGTERM');
    await new Promise((r) => prometheus!.once('exit', r));
  }
  if (c) await removeTestCluster(c);
}, 120_000);

describe('Prometheus against a local cluster', () => {
  it("every process's /metrics passes promtool check metrics, default process metrics included", async () => {
    // Traffic first, so labelled counters and histograms have samples to lint, not only HELP/TYPE.
    for (let i = 0; i < 5; i++) expect((await fetch(`${st.proxy.url}ping/`)).status).toBe(200);
    expect((await fetch(`${st.proxy.url}dtables/not-a-uuid/`)).status).toBe(400);
    expect((await fetch(`${st.web.url}api/v2.1/dtable/app-access-token/`, { headers: { authorization: 'Token nope' } })).status).toBe(403);
    const checked: string[] = [];
    for (const job of jobs) {
      for (const sc of job.static_configs) {
        const text = await scrape(job, sc.targets[0]!);
        for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
          exposed.add(m[1]!);
          if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exposed.add(m[1]! + s);
          if (m[2] === 'summary') for (const s of ['_sum', '_count']) exposed.add(m[1]! + s);
        }
        if (job.job_name === 'etcd') continue; // etcd's own exposition is not ours to lint
        const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
        expect(`${sc.labels.instance_name}: exit ${r.status} ${r.stdout}${r.stderr}`).toBe(`${sc.labels.instance_name}: exit 0 `);
        expect(text).toMatch(/^process_cpu_seconds_total /m);
        expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds /m);
        expect(text).toContain('# TYPE nodejs_gc_duration_seconds histogram\n'); // samples after the first GC
        if (job.job_name === 'dtable-proxy') expect(text).toMatch(/^dtable_proxy_upstream_latency_seconds_bucket\{node="dtable-server-0\d",le="\+Inf"\} [1-9]/m);
        checked.push(sc.labels.instance_name);
      }
    }
    expect(checked.sort()).toEqual([...st.nodes.map((n) => n.node_id), 'dtable-server-proxy', 'monitor-1', 'monitor-2', 'web'].sort());
  });

  it('etcd exposes the metrics the etcd rules read (etcd 3.4: leader, database size, quota)', () => {
    for (const name of ['etcd_server_has_leader', 'etcd_mvcc_db_total_size_in_bytes', 'etcd_server_quota_backend_bytes']) expect(exposed).toContain(name);
  });

  it('the rendered alert rules select only metrics the running cluster exposes', () => {
    const rules = (parse(readFileSync(join(promDir, 'alerts.yml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> }).groups.flatMap((g) => g.rules);
    expect(rules.length).toBe(10);
    const unknown = rules.flatMap((r) => metricNames(r.expr).filter((n) => !exposed.has(n)).map((n) => `${r.alert}: ${n}`));
    expect(unknown).toEqual([]);
  });

  it('the Grafana dashboard in docs/ parses and queries only metrics the running cluster exposes', () => {
    const dash = JSON.parse(readFileSync(join(REPO, 'docs', 'grafana-dashboard.json'), 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
    const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
    expect(exprs.length).toBeGreaterThan(20);
    const unknown = exprs.flatMap((e) => metricNames(e.expr).filter((n) => !exposed.has(n)).map((n) => `${e.panel}: ${n}`));
    expect(unknown).toEqual([]);
  });

  it('a killed node fires DtableNodeDown within seconds, which resolves once the node is back', async () => {
    const victim = st.nodes[1]!.node_id;
    const victimAlert = async () => (await alerts('DtableNodeDown')).find((a) => a.labels.instance_name === victim);
    expect(await victimAlert()).toBeUndefined();
    const t0 = performance.now();
    process.kill(pidOf(st, victim), 'SIGKILL');
    const fired = await until(
      'DtableNodeDown firing for the killed node',
      async () => {
        const a = await victimAlert();
        return a?.state === 'firing' ? a : null;
      },
      60_000,
      200,
    );
    const fireMs = performance.now() - t0;
    expect(fired.value.labels).toMatchObject({ job: 'dtable-node', severity: 'critical', instance_name: victim });

    const t1 = performance.now();
    process.kill(st.supervisor.pid!, 'SIGUSR2'); // the launcher starts whatever has exited
    await until('DtableNodeDown resolved', async () => (await victimAlert()) === undefined, 60_000, 200);
    const resolveMs = performance.now() - t1;
    expect((await status(c)).processes.find((p) => p.name === victim)?.status).toBe('running');
    console.log(
      `DtableNodeDown (scrape 2s, evaluation 1s, for 3s): fired ${(fireMs / 1000).toFixed(1)} s after kill -9, ` +
        `resolved ${(resolveMs / 1000).toFixed(1)} s after the restart signal`,
    );
    // Scrape + for + evaluation is about 5 s; the bound leaves room for a loaded 2-core machine.
    expect(fireMs).toBeLessThan(30_000);
  }, 180_000);
});
