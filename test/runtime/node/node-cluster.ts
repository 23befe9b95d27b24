// Integration harness: a real 3-member etcd, N reference nodes as real processes
// (`node --import tsx runtime/node/main.ts --config ...`) on one shared storage dir, optionally the
// web role. Buckets are moved by writing assign-<hh> directly. stop() kills everything it
// started and removes its temp dir, also when a test failed.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUCKETS, bucketOf } from '../../../runtime/cluster/buckets.ts';
import { connectEtcd, type Etcd3 } from '../../../runtime/cluster/etcd/client.ts';
import { keyspace } from '../../../runtime/cluster/keyspace.ts';
import { signToken } from '../../../runtime/node/auth/jwt.ts';
import { startEtcdCluster, type EtcdTestCluster } from '../../harness/etcd.ts';
import { freePort } from '../../harness/free-port.ts';
import { RuntimeProcess } from '../../harness/runtime-process.ts';
import { sleep, until } from '../../harness/until.ts';

const PRIVATE_KEY = 'integration-private-key';
const ADMIN_TOKEN = 'integration-admin-token';
export const ks = keyspace('');
export { freePort, sleep, until };

export class NodeProcess extends RuntimeProcess {
  constructor(
    readonly nodeId: string,
    readonly port: number,
    configFile: string,
    env: Record<string, string> = {},
  ) {
    super({ role: 'node', configFile, name: nodeId, healthUrl: `http://127.0.0.1:${port}/health`, env: { DTABLE_PRIVATE_KEY: PRIVATE_KEY, ...env } });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }
}

export interface NodeConfigOptions {
  hostList: string[];
  leaseTtl: number;
  storageDir: string;
  maxBodyBytes?: number;
  /** MariaDB base storage instead of the shared storage dir (the password goes in the node's env). */
  mariadb?: MariadbOptions;
}

/** Where a test MariaDB listens (test/harness/mariadb.ts `options`). */
export interface MariadbOptions {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
}

export const STORAGE_PASSWORD_ENV = 'DTABLE_STORAGE_PASSWORD';

/** Writes `<dir>/<nodeId>.json` for a node on `port` (data in `<dir>/<nodeId>`) and returns its process, not started. */
export function writeNodeConfig(dir: string, nodeId: string, port: number, opts: NodeConfigOptions): NodeProcess {
  const file = join(dir, `${nodeId}.json`);
  const url = `http://127.0.0.1:${port}/`;
  writeFileSync(
    file,
    JSON.stringify({
      cluster_config: { etcd_host_list: opts.hostList, node_id: nodeId, node_url: url, local_node_url: url },
      dtable_cluster: {
        listen: { host: '127.0.0.1', port },
        lease_ttl: opts.leaseTtl,
        data_dir: join(dir, nodeId),
        ...(opts.mariadb ? {} : { storage_dir: opts.storageDir }),
        ...(opts.mariadb ? { storage: { kind: 'mariadb', host: opts.mariadb.host, port: opts.mariadb.port, database: opts.mariadb.database, user: opts.mariadb.user, password_env: STORAGE_PASSWORD_ENV } } : {}),
        ...(opts.maxBodyBytes ? { max_body_bytes: opts.maxBodyBytes } : {}),
      },
    }),
  );
  return new NodeProcess(nodeId, port, file, opts.mariadb ? { [STORAGE_PASSWORD_ENV]: opts.mariadb.password } : {});
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
  /** Base storage in this MariaDB instead of a shared dir; each node then has only its private data dir. */
  mariadb?: MariadbOptions;
  /** Extra etcd flags, e.g. the rendered config's lease checkpointing. */
  etcdArgs?: string[];
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
  let webProcess: RuntimeProcess | null = null;
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop('SIGKILL').catch(() => undefined)));
    await webProcess?.stop('SIGKILL');
    client?.close();
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    etcd = await startEtcdCluster(opts.etcdArgs ? { extraArgs: opts.etcdArgs } : {});
    client = connectEtcd({ hostList: etcd.hostList });
    for (let i = 1; i <= opts.nodes; i++) {
      const nodeId = `dtable-server-${String(i).padStart(2, '0')}`;
      const port = await freePort();
      nodes.push(writeNodeConfig(dir, nodeId, port, { hostList: etcd.hostList, leaseTtl: opts.leaseTtl ?? 10, storageDir, ...(opts.maxBodyBytes ? { maxBodyBytes: opts.maxBodyBytes } : {}), ...(opts.mariadb ? { mariadb: opts.mariadb } : {}) }));
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
      webProcess = new RuntimeProcess({
        role: 'web',
        configFile: file,
        name: 'web',
        healthUrl: `http://127.0.0.1:${port}/health`,
        env: { DTABLE_PRIVATE_KEY: PRIVATE_KEY, DTABLE_ADMIN_TOKEN: ADMIN_TOKEN },
      });
      webProcess.start();
      web = { url: `http://127.0.0.1:${port}`, proc: webProcess.proc! };
      await webProcess.ready();
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
