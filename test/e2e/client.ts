// HTTP and CLI helpers the end-to-end suite and bench/cluster.ts use against a running local
// cluster: status through `dtable-cluster status --json`, bases through the web role, rows
// through the proxy. Nothing here reaches into the cluster's internals.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, type TestCluster } from './cli.ts';

export interface StatusJson {
  supervisor: { pid: number | null; running: boolean; phase: string | null };
  web: { url: string; healthy: boolean };
  proxy: { url: string; admin_url: string; healthy: boolean };
  storage: { kind: string; address?: string; database?: string; healthy?: boolean; dir?: string };
  etcd: {
    endpoints: string[];
    healthy: boolean;
    members: Array<{ name: string; client_url: string; healthy: boolean; reachable: boolean; is_leader: boolean; db_size_bytes: number | null; db_size_in_use_bytes: number | null }>;
    leader: string | null;
    revision: number | null;
    compact_revision: number | null;
    alarms: Array<{ member: string; member_id: string; alarm: string }>;
    quota_backend_bytes: number;
    advice: string[];
  };
  nodes: Array<{ node_id: string; node_url: string; local_node_url: string; live: boolean; buckets: number; owned: number; weight: number }>;
  monitor: { leader: string | null };
  assignment: { epoch: number | null; assigned: number; buckets: Record<string, string> } | null;
  processes: Array<{ name: string; kind: string; pid: number | null; status: string }>;
  error?: string;
}

export async function status(c: TestCluster): Promise<StatusJson> {
  const r = await runCli(['status', '--json', ...c.flags]);
  try {
    return JSON.parse(r.stdout) as StatusJson;
  } catch {
    throw new Error(`status --json printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

export function adminToken(c: TestCluster): string {
  return (JSON.parse(readFileSync(join(c.runDir, 'secrets.json'), 'utf8')) as { admin_token: string }).admin_token;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const trimSlash = (u: string) => u.replace(/\/+$/, '');

/** Polls `check` every `everyMs` until it returns a truthy value; resolves with it and the elapsed ms. */
export async function until<T>(what: string, check: () => Promise<T | null | undefined | false>, timeoutMs: number, everyMs = 50): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return { value: v, ms: performance.now() - t0 };
    } catch (err) {
      last = err;
    }
    if (performance.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${String(last)})` : ''}`);
    await sleep(everyMs);
  }
}

export interface CreatedBase {
  dtable_uuid: string;
  dtable_name: string;
  api_token: string;
}

export async function createBase(webUrl: string, admin: string, name: string): Promise<CreatedBase> {
  const res = await fetch(`${trimSlash(webUrl)}/api/v2.1/dtables/`, {
    method: 'POST',
    headers: { Authorization: `Token ${admin}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  const body = await res.text();
  if (res.status !== 200 && res.status !== 201) throw new Error(`create base: ${res.status} ${body}`);
  return JSON.parse(body) as CreatedBase;
}

export interface AppAccess {
  app_name: string;
  access_token: string;
  dtable_uuid: string;
  dtable_server: string;
  dtable_socket: string;
  dtable_name: string;
}

export async function appAccess(webUrl: string, apiToken: string): Promise<AppAccess> {
  const res = await fetch(`${trimSlash(webUrl)}/api/v2.1/dtable/app-access-token/`, { headers: { Authorization: `Token ${apiToken}` } });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`app-access-token: ${res.status} ${body}`);
  return JSON.parse(body) as AppAccess;
}

export interface Answer {
  status: number;
  node: string | null;
  body: unknown;
}

/** One request to the base's REST API at `server` (the proxy or a node). */
export async function baseRequest(server: string, token: string, method: string, path: string, body?: unknown, timeoutMs = 15_000): Promise<Answer> {
  const res = await fetch(`${trimSlash(server)}${path}`, {
    method,
    headers: { Authorization: `Token ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, node: res.headers.get('x-dtable-server-node'), body: parsed };
}

export const listRows = (server: string, a: AppAccess, table: string) =>
  baseRequest(server, a.access_token, 'GET', `/api/v1/dtables/${a.dtable_uuid}/rows/?table_name=${encodeURIComponent(table)}`);

export const appendRow = (server: string, a: AppAccess, table: string, row: Record<string, unknown>) =>
  baseRequest(server, a.access_token, 'POST', `/api/v1/dtables/${a.dtable_uuid}/rows/`, { table_name: table, row });

export const addTable = (server: string, a: AppAccess, table: string) =>
  baseRequest(server, a.access_token, 'POST', `/api/v1/dtables/${a.dtable_uuid}/tables/`, { table_name: table, lang: 'en', columns: [{ column_name: 'Name', column_type: 'text' }] });

/** Rows of a list-rows answer (`{rows: [...]}`). */
export function rowsOf(a: Answer): Array<Record<string, unknown>> {
  return ((a.body as { rows?: Array<Record<string, unknown>> })?.rows ?? []) as Array<Record<string, unknown>>;
}

export function pidOf(s: StatusJson, name: string): number {
  const p = s.processes.find((x) => x.name === name);
  if (!p?.pid) throw new Error(`no pid for ${name} in status`);
  return p.pid;
}

export function bucketOf(uuid: string): string {
  return uuid.replace(/-/g, '').slice(0, 2).toLowerCase();
}

/** Every pid whose command line mentions `needle` (e.g. the run dir), from /proc. */
export function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Stops a test cluster however far it got (`down`, then SIGKILL for stragglers) and removes its dir. */
export async function removeTestCluster(c: TestCluster): Promise<void> {
  await runCli(['down', ...c.flags]).catch(() => undefined);
  for (const pid of processesMentioning(c.runDir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  rmSync(c.dir, { recursive: true, force: true });
}

/** Whether a pid still runs (a zombie waiting to be reaped by its adopter counts as gone). */
export function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}
