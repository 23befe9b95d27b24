// Integration harness: a real 3-member etcd, N reference nodes as real processes
// (`node --import tsx runtime/node/main.ts --config ...`) on one shared storage dir, optionally the
// web role. Buckets are moved by writing assign-<hh> directly. stop() kills everything it
// started and removes its temp dir, also when a test failed.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUCKETS, bucketOf } from '../../../runtime/cluster/buckets.ts';
import { connectEtcd, type Etcd3 } from '../../../runtime/cluster/etcd/client.ts';
import { keyspace } from '../../../runtime/cluster/keyspace.ts';
import { signToken } from '../../../runtime/node/auth/jwt.ts';
import { startEtcdCluster, type EtcdTestCluster } from '../../harness/etcd.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const PRIVATE_KEY = 'integration-private-key';
const ADMIN_TOKEN = 'integration-admin-token';
export const ks = keyspace('');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until<T>(what: string, fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(everyMs);
  }
}

/** Children of this test process, killed when it exits even if a test forgot to stop them. */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

export class NodeProcess {
  proc: ChildProcess | null = null;
  readonly logs: string[] = [];
  constructor(
    readonly nodeId: string,
    readonly port: number,
    readonly configFile: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  start(): void {
    const p = spawn(process.execPath, ['--import', 'tsx', 'runtime/node/main.ts', '--config', this.configFile], {
      cwd: ROOT,
      env: { ...process.env, DTABLE_PRIVATE_KEY: PRIVATE_KEY },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (b: Buffer) => {
      this.logs.push(b.toString());
      if (this.logs.length > 2000) this.logs.splice(0, 1000);
    };
    p.stdout!.on('data', keep);
    p.stderr!.on('data', keep);
    children.add(p);
    p.once('exit', () => children.delete(p));
    this.proc = p;
  }

  async ready(): Promise<void> {
    await until(`${this.nodeId} /health`, async () => (await fetch(`${this.url}health`)).ok, 30_000, 100);
  }

  signal(sig: NodeJS.Signals): void {
    this.proc?.kill(sig);
  }

  /** Send a signal and wait for the process to exit. */
  async stop(sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    if (sig !== 'SIGKILL') p.kill('SIGCONT');
    p.kill(sig);
    await exited;
  }
}

export interface NodeCluster {
  etcd: EtcdTestCluster;
  client: Etcd3;
  dir: string;
  storageDir: string;
  nodes: NodeProcess[];
  web: { url: string; proc: ChildProcess } | null;
  /** Write assign-<hh> for the given buckets. */
  assign(buckets: string[], nodeId: string): Promise<void>;
  /** The node id holding owner/<hh>, null when none. */
  ownerOf(bucket: string): Promise<string | null>;
  waitOwner(bucket: string, nodeId: string, timeoutMs?: number): Promise<number>;
  token(uuid: string, permission?: 'rw' | 'r'): string;
  stop(): Promise<void>;
}

export interface NodeClusterOptions {
  nodes: number;
  leaseTtl?: number;
  web?: boolean;
  /** Node max_body_bytes (default: the config default, 10 MiB). */
  maxBodyBytes?: number;
}

/** A uuid whose bucket is `bucket`. */
export function uuidIn(bucket: string): string {
  const rest = crypto.randomUUID().replaceAll('-', '').slice(2);
  return `${bucket}${rest}`;
}

export async function startNodeCluster(opts: NodeClusterOptions): Promise<NodeCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'node-cluster-'));
  const storageDir = join(dir, 'shared-bases');
  mkdirSync(storageDir);
  let etcd: EtcdTestCluster | null = null;
  let client: Etcd3 | null = null;
  const nodes: NodeProcess[] = [];
  let web: NodeCluster['web'] = null;
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop('SIGKILL').catch(() => undefined)));
    if (web && web.proc.exitCode === null) {
      const p = web.proc;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await exited;
    }
    client?.close();
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    etcd = await startEtcdCluster();
    client = connectEtcd({ hostList: etcd.hostList });
    for (let i = 1; i <= opts.nodes; i++) {
      const nodeId = `dtable-server-${String(i).padStart(2, '0')}`;
      const port = await freePort();
      const file = join(dir, `${nodeId}.json`);
      writeFileSync(
        file,
        JSON.stringify({
          cluster_config: { etcd_host_list: etcd.hostList, node_id: nodeId, node_url: `http://127.0.0.1:${port}/`, local_node_url: `http://127.0.0.1:${port}/` },
          dtable_cluster: { listen: { host: '127.0.0.1', port }, lease_ttl: opts.leaseTtl ?? 10, data_dir: join(dir, nodeId), storage_dir: storageDir, ...(opts.maxBodyBytes ? { max_body_bytes: opts.maxBodyBytes } : {}) },
        }),
      );
      nodes.push(new NodeProcess(nodeId, port, file));
    }
    // Spread the buckets round-robin before the nodes start, as the monitor would.
    const c = client;
    await Promise.all(
      BUCKETS.map((b, i) =>
        c
          .put(ks.assign(b))
          .value(nodes[i % nodes.length]!.nodeId)
          .exec(),
      ),
    );
    for (const n of nodes) n.start();
    await Promise.all(nodes.map((n) => n.ready()));
    if (opts.web) {
      const port = await freePort();
      const file = join(dir, 'web.json');
      writeFileSync(
        file,
        JSON.stringify({
          etcd_host_list: etcd.hostList,
          listen: { host: '127.0.0.1', port },
          url: `http://127.0.0.1:${port}`,
          proxy_url: 'http://127.0.0.1:1',
          data_dir: join(dir, 'web'),
        }),
      );
      const proc = spawn(process.execPath, ['--import', 'tsx', 'runtime/web/main.ts', '--config', file], {
        cwd: ROOT,
        env: { ...process.env, DTABLE_PRIVATE_KEY: PRIVATE_KEY, DTABLE_ADMIN_TOKEN: ADMIN_TOKEN },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      children.add(proc);
      web = { url: `http://127.0.0.1:${port}`, proc };
      await until('web /health', async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, 30_000, 100);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const c = client;
  const ownerOf = async (bucket: string) => {
    const v = await c.get(ks.owner(bucket)).string();
    return v ? (JSON.parse(v) as { node_id: string }).node_id : null;
  };
  return {
    etcd,
    client: c,
    dir,
    storageDir,
    nodes,
    get web() {
      return web;
    },
    assign: async (buckets, nodeId) => {
      await Promise.all(buckets.map((b) => c.put(ks.assign(b)).value(nodeId).exec()));
    },
    ownerOf,
    waitOwner: async (bucket, nodeId, timeoutMs = 20_000) => {
      const t0 = Date.now();
      await until(`${nodeId} to own bucket ${bucket}`, async () => (await ownerOf(bucket)) === nodeId, timeoutMs);
      return Date.now() - t0;
    },
    token: (uuid, permission = 'rw') => signToken({ dtable_uuid: uuid, permission, username: 'test@x', exp: Math.floor(Date.now() / 1000) + 3600 }, PRIVATE_KEY),
    stop,
  };
}

export { ADMIN_TOKEN, PRIVATE_KEY, bucketOf };

export interface WriteOutcome {
  id: string;
  acked: boolean;
  /** Node that acknowledged it. */
  node?: string;
}

/**
 * A client that appends rows with ids it chooses (`w-<n>`), so a retry of a refused or unanswered
 * write can never add the row twice. Follows 421 answers to the owner they name; tries the other
 * nodes when a node does not answer.
 */
export class RowWriter {
  readonly acked: string[] = [];
  refused = 0;
  private n = 0;
  private target: string;

  readonly table: string;
  private readonly prefix: string;
  private readonly timeoutMs: number;

  constructor(
    private readonly cluster: NodeCluster,
    readonly uuid: string,
    opts: { prefix?: string; table?: string; timeoutMs?: number; target?: string } = {},
  ) {
    this.table = opts.table ?? 'T';
    this.prefix = opts.prefix ?? 'w';
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.target = opts.target ?? cluster.nodes[0]!.url;
  }

  /** Append one row, retrying until acknowledged or `deadline`. */
  async append(deadline = Date.now() + 30_000): Promise<WriteOutcome> {
    const id = `${this.prefix}-${++this.n}`;
    let attempt = 0;
    while (Date.now() < deadline) {
      attempt++;
      try {
        const res = await fetch(`${this.target}api/v1/dtables/${this.uuid}/rows/`, {
          method: 'POST',
          headers: { authorization: `Token ${this.cluster.token(this.uuid)}`, 'content-type': 'application/json' },
          body: JSON.stringify({ table_name: this.table, row: { _id: id, Name: id } }),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        const body = (await res.json()) as { _id?: string; node_url?: string | null };
        if (res.status === 200 && body._id === id) {
          this.acked.push(id);
          return { id, acked: true, node: res.headers.get('x-dtable-server-node') ?? '' };
        }
        this.refused++;
        if (res.status === 421 && body.node_url && body.node_url !== this.target) this.target = body.node_url;
        else await sleep(Math.min(200, 10 * attempt));
      } catch {
        this.refused++;
        const urls = this.cluster.nodes.map((x) => x.url);
        this.target = urls[(urls.indexOf(this.target) + 1) % urls.length]!;
        await sleep(Math.min(200, 10 * attempt));
      }
    }
    return { id, acked: false };
  }
}

/** Rows of a table as the owner of the base serves them. */
export async function rowIds(cluster: NodeCluster, node: NodeProcess, uuid: string, table = 'T'): Promise<string[]> {
  const res = await fetch(`${node.url}api/v1/dtables/${uuid}/rows/?table_name=${table}&limit=100000`, { headers: { authorization: `Token ${cluster.token(uuid)}` } });
  if (res.status !== 200) throw new Error(`rows: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { rows: Array<{ _id: string }> }).rows.map((r) => r._id);
}

/** Create a table, retrying while the node answers 421 (e.g. re-taking its buckets after a lease renewal). */
export async function createTable(cluster: NodeCluster, node: NodeProcess, uuid: string, table = 'T'): Promise<void> {
  await until(`table ${table} in ${uuid}`, async () => {
    const res = await fetch(`${node.url}api/v1/dtables/${uuid}/tables/`, {
      method: 'POST',
      headers: { authorization: `Token ${cluster.token(uuid)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ table_name: table }),
    });
    const text = await res.text();
    if (res.status === 200 || res.status === 409) return true;
    if (res.status === 421) return false;
    throw new Error(`create table: ${res.status} ${text}`);
  });
}

export function countDuplicates(ids: string[]): number {
  return ids.length - new Set(ids).size;
}
