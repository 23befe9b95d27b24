// The local backend: from a resolved local plan and its rendered files to running processes.
// `runForeground` is the supervisor itself (Ctrl-C / SIGTERM stop it gracefully); `runDetached`
// starts that supervisor in the background and returns once it reports ready; `stopCluster` is
// `down`.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plan, RenderedFile } from '../plan/types.ts';
import { findEtcdBinary, checkPortsFree } from './preflight.ts';
import { launchSpecs, type ProcessSpec } from './processes.ts';
import {
  acquireLock,
  isAlive,
  isProcessOf,
  readState,
  releaseLock,
  runDirLayout,
  runDirsStartedFrom,
  runningSupervisor,
  type ProcessState,
  type RunDirLayout,
} from './run-dir.ts';
import { enableEtcdAccessControl, localCertificates } from './rbac.ts';
import { ensureSecrets, type ClusterSecrets } from './secrets.ts';
import type { ClusterCerts } from './tls.ts';
import { STOP_ORDER, Supervisor, type SupervisorOptions } from './supervisor.ts';
import { ClusterRunningError, LocalClusterError, PortInUseError } from './errors.ts';
import { findMariadbBinaries, runningLocalMariadb, startLocalMariadb, type LocalMariadb } from './mariadb.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Set in the environment of a detached supervisor, so `up` knows it is that supervisor. */
export const SUPERVISOR_ENV = 'DTABLE_CLUSTER_SUPERVISOR';

export interface LocalCluster {
  readonly plan: Plan;
  readonly files: readonly RenderedFile[];
  readonly layout: RunDirLayout;
  readonly specs: readonly ProcessSpec[];
  /** cluster.yaml (absolute). */
  readonly configFile: string;
}

/** Lays out the run dir and the processes; checks the etcd binary. No process is started. */
export function localCluster(plan: Plan, files: readonly RenderedFile[], configFile: string): LocalCluster {
  if (plan.target !== 'local' || !plan.runDir) throw new Error('the local launcher needs a plan resolved for the local target');
  const layout = runDirLayout(plan.runDir);
  const etcdBin = findEtcdBinary();
  if (plan.storage.kind === 'mariadb') findMariadbBinaries();
  const specs = launchSpecs(plan, files, {
    configDir: layout.configDir,
    logDir: layout.logDir,
    repoRoot: REPO_ROOT,
    nodeBin: process.execPath,
    etcdBin,
  });
  return { plan, files, layout, specs, configFile: resolve(configFile) };
}

export interface Output {
  line(text: string): void;
}

export interface ForegroundOptions {
  /** Writes the rendered files into `<runDir>/config` (injected: rendering lives in infra/render). */
  readonly writeRendered: (files: readonly RenderedFile[], outDir: string) => void;
  /** Called once every process is healthy, before the cluster is reported ready (e.g. waits for the assignment and prints the endpoint table). */
  readonly onReady?: (cluster: LocalCluster, secrets: ClusterSecrets) => Promise<void>;
  /** After each start-up stage is healthy (see SupervisorOptions.afterStage). */
  readonly afterStage?: SupervisorOptions['afterStage'];
  readonly out: Output;
}

/**
 * Runs the cluster in this process until SIGINT/SIGTERM, then stops it gracefully. Resolves with
 * the exit code. Throws LocalClusterError for user errors found before anything started.
 */
