// The local launcher's supervisor: starts every component as a child process in its own process
// group, stage by stage (etcd → nodes, proxy, web → monitors), waits for each stage's health
// checks, and stops everything in reverse: SIGTERM per stage, SIGKILL to the group of whatever is
// still there after the stage's timeout, so no process outlives the supervisor.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ComponentStartError } from './errors.ts';
import { stagesOf, type ProcessSpec } from './processes.ts';
import { writeState, type ClusterState, type Phase, type ProcessState, type RunDirLayout } from './run-dir.ts';
import type { ComponentKind } from '../plan/types.ts';

/** Stop order: the front doors first; the monitor before the nodes, so
 * stopping nodes does not make it reassign their buckets (the assignment persists and the next
 * `up` resumes it); etcd last, because nodes need it to hand off. */
export const STOP_ORDER: readonly ComponentKind[] = ['web', 'proxy', 'monitor', 'node', 'etcd'];

export interface SupervisorOptions {
  readonly specs: readonly ProcessSpec[];
  readonly layout: RunDirLayout;
  /** cluster.yaml the cluster was started from (recorded in state.json). */
  readonly configFile: string;
  readonly cwd: string;
  /** Environment of every child (secrets included). */
  readonly env: NodeJS.ProcessEnv;
  /** Progress and event lines for the operator. */
  readonly log: (line: string) => void;
  /** Per stage: how long its processes may take to become healthy. */
  readonly stageTimeoutMs?: number;
  /**
   * Runs after each stage is healthy, before the next starts (e.g. to set up etcd access control
   * once etcd serves and before any client connects).
   */
  readonly afterStage?: (kinds: ReadonlySet<ComponentKind>) => Promise<void>;
}

interface Child {
  readonly spec: ProcessSpec;
  proc: ChildProcess | null;
  status: ProcessState['status'];
  exit?: string;
  exited: Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function probe(url: string, timeoutMs = 1000): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer().catch(() => undefined);
    return res.status === 200;
  } catch {
    return false;
  }
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    /* group already gone */
  }
}

export class Supervisor {
  private readonly children = new Map<string, Child>();
  private phase: Phase = 'starting';
  private readonly startedAt = new Date();
  private readyAt: Date | undefined;
  private error: string | undefined;
  private stopping: Promise<void> | null = null;

  constructor(private readonly opts: SupervisorOptions) {
    for (const spec of opts.specs) {
      this.children.set(spec.name, { spec, proc: null, status: 'stopped', exited: Promise.resolve() });
    }
    // Last resort: whatever way this process ends, its children end with it.
    process.once('exit', () => {
      for (const c of this.children.values()) if (c.proc && c.status !== 'exited') killGroup(c.proc.pid, 'SIGKILL');
    });
  }

  get isStopping(): boolean {
    return this.stopping !== null;
  }

  /** Starts every stage in order; resolves when all are healthy, throws ComponentStartError otherwise. */
  async start(): Promise<void> {
    mkdirSync(this.opts.layout.logDir, { recursive: true });
    this.save();
    for (const stage of stagesOf(this.opts.specs)) {
      if (this.stopping) throw new Error('stopped while starting');
      this.opts.log(`starting ${[...new Set(stage.map((s) => s.kind))].join(', ')}: ${stage.map((s) => s.name).join(', ')}`);
      for (const spec of stage) this.spawnChild(spec);
      this.save();
      await Promise.all(stage.map((spec) => this.waitHealthy(spec)));
      await this.opts.afterStage?.(new Set(stage.map((s) => s.kind)));
    }
  }

  markReady(): void {
    this.phase = 'ready';
    this.readyAt = new Date();
    this.save();
  }

  markFailed(err: Error): void {
    this.phase = 'failed';
    this.error = err.message;
    this.save();
  }

  /** Starts every component that is not running (after a crash or a manual kill). */
  async startExited(): Promise<string[]> {
    const started: string[] = [];
    for (const stage of stagesOf(this.opts.specs)) {
      const down = stage.filter((s) => {
        const c = this.children.get(s.name)!;
        return c.status === 'exited' || c.status === 'stopped';
      });
      for (const spec of down) {
        this.opts.log(`restarting ${spec.name}`);
        this.spawnChild(spec);
        started.push(spec.name);
      }
      this.save();
      await Promise.all(down.map((spec) => this.waitHealthy(spec)));
    }
    return started;
  }

