// Runs the monitor as a real process (`node --import tsx runtime/monitor/main.ts --config ...`)
// with a config written to a temp dir; collects its JSON log lines for assertions.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { MonitorConfig } from '../../runtime/config/files.ts';
import { freePort } from './free-port.ts';
import { killOnExit } from './runtime-process.ts';

const ROOT = resolve(import.meta.dirname, '../..');

export interface MonitorProcess {
  readonly monitorId: string;
  readonly metricsUrl: string;
  readonly proc: ChildProcess;
  /** Parsed JSON log lines so far. */
  readonly logs: Array<Record<string, unknown>>;
  /** Non-JSON output (stderr), for diagnosis. */
  readonly stderr: string[];
  health(): Promise<{ is_leader: boolean; leader: string | null; epoch: number } | null>;
  metrics(): Promise<string>;
  waitForLog(pred: (l: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM and wait for exit (SIGKILL after 8 s); removes the temp dir. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

export async function startMonitor(
  hostList: string[],
  overrides: Partial<MonitorConfig> & { monitor_id: string },
): Promise<MonitorProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'dtable-monitor-'));
  const port = await freePort();
  const config = {
    etcd_host_list: hostList,
    key_prefix: '',
    lease_ttl: 3,
    election_ttl: 2,
    debounce_ms: 300,
    reconcile_interval_ms: 1000,
    rebalance_move_budget: 32,
    metrics_listen: { host: '127.0.0.1', port },
    ...overrides,
  };
  const file = join(dir, 'monitor.json');
  writeFileSync(file, JSON.stringify(config));
  const proc = spawn(process.execPath, ['--import', 'tsx', 'runtime/monitor/main.ts', '--config', file], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'debug' },
  });
  killOnExit(proc);
  const logs: Array<Record<string, unknown>> = [];
  const stderr: string[] = [];
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        logs.push(JSON.parse(line));
      } catch {
        stderr.push(line);
      }
    }
  });
  proc.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
  // The temp dir goes with the process, however it ends (stop(), a signal, a test timing out).
  const exited = new Promise<number | null>((r) =>
    proc.once('exit', (code) => {
      rmSync(dir, { recursive: true, force: true });
      r(code);
    }),
  );
  const metricsUrl = `http://127.0.0.1:${port}`;
  const health = async () => {
    try {
      const res = await fetch(`${metricsUrl}/health`, { signal: AbortSignal.timeout(1000) });
      return (await res.json()) as { is_leader: boolean; leader: string | null; epoch: number };
    } catch {
      return null;
    }
  };
  const m: MonitorProcess = {
    monitorId: overrides.monitor_id,
    metricsUrl,
    proc,
    logs,
    stderr,
    health,
    metrics: async () => (await fetch(`${metricsUrl}/metrics`)).text(),
    waitForLog: async (pred, ms = 15_000) => {
      const end = Date.now() + ms;
      for (;;) {
        const hit = logs.find(pred);
        if (hit) return hit;
        if (Date.now() > end) throw new Error(`log line not seen within ${ms} ms; stderr: ${stderr.join('').slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    signal: (sig) => proc.kill(sig),
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGCONT');
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 8000);
        await exited;
        clearTimeout(t);
      }
      return proc.exitCode;
    },
    exited,
  };
  // Ready once /health answers.
  const end = Date.now() + 20_000;
  while (!(await health())) {
    if (proc.exitCode !== null) throw new Error(`monitor exited with ${proc.exitCode}: ${stderr.join('')}`);
    if (Date.now() > end) {
      await m.stop();
      throw new Error(`monitor did not start: ${stderr.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return m;
}
