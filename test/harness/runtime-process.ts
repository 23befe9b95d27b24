// One runtime role (`node --import tsx runtime/<role>/main.ts --config FILE`) as a child process of
// the test: its output kept for diagnosis, start again after a kill, stop with a signal, and a
// wait for its /health. Every child is killed when the test process exits, even if a test forgot.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { until } from './until.ts';

const ROOT = resolve(import.meta.dirname, '../..');

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/** SIGKILL `p` when the test process exits, unless it has exited by then. */
export function killOnExit(p: ChildProcess): void {
  live.add(p);
  p.once('exit', () => live.delete(p));
}

export interface RuntimeProcessOptions {
  role: 'node' | 'proxy' | 'web' | 'monitor';
  configFile: string;
  /** Names the process in timeout messages (`<name> /health`). */
  name: string;
  healthUrl: string;
  env?: Record<string, string>;
  /** Output chunks kept; the older half is dropped when exceeded. */
  logChunks?: number;
  /** Abort a /health probe after this long (default: no limit). */
  probeTimeoutMs?: number;
  /** Run inside this network namespace (`ip netns exec`, test/hosts). */
  netns?: string;
}

export class RuntimeProcess {
  proc: ChildProcess | null = null;
  readonly logs: string[] = [];
  constructor(private readonly opts: RuntimeProcessOptions) {}

  get configFile(): string {
    return this.opts.configFile;
  }

  start(env: Record<string, string> = {}): void {
    const args = ['--import', 'tsx', `runtime/${this.opts.role}/main.ts`, '--config', this.opts.configFile];
    const [bin, argv] = this.opts.netns ? ['ip', ['netns', 'exec', this.opts.netns, process.execPath, ...args]] : [process.execPath, args];
    const p = spawn(bin, argv, {
      cwd: ROOT,
      env: { ...process.env, ...this.opts.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    killOnExit(p);
    const max = this.opts.logChunks ?? 2000;
    const keep = (b: Buffer) => {
      this.logs.push(b.toString());
      if (this.logs.length > max) this.logs.splice(0, max / 2);
    };
    p.stdout!.on('data', keep);
    p.stderr!.on('data', keep);
    this.proc = p;
  }

  async ready(): Promise<void> {
    const { healthUrl, probeTimeoutMs } = this.opts;
    const probe = () => fetch(healthUrl, probeTimeoutMs === undefined ? {} : { signal: AbortSignal.timeout(probeTimeoutMs) });
    await until(`${this.opts.name} /health`, async () => (await probe()).ok, 30_000, 100);
  }

  signal(sig: NodeJS.Signals): void {
    this.proc?.kill(sig);
  }

  /** Send a signal and wait for the exit code. */
  async stop(sig: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return p?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    // A process paused with SIGSTOP acts on SIGTERM only once continued.
    if (sig !== 'SIGKILL') p.kill('SIGCONT');
    p.kill(sig);
    return exited;
  }
}
