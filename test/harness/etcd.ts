// A real etcd cluster for integration tests: N members from the `etcd` binary on free loopback
// ports, data in a temp dir, everything killed and removed by stop() — and on process exit, so a
// crashed test run leaves no etcd behind.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { etcdTlsFlags } from '../../infra/local/tls.ts';

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
}

export interface EtcdTestCluster {
  /** `http://127.0.0.1:port` per member. */
  readonly endpoints: string[];
  /** `127.0.0.1:port` per member (SeaTable's etcd_host_list form). */
  readonly hostList: string[];
  readonly members: EtcdMember[];
  /** SIGTERM member i and wait for it to exit (its data dir is kept). */
  stopMember(i: number): Promise<void>;
  /** Start member i again (after stopMember) and wait until it serves. */
  startMember(i: number): Promise<void>;
  /** SIGSTOP member i: its connections stay open and nothing answers (a silent member). */
  pauseMember(i: number): void;
  /** SIGCONT member i after pauseMember. */
  resumeMember(i: number): void;
  /** Index of the current raft leader, from `etcdctl endpoint status` of the given members (default all). */
  leaderIndex(among?: number[]): Promise<number>;
  /** Run etcdctl (API v3) against all endpoints; resolves with stdout, rejects with stderr. */
  etcdctl(args: string[]): Promise<string>;
  /** Kill every member and remove the data dirs. Safe to call twice. */
  stop(): Promise<void>;
}

export interface EtcdClusterOptions {
  size?: number;
  maxTxnOps?: number;
  extraArgs?: string[];
  /**
   * TLS on client and peer URLs with client-certificate auth: per member index its certificate
   * (serverAuth + clientAuth, SAN 127.0.0.1), and the client certificate etcdctl uses.
   */
  tls?: { member(i: number, name: string): { ca_file: string; cert_file: string; key_file: string }; client: { ca_file: string; cert_file: string; key_file: string } };
}

/** The etcd binary is not installed. */
export class EtcdBinaryMissingError extends Error {
  override name = 'EtcdBinaryMissingError';
  constructor(readonly path: string) {
    super(`etcd binary not found at ${path}: install the Debian package \`etcd-server\` (apt-get install etcd-server), or set ETCD_BIN`);
  }
}

const ETCD_BIN = process.env.ETCD_BIN ?? '/usr/bin/etcd';
const ETCDCTL_BIN = process.env.ETCDCTL_BIN ?? '/usr/bin/etcdctl';

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = () => {
    for (const p of live) {
      try {
        p.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(130);
    });
  }
}

/** Ports handed out by this process, so concurrent clusters in one process never collide. */
const handedOut = new Set<number>();
async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address();
        const p = typeof addr === 'object' && addr ? addr.port : 0;
        srv.close(() => resolve(p));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