  /** Stops everything in STOP_ORDER. Safe to call more than once (returns the same promise). */
  stop(): Promise<void> {
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  /** Kills every process group at once, without waiting for graceful shutdowns. */
  killAll(): void {
    for (const c of this.children.values()) if (c.proc) killGroup(c.proc.pid, 'SIGKILL');
  }

  state(): ClusterState {
    return {
      supervisorPid: process.pid,
      configFile: this.opts.configFile,
      phase: this.phase,
      startedAt: this.startedAt.toISOString(),
      ...(this.readyAt ? { readyAt: this.readyAt.toISOString(), readyMs: this.readyAt.getTime() - this.startedAt.getTime() } : {}),
      ...(this.error ? { error: this.error } : {}),
      processes: [...this.children.values()].map((c) => ({
        name: c.spec.name,
        kind: c.spec.kind,
        pid: c.proc?.pid ?? null,
        status: c.status,
        ...(c.exit ? { exit: c.exit } : {}),
        healthUrl: c.spec.healthUrl,
        logFile: c.spec.logFile,
        configFile: c.spec.configFile,
      })),
    };
  }

  private save(): void {
    writeState(this.opts.layout, this.state());
  }

  private spawnChild(spec: ProcessSpec): void {
    const child = this.children.get(spec.name)!;
    mkdirSync(dirname(spec.logFile), { recursive: true });
    const fd = openSync(spec.logFile, 'a');
    let proc: ChildProcess;
    try {
      // detached: own process group, so a terminal's Ctrl-C reaches only the supervisor, which
      // then stops the children in order, and a group kill also reaches any grandchildren.
      proc = spawn(spec.command, [...spec.args], {
        cwd: this.opts.cwd,
        env: this.opts.env,
        stdio: ['ignore', fd, fd],
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
    child.proc = proc;
    child.status = 'starting';
    delete child.exit;
    child.exited = new Promise<void>((resolve) => {
      proc.once('error', (err) => {
        child.status = 'exited';
        child.exit = err.message;
        this.save();
        resolve();
      });
      proc.once('exit', (code, signal) => {
        child.status = this.stopping ? 'stopped' : 'exited';
        child.exit = signal ? `signal ${signal}` : `code ${code}`;
        // Anything the process left in its group goes with it.
        killGroup(proc.pid, 'SIGKILL');
        if (!this.stopping && this.phase === 'ready') {
          this.opts.log(`! ${spec.name} exited (${child.exit}); log: ${spec.logFile}`);
        }
        this.save();
        resolve();
      });
    });
  }

  private async waitHealthy(spec: ProcessSpec): Promise<void> {
    const child = this.children.get(spec.name)!;
    const t0 = Date.now();
    const deadline = t0 + (this.opts.stageTimeoutMs ?? 30_000);
    const proc = child.proc;
    while (Date.now() < deadline) {
      if (child.proc !== proc || child.status === 'exited' || child.status === 'stopped') {
        throw new ComponentStartError(spec.name, `exited while starting (${child.exit ?? 'unknown'})`, spec.logFile, tail(spec.logFile));
      }
      if (await probe(spec.healthUrl)) {
        child.status = 'running';
        this.save();
        const secs = ((Date.now() - t0) / 1000).toFixed(1);
        this.opts.log(`  ✓ ${spec.name.padEnd(24)} ready in ${secs}s`);
        return;
      }
      await sleep(100);
    }
    throw new ComponentStartError(
      spec.name,
      `did not become healthy within ${Math.round((deadline - t0) / 1000)}s (${spec.healthUrl})`,
      spec.logFile,
      tail(spec.logFile),
    );
  }

  private async stopAll(): Promise<void> {
    this.phase = 'stopping';
    this.save();
    for (const kind of STOP_ORDER) {
      const group = [...this.children.values()].filter((c) => c.spec.kind === kind && c.proc && c.status !== 'exited' && c.status !== 'stopped');
      if (group.length === 0) continue;
      this.opts.log(`stopping ${kind}: ${group.map((c) => c.spec.name).join(', ')}`);
      const t0 = Date.now();
      if (kind === 'etcd') {
        // One member at a time: stopped together, each tries to hand its leadership to peers
        // that are going too and waits seconds for that; one by one each stops in ~0.1 s.
        for (const c of group.reverse()) await this.stopChild(c);
      } else {
        await Promise.all(group.map((c) => this.stopChild(c)));
      }
      this.opts.log(`  ✓ ${kind} stopped in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    }
    this.phase = 'stopped';
    this.save();
  }

  private async stopChild(c: Child): Promise<void> {
    const pid = c.proc?.pid;
    killGroup(pid, 'SIGTERM');
    const timedOut = await Promise.race([c.exited.then(() => false), sleep(c.spec.stopTimeoutMs).then(() => true)]);
    if (timedOut) {
      this.opts.log(`  ! ${c.spec.name} did not stop within ${c.spec.stopTimeoutMs / 1000}s; killing it`);
      killGroup(pid, 'SIGKILL');
      await c.exited;
    }
    killGroup(pid, 'SIGKILL');
  }
}
