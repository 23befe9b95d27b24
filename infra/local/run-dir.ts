// The run dir of a local cluster: rendered config (conf/), data, logs, generated secrets, and the
// supervisor's lock and state files. The lock (supervisor.pid, created exclusively) makes a second
// `up` in the same run dir fail clearly; state.json lets `status` and `down` find the processes.
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ClusterRunningError } from './errors.ts';

export interface RunDirLayout {
  readonly root: string;
  readonly configDir: string;
  readonly logDir: string;
  readonly lockFile: string;
  readonly stateFile: string;
  readonly secretsFile: string;
  /** Output of a detached supervisor (progress lines, its own errors). */
  readonly supervisorLog: string;
}

export function runDirLayout(root: string): RunDirLayout {
  return {
    root,
    configDir: join(root, 'conf'),
    logDir: join(root, 'logs'),
    lockFile: join(root, 'supervisor.pid'),
    stateFile: join(root, 'state.json'),
    secretsFile: join(root, 'secrets.json'),
    supervisorLog: join(root, 'logs', 'supervisor.log'),
  };
}

export type Phase = 'starting' | 'ready' | 'stopping' | 'stopped' | 'failed';

export interface ProcessState {
  readonly name: string;
  readonly kind: string;
  readonly pid: number | null;
  /** `running`, `exited` (with code or signal), or `stopped` by the supervisor. */
  readonly status: 'starting' | 'running' | 'exited' | 'stopped';
  readonly exit?: string;
  readonly healthUrl: string;
  readonly logFile: string;
  readonly configFile: string;
}

export interface ClusterState {
  readonly supervisorPid: number;
  readonly configFile: string;
  readonly phase: Phase;
  readonly startedAt: string;
  readonly readyAt?: string;
  /** Milliseconds from the supervisor's start to ready. */
  readonly readyMs?: number;
  readonly error?: string;
  readonly processes: readonly ProcessState[];
}

/** Whether `pid` runs. A zombie (exited, not yet reaped by whoever adopted it) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** Reads the pid in the lock file, or null when there is none. */
export function lockHolder(layout: RunDirLayout): number | null {
  try {
    const pid = Number.parseInt(readFileSync(layout.lockFile, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** The pid of the live supervisor of this run dir, or null. */
export function runningSupervisor(layout: RunDirLayout): number | null {
  const pid = lockHolder(layout);
  return pid !== null && isAlive(pid) ? pid : null;
}

/**
 * Takes the run dir's lock for `pid`. A lock left by a dead supervisor is taken over; a live one
 * throws ClusterRunningError. O_EXCL makes two concurrent `up`s race safely.
 */
export function acquireLock(layout: RunDirLayout, pid = process.pid): void {
  mkdirSync(layout.root, { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(layout.lockFile, 'wx', 0o644);
      writeSync(fd, `${pid}\n`);
      closeSync(fd);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = lockHolder(layout);
      if (holder !== null && holder !== pid && isAlive(holder)) throw new ClusterRunningError(layout.root, holder);
      if (holder === pid) return;
      // Stale lock (or one being written right now: retry once it has content).
      if (holder === null && attempt === 0) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
        continue;
      }
      rmSync(layout.lockFile, { force: true });
    }
  }
  throw new ClusterRunningError(layout.root, lockHolder(layout) ?? 0);
}

/** Hands the lock over to another pid (the detached supervisor). */
export function transferLock(layout: RunDirLayout, pid: number): void {
  writeFileSync(`${layout.lockFile}.tmp`, `${pid}\n`);
  renameSync(`${layout.lockFile}.tmp`, layout.lockFile);
}

export function releaseLock(layout: RunDirLayout, pid = process.pid): void {
  if (lockHolder(layout) === pid) rmSync(layout.lockFile, { force: true });
}

export function readState(layout: RunDirLayout): ClusterState | null {
  if (!existsSync(layout.stateFile)) return null;
  try {
    return JSON.parse(readFileSync(layout.stateFile, 'utf8')) as ClusterState;
  } catch {
    return null;
  }
}

export function writeState(layout: RunDirLayout, state: ClusterState): void {
  const tmp = `${layout.stateFile}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, layout.stateFile);
}

/**
 * Whether `pid` is still the process that was started with `configFile` (guards against pid
 * reuse before signalling a recorded pid). Without /proc, trusts the pid.
 */
export function isProcessOf(pid: number, configFile: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(configFile);
  } catch {
    return existsSync('/proc/self') ? false : true;
  }
}

/**
 * The run dirs below the config file's folder (`.run/<name>`, where `up` puts them by default)
 * whose state.json says they were started from `configFile`. For `down` when cluster.yaml no
 * longer validates, so the run dir cannot be resolved from it.
 */
export function runDirsStartedFrom(configFile: string): string[] {
  const config = resolve(configFile);
  const parent = join(dirname(config), '.run');
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return [];
  }
  return names.map((n) => join(parent, n)).filter((root) => readState(runDirLayout(root))?.configFile === config);
}