export async function runForeground(cluster: LocalCluster, opts: ForegroundOptions): Promise<number> {
  const { layout, plan, specs } = cluster;
  const fresh = !existsSync(layout.root);
  acquireLock(layout);
  const out = opts.out;
  const db = runningLocalMariadb(layout.root);
  const leftovers = [...leftoverProcesses(layout), ...(db === null ? [] : [{ name: 'mariadb', pid: db }])];
  if (leftovers.length > 0) {
    releaseLock(layout);
    throw new LocalClusterError(
      `processes of an earlier run in ${layout.root} are still running without their supervisor: ${leftovers.map((p) => `${p.name} (pid ${p.pid})`).join(', ')}`,
      'run `npx dtable-cluster down` to stop them, then `up` again',
    );
  }
  let supervisor: Supervisor | null = null;
  let mariadb: LocalMariadb | null = null;
  let signalled = 0;
  let wake: () => void = () => undefined;
  const stopRequested = new Promise<void>((r) => (wake = r));
  const onSignal = (sig: NodeJS.Signals) => {
    signalled++;
    if (signalled === 1) {
      out.line(`${sig}: stopping the cluster (again to kill it at once)`);
      wake();
    } else {
      out.line(`${sig} again: killing every process`);
      supervisor?.killAll();
    }
  };
  // SIGUSR2 (SIGUSR1 belongs to Node's inspector): start again whatever has exited.
  const onRestart = () => {
    if (!supervisor || supervisor.isStopping) return;
    supervisor.startExited().then(
      (names) => out.line(names.length ? `restarted ${names.join(', ')}` : 'SIGUSR2: every component is running'),
      (err: Error) => out.line(`! restart failed: ${err.message}`),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  process.on('SIGUSR2', onRestart);
  try {
    await checkPortsFree(specs).catch((err: unknown) => {
      if (!(err instanceof PortInUseError)) throw err;
      // Most often the same cluster.yaml already running from another run dir: say so.
      const other = runDirsStartedFrom(cluster.configFile)
        .filter((root) => root !== layout.root)
        .map((root) => ({ runDir: root, pid: runningSupervisor(runDirLayout(root)) }))
        .find((c): c is { runDir: string; pid: number } => c.pid !== null);
      if (fresh) rmSync(layout.root, { recursive: true, force: true });
      throw other ? new PortInUseError(err.host, err.port, err.instance, err.slot, other) : err;
    });
    const secrets = ensureSecrets(plan, layout.secretsFile);
    if (plan.etcd.tls) await localCertificatesOf(plan);
    mkdirSync(layout.configDir, { recursive: true });
    opts.writeRendered(cluster.files, layout.configDir);
    for (const dir of [...plan.etcd.members, ...plan.nodes, ...plan.monitors, plan.web, plan.proxy].map((i) => i.dataDir)) {
      if (dir) mkdirSync(dir, { recursive: true });
    }
    out.line(`run dir ${layout.root}`);
    // Base storage first and stopped last: nodes flush into it when they stop.
    mariadb = await startMariadbOf(plan, layout, secrets, out);
    supervisor = new Supervisor({
      specs,
      layout,
      configFile: cluster.configFile,
      cwd: REPO_ROOT,
      env: { ...process.env, ...secrets.env, [SUPERVISOR_ENV]: '' },
      log: (l) => out.line(l),
      afterStage: async (kinds) => {
        // Roles and users before any runtime process connects; then etcd refuses everyone else.
        if (kinds.has('etcd') && plan.etcd.tls) await enableEtcdAccessControl(plan, await localCertificatesOf(plan));
        await opts.afterStage?.(kinds);
      },
    });
    const sup = supervisor;
    const started = (async () => {
      await sup.start();
      await opts.onReady?.(cluster, secrets);
    })();
    const first = await Promise.race([started.then(() => 'ready' as const), stopRequested.then(() => 'stop' as const)]);
    if (first === 'ready') {
      sup.markReady();
      // A detached supervisor has no terminal: only `down` reaches it.
      out.line(process.env[SUPERVISOR_ENV] === '1' ? 'ready. `npx dtable-cluster down` stops the cluster.' : 'ready. Ctrl-C or `npx dtable-cluster down` stops the cluster.');
      await stopRequested;
    } else {
      started.catch(() => undefined);
    }
    await sup.stop();
    await stopMariadb(mariadb, out);
    out.line('stopped; no process left running');
    return 0;
  } catch (err) {
    if (supervisor) {
      supervisor.markFailed(err as Error);
      await supervisor.stop();
    }
    await stopMariadb(mariadb, out);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    process.off('SIGUSR2', onRestart);
    releaseLock(layout);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `storage: {kind: mariadb}`: a private MariaDB under the run dir on the plan's local port. */
async function startMariadbOf(plan: Plan, layout: RunDirLayout, secrets: ClusterSecrets, out: Output): Promise<LocalMariadb | null> {
  const st = plan.storage;
  if (st.kind !== 'mariadb' || !st.server) return null;
  await checkPortsFree([{ name: st.server.name, ports: [{ host: st.server.listenHost, port: st.port, slot: `${st.server.name}.client` }] }]);
  const t0 = Date.now();
  const db = await startLocalMariadb({
    dir: st.server.dataDir,
    host: st.server.listenHost,
    port: st.port,
    database: st.database,
    user: st.user,
    password: secrets.storagePassword ?? '',
    logFile: join(layout.logDir, `${st.server.name}.log`),
  });
  out.line(`  ✓ ${st.server.name} (pid ${db.pid}) serves ${st.host}:${st.port}/${st.database} in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  return db;
}

async function stopMariadb(db: LocalMariadb | null, out: Output): Promise<void> {
  if (!db?.running) return;
  const t0 = Date.now();
  await db.stop();
  out.line(`  ✓ stopped mariadb in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
}

/** Generates (or reuses) the run dir's certificates; they must be where the plan and the rendered configs say. */
async function localCertificatesOf(plan: Plan): Promise<ClusterCerts> {
  const certs = await localCertificates(plan, plan.runDir);
  for (const [user, files] of Object.entries(plan.etcd.tls?.clients ?? {})) {
    if (certs.clients[user]?.cert_file !== files.cert_file) throw new Error(`certificate of ${user} not at ${files.cert_file}`);
  }
  return certs;
}

/**
 * Starts `node <cli> <argv>` as a detached supervisor writing to `<runDir>/logs/supervisor.log`,
 * echoes that log until the supervisor reports ready or fails. Resolves with the exit code.
 */
export async function runDetached(cluster: LocalCluster, cliArgv: readonly string[], out: Output, timeoutMs = 120_000): Promise<number> {
  const { layout } = cluster;
  const holder = runningSupervisor(layout);
  if (holder !== null) throw new ClusterRunningError(layout.root, holder);
  const fresh = !existsSync(layout.root);
  mkdirSync(layout.logDir, { recursive: true });
  const fd = openSync(layout.supervisorLog, 'a');
  const logStart = statSync(layout.supervisorLog).size;
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'dtable-cluster.mjs'), ...cliArgv], {
    cwd: process.cwd(),
    env: { ...process.env, [SUPERVISOR_ENV]: '1' },
    stdio: ['ignore', fd, fd],
    detached: true,
  });
  closeSync(fd);
  const pid = child.pid!;
  let exitCode: number | null = null;
  child.once('exit', (code) => (exitCode = code ?? 1));
  child.unref();
  let printed = logStart;
  const echo = () => {
    try {
      const text = readFileSync(layout.supervisorLog).subarray(printed);
      const lastNl = text.lastIndexOf(10);
      if (lastNl >= 0) {
        process.stdout.write(text.subarray(0, lastNl + 1));
        printed += lastNl + 1;
      }
    } catch {
      /* not yet written */
    }
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    echo();
    const state = readState(layout);
    if (state?.supervisorPid === pid && state.phase === 'ready') {
      out.line(`supervisor pid ${pid} runs in the background; \`npx dtable-cluster down\` stops it. Its log: ${layout.supervisorLog}`);
      return 0;
    }
    if (exitCode !== null || !isAlive(pid)) {
      await sleep(50);
      echo();
      // Refused before starting anything (its error is echoed above): leave no run dir behind.
      if (fresh && readState(layout) === null) rmSync(layout.root, { recursive: true, force: true });
      return exitCode || 1;
    }
    await sleep(100);
  }
  out.line(`the cluster did not become ready within ${timeoutMs / 1000}s; stopping it`);
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    /* gone */
  }
  return 1;
}

/** Signals a child's process group (each child leads its own), or the pid alone if that fails. */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* gone */
    }
  }
}

