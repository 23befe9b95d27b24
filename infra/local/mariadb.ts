// A private MariaDB server from Debian's binaries (mariadb-install-db, mariadbd): its own datadir,
// its own loopback port, its unix socket beside the datadir. `up` runs one when cluster.yaml says
// `storage: {kind: mariadb}`; the integration tests run one per test file. The database and the
// nodes' user are created on every start (idempotent), so a regenerated password takes effect.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import mariadb, { type Connection } from 'mariadb';
import { LocalClusterError } from './errors.ts';
import { isAlive } from './run-dir.ts';

/** mariadbd or mariadb-install-db is not installed. */
export class MariadbBinaryMissingError extends LocalClusterError {
  override name = 'MariadbBinaryMissingError';
  constructor(readonly binary: string) {
    super(
      `${binary} not found (cluster.yaml storage.kind is mariadb, so \`up\` starts a local MariaDB)`,
      'install Debian\'s `mariadb-server` (sudo apt-get install mariadb-server), run bin/up which installs it, or use `storage: {kind: filesystem}` for a one-host cluster',
    );
  }
}

export interface LocalMariadbSpec {
  /** Parent folder: `data/` (datadir) and the socket live below it. */
  readonly dir: string;
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
  /** mariadbd's error log. */
  readonly logFile: string;
  /** Command prefix mariadbd runs under, e.g. `ip netns exec <ns>` (tests on namespace hosts). */
  readonly prefix?: readonly string[];
}

function findBinary(name: string, extra: readonly string[], env: NodeJS.ProcessEnv): string {
  const dirs = [...(env.PATH ?? '').split(delimiter).filter(Boolean), ...extra];
  for (const d of dirs) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  throw new MariadbBinaryMissingError(name);
}

/** Absolute paths of mariadbd and mariadb-install-db (Debian puts mariadbd in /usr/sbin). */
export function findMariadbBinaries(env: NodeJS.ProcessEnv = process.env): { server: string; installDb: string } {
  return {
    server: findBinary('mariadbd', ['/usr/sbin', '/usr/bin'], env),
    installDb: findBinary('mariadb-install-db', ['/usr/bin', '/usr/sbin'], env),
  };
}

/** Where `up` keeps its MariaDB (the plan's storage server dataDir for the local target). */
export function localMariadbDir(runDir: string): string {
  return join(runDir, 'data', 'mariadb');
}

/** mariadbd's pid file below `dir` (read by `down` when the supervisor died). */
export function mariadbPidFile(dir: string): string {
  return join(dir, 'mariadbd.pid');
}