function run(bin: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { env, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${bin} ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

export async function startEtcdCluster(opts: EtcdClusterOptions = {}): Promise<EtcdTestCluster> {
  if (!existsSync(ETCD_BIN)) throw new EtcdBinaryMissingError(ETCD_BIN);
  installExitHook();
  const size = opts.size ?? 3;
  const maxTxnOps = opts.maxTxnOps ?? 1024;
  const root = mkdtempSync(join(tmpdir(), 'dtable-etcd-'));
  const token = `t-${process.pid}-${Date.now()}`;
  const members: EtcdMember[] = [];
  const scheme = opts.tls ? 'https' : 'http';
  for (let i = 0; i < size; i++) {
    const cp = await freePort();
    const pp = await freePort();
    members.push({
      name: `m${i}`,
      clientUrl: `${scheme}://127.0.0.1:${cp}`,
      peerUrl: `${scheme}://127.0.0.1:${pp}`,
      dataDir: join(root, `m${i}`),
    });
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  const procs: Array<ChildProcess | null> = members.map(() => null);
  const logs: string[][] = members.map(() => []);
  // If this process dies without running exit handlers (SIGKILL, OOM), a detached watchdog kills
  // the members listed in `pids` and removes the data.
  const pidFile = join(root, 'pids');
  const writePids = () => writeFileSync(pidFile, procs.map((p) => p?.pid ?? '').join(' '));
  const watchdog = spawn(
    '/bin/sh',
    ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 $(cat '${pidFile}') 2>/dev/null; rm -rf '${root}'`],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.unref();

  const launch = (i: number, state: 'new' | 'existing') => {
    const m = members[i]!;
    const args = [
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', m.clientUrl,
      '--advertise-client-urls', m.clientUrl,
      '--listen-peer-urls', m.peerUrl,
      '--initial-advertise-peer-urls', m.peerUrl,
      '--initial-cluster', initialCluster,
      '--initial-cluster-token', token,
      '--initial-cluster-state', state,
      '--heartbeat-interval', '50',
      '--election-timeout', '500',
      '--max-txn-ops', String(maxTxnOps),
      '--logger', 'zap',
      '--log-outputs', 'stderr',
      '--log-level', 'warn',
      ...(opts.tls ? etcdTlsFlags(opts.tls.member(i, m.name)) : []),
      ...(opts.extraArgs ?? []),
    ];
    const p = spawn(ETCD_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const log = logs[i]!;
    p.stderr!.on('data', (d: Buffer) => {
      log.push(d.toString());
      if (log.length > 200) log.shift();
    });
    live.add(p);
    p.once('exit', () => live.delete(p));
    procs[i] = p;
    writePids();
  };

  const env = {
    ...process.env,
    ETCDCTL_API: '3',
    ...(opts.tls ? { ETCDCTL_CACERT: opts.tls.client.ca_file, ETCDCTL_CERT: opts.tls.client.cert_file, ETCDCTL_KEY: opts.tls.client.key_file } : {}),
  };
  const endpoints = members.map((m) => m.clientUrl);
  const waitHealthy = async (urls: string[], what: string) => {
    const deadline = Date.now() + 30_000;
    let last = '';
    while (Date.now() < deadline) {
      try {
        await run(ETCDCTL_BIN, ['--endpoints', urls.join(','), '--command-timeout=2s', 'endpoint', 'health'], env);
        return;
      } catch (err) {
        last = (err as Error).message;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`etcd ${what} did not become healthy: ${last}\n${logs.flat().slice(-20).join('')}`);
  };

  let stopped = false;
  const killMember = async (i: number, signal: NodeJS.Signals) => {
    const p = procs[i];
    procs[i] = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      p.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      p.kill(signal);
    });
  };
  const stopMember = (i: number) => killMember(i, 'SIGTERM');
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // Data is thrown away, so there is nothing to shut down cleanly.
    await Promise.all(members.map((_, i) => killMember(i, 'SIGKILL')));
    try {
      watchdog.kill('SIGKILL');
    } catch {
      /* already gone */
    }
    rmSync(root, { recursive: true, force: true });
  };

  try {
    members.forEach((_, i) => launch(i, 'new'));
    await waitHealthy(endpoints, 'cluster');
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    endpoints,
    hostList: endpoints.map((u) => u.replace(/^https?:\/\//, '')),
    members,
    stopMember,
    startMember: async (i: number) => {
      if (procs[i]) return;
      launch(i, 'existing');
      await waitHealthy([members[i]!.clientUrl], members[i]!.name);
    },
    pauseMember: (i) => void procs[i]?.kill('SIGSTOP'),
    resumeMember: (i) => void procs[i]?.kill('SIGCONT'),
    leaderIndex: async (among = members.map((_, i) => i)) => {
      const out = await run(ETCDCTL_BIN, ['--endpoints', among.map((i) => endpoints[i]).join(','), '--command-timeout=2s', '-w', 'json', 'endpoint', 'status'], env);
      const st = JSON.parse(out) as Array<{ Endpoint: string; Status: { header: { member_id: number | string }; leader: number | string } }>;
      const lead = st.find((e) => String(e.Status.header.member_id) === String(e.Status.leader));
      if (!lead) throw new Error(`no member reports itself leader: ${out}`);
      return endpoints.indexOf(lead.Endpoint);
    },
    etcdctl: (args) => run(ETCDCTL_BIN, ['--endpoints', endpoints.join(','), ...args], env),
    stop,
  };
}