/** Processes recorded in state.json that are still the ones started for this run dir. */
export function leftoverProcesses(layout: RunDirLayout): ProcessState[] {
  return (readState(layout)?.processes ?? []).filter((p) => p.pid !== null && isProcessOf(p.pid, p.configFile));
}

export interface StopResult {
  /** Whether a supervisor was running. */
  readonly wasRunning: boolean;
  /** Processes left by a dead supervisor that were killed. */
  readonly orphansKilled: readonly string[];
}

/** The local MariaDB left by a dead supervisor: SIGTERM, then SIGKILL. */
async function stopOrphanMariadb(layout: RunDirLayout): Promise<boolean> {
  const pid = runningLocalMariadb(layout.root);
  if (pid === null) return false;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  return true;
}

/** `down`: signals the run dir's supervisor and waits until it and every child are gone. */
export async function stopCluster(layout: RunDirLayout, out: Output, timeoutMs = 90_000): Promise<StopResult> {
  const pid = runningSupervisor(layout);
  if (pid === null) {
    // The supervisor is gone (kill -9?): stop what it left behind, in the same order, gracefully.
    const orphans = leftoverProcesses(layout);
    for (const kind of STOP_ORDER) {
      const group = orphans.filter((p) => p.kind === kind);
      if (group.length === 0) continue;
      const t0 = Date.now();
      // etcd members one by one, as the supervisor does (together they wait on leader transfer).
      for (const batch of kind === 'etcd' ? group.map((p) => [p]) : [group]) {
        for (const p of batch) signalGroup(p.pid!, 'SIGTERM');
        const deadline = Date.now() + 15_000;
        while (batch.some((p) => isAlive(p.pid!)) && Date.now() < deadline) await sleep(50);
        for (const p of batch) signalGroup(p.pid!, 'SIGKILL');
      }
      out.line(`  ✓ stopped ${group.map((p) => p.name).join(', ')} in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    }
    const db = await stopOrphanMariadb(layout);
    if (db) out.line(`  ✓ stopped mariadb`);
    return { wasRunning: false, orphansKilled: [...orphans.map((p) => p.name), ...(db ? ['mariadb'] : [])] };
  }
  out.line(`stopping the cluster in ${layout.root} (supervisor pid ${pid})`);
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid) && leftoverProcesses(layout).length === 0) return { wasRunning: true, orphansKilled: [] };
    await sleep(100);
  }
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  const left = leftoverProcesses(layout);
  for (const p of left) signalGroup(p.pid!, 'SIGKILL');
  throw new LocalClusterError(
    `the cluster did not stop within ${timeoutMs / 1000}s; killed the supervisor and ${left.map((p) => p.name).join(', ') || 'no other process'}`,
    `see the logs in ${layout.logDir}`,
  );
}