/** The pid of the run dir's local mariadbd when one runs (its pid file names a live mariadbd), else null. */
export function runningLocalMariadb(runDir: string): number | null {
  let pid: number;
  try {
    pid = Number(readFileSync(mariadbPidFile(localMariadbDir(runDir)), 'utf8').trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return null;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('mariadbd') ? pid : null;
  } catch {
    return null;
  }
}

/** A unix socket path must fit sun_path (108 bytes); long run dirs get one in the temp dir. */
export function mariadbSocketPath(dir: string): string {
  const p = join(dir, 'mariadb.sock');
  return p.length <= 100 ? p : join(tmpdir(), `mariadb-${createHash('sha256').update(dir).digest('hex').slice(0, 16)}.sock`);
}

const isRoot = () => process.getuid?.() === 0;

/** mariadbd's command line for `spec` (as root it must be told to stay root). */
export function mariadbArgs(spec: LocalMariadbSpec): string[] {
  return [
    '--no-defaults',
    `--datadir=${join(spec.dir, 'data')}`,
    `--port=${spec.port}`,
    `--bind-address=${spec.host}`,
    `--socket=${mariadbSocketPath(spec.dir)}`,
    `--pid-file=${mariadbPidFile(spec.dir)}`,
    `--log-error=${spec.logFile}`,
    '--skip-name-resolve',
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_bin',
    // Small: a local cluster and tests, not production sizing (docs/deploy.md).
    '--innodb-buffer-pool-size=64M',
    '--innodb-log-file-size=32M',
    '--max-connections=200',
    // A base's snapshot is one row (docs/deploy.md, sizing).
    '--max-allowed-packet=256M',
    ...(isRoot() ? ['--user=root'] : []),
  ];
}

export class LocalMariadb {
  private exited: Promise<void>;
  private exitCode: number | null = null;

  constructor(
    readonly spec: LocalMariadbSpec,
    private proc: ChildProcess,
  ) {
    this.exited = new Promise((r) => proc.once('exit', (code) => ((this.exitCode = code ?? 1), r())));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get running(): boolean {
    return this.exitCode === null;
  }

  signal(sig: NodeJS.Signals): void {
    try {
      this.proc.kill(sig);
    } catch {
      /* gone */
    }
  }

  /** Graceful shutdown (SIGTERM), SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 30_000): Promise<void> {
    if (!this.running) return;
    this.signal('SIGTERM');
    const t = setTimeout(() => this.signal('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(t);
  }

  /** Start mariadbd again on the same datadir and port (after stop or a kill). */
  async restart(timeoutMs = 60_000): Promise<void> {
    await this.stop();
    const again = await startLocalMariadb(this.spec, timeoutMs);
    this.proc = again.proc;
    this.exitCode = null;
    this.exited = again.exited;
  }
}

/** Creates the datadir on first use, starts mariadbd, waits until it answers, creates the database and user. */
export async function startLocalMariadb(spec: LocalMariadbSpec, timeoutMs = 60_000): Promise<LocalMariadb> {
  const bins = findMariadbBinaries();
  const dataDir = join(spec.dir, 'data');
  mkdirSync(spec.dir, { recursive: true });
  if (!existsSync(join(dataDir, 'mysql'))) {
    const r = spawnSync(
      bins.installDb,
      ['--no-defaults', `--datadir=${dataDir}`, '--auth-root-authentication-method=normal', '--skip-test-db', ...(isRoot() ? ['--user=root'] : [])],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) throw new LocalClusterError(`mariadb-install-db failed for ${dataDir}: ${(r.stderr || r.stdout || '').trim().split('\n').slice(-5).join('\n')}`, 'check that the folder is writable and mariadb-server is installed');
  }
  // The log's folder may not exist yet (a first foreground `up` opens it before any other log).
  mkdirSync(dirname(spec.logFile), { recursive: true });
  const fd = openSync(spec.logFile, 'a');
  // Its own process group: a Ctrl-C meant for `up` must not stop MariaDB before the nodes flushed.
  const [cmd, ...args] = [...(spec.prefix ?? []), bins.server, ...mariadbArgs(spec)];
  const proc = spawn(cmd!, args, { stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  const db = new LocalMariadb(spec, proc);
  const socketPath = mariadbSocketPath(spec.dir);
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    if (!db.running) {
      throw new LocalClusterError(`mariadbd exited while starting: ${tail(spec.logFile)}`, `see ${spec.logFile}`);
    }
    try {
      const conn = await mariadb.createConnection({ socketPath, user: 'root', connectTimeout: 1000 });
      try {
        await bootstrap(conn, spec);
      } finally {
        await conn.end();
      }
      return db;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      await db.stop();
      throw new LocalClusterError(`mariadbd did not answer within ${timeoutMs / 1000}s: ${(last as Error)?.message ?? ''}`, `see ${spec.logFile}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function bootstrap(conn: Connection, spec: LocalMariadbSpec): Promise<void> {
  const db = conn.escapeId(spec.database);
  await conn.query(`CREATE DATABASE IF NOT EXISTS ${db} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  await conn.query(`CREATE USER IF NOT EXISTS ?@'%' IDENTIFIED BY ?`, [spec.user, spec.password]);
  await conn.query(`ALTER USER ?@'%' IDENTIFIED BY ?`, [spec.user, spec.password]);
  await conn.query(`GRANT ALL PRIVILEGES ON ${db}.* TO ?@'%'`, [spec.user]);
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-5).join('\n');
  } catch {
    return '';
  }
}
