// The cluster the fault-injection suite breaks: a real 3-member etcd, three reference nodes, two
// monitors and the proxy, all real processes on loopback. Beside it, the two witnesses every case
// ends with: a client load whose acknowledged writes are checked against the stored rows, and an
// etcd watch on dtable-cluster/owner/ that records every ownership interval.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectEtcd, type Etcd3 } from '../../runtime/cluster/etcd/client.ts';
import { keyspace } from '../../runtime/cluster/keyspace.ts';
import { signToken } from '../../runtime/node/auth/jwt.ts';
import { startEtcdCluster, type EtcdTestCluster } from '../harness/etcd.ts';
import { freePort } from '../harness/free-port.ts';
import { startMonitor, type MonitorProcess } from '../harness/monitor.ts';
import { sleep, until } from '../harness/until.ts';
import { NodeProcess, PRIVATE_KEY, writeNodeConfig } from '../runtime/node/node-cluster.ts';
import { ProxyProcess, writeProxyConfig } from '../runtime/proxy/fixtures/proxy-cluster.ts';

export const ks = keyspace('');
export const ADMIN_TOKEN = 'fault-suite-admin-token';
export const LEASE_TTL = 3;
export { sleep, until, type ProxyProcess };

/** One bucket ownership interval, in etcd revisions. */
export interface OwnerInterval {
  bucket: string;
  node: string;
  from: number;
  to: number | null;
}

/**
 * Records every put and delete under dtable-cluster/owner/ in revision order and counts overlaps:
 * a put naming a node while another node's key for the same bucket is still live.
 */
export class OwnershipRecorder {
  readonly intervals: OwnerInterval[] = [];
  overlaps = 0;
  garbage = 0;
  private readonly open = new Map<string, OwnerInterval>();
  private lastRevision = 0;
  private watcher: { cancel(): Promise<void> } | null = null;

  static async start(client: Etcd3): Promise<OwnershipRecorder> {
    const r = new OwnershipRecorder();
    const now = await client.getAll().prefix(ks.ownerPrefix).exec();
    for (const kv of now.kvs) r.put(kv.key.toString(), kv.value.toString(), Number(kv.mod_revision));
    r.lastRevision = Number(now.header.revision);
    const w = await client.watch().prefix(ks.ownerPrefix).startRevision(String(r.lastRevision + 1)).create();
    w.on('data', (res) => {
      for (const ev of res.events) {
        const rev = Number(ev.kv.mod_revision);
        // One revision can carry many events (a lease expiry deletes all its keys at once);
        // only strictly older ones are a replay after a reconnect.
        if (rev < r.lastRevision) continue;
        r.lastRevision = rev;
        if (ev.type === 'Put') r.put(ev.kv.key.toString(), ev.kv.value.toString(), rev);
        else r.del(ev.kv.key.toString(), rev);
      }
    });
    w.on('error', () => undefined);
    r.watcher = w;
    return r;
  }

  get revision(): number {
    return this.lastRevision;
  }

  private put(key: string, value: string, rev: number): void {
    const bucket = key.slice(ks.ownerPrefix.length);
    let node: string;
    try {
      node = (JSON.parse(value) as { node_id: string }).node_id;
      if (typeof node !== 'string') throw new Error('no node_id');
    } catch {
      this.garbage++;
      node = `garbage:${value.slice(0, 20)}`;
    }
    const cur = this.open.get(bucket);
    if (cur && cur.node === node) return; // value refresh by the same owner
    if (cur) this.overlaps++;
    const iv: OwnerInterval = { bucket, node, from: rev, to: null };
    this.intervals.push(iv);
    this.open.set(bucket, iv);
  }

  private del(key: string, rev: number): void {
    const bucket = key.slice(ks.ownerPrefix.length);
    const cur = this.open.get(bucket);
    if (cur) cur.to = rev;
    this.open.delete(bucket);
  }

  /** Overlapping pairs among the recorded intervals (independent of the live check above). */
  countOverlappingIntervals(): number {
    const byBucket = new Map<string, OwnerInterval[]>();
    for (const iv of this.intervals) byBucket.set(iv.bucket, [...(byBucket.get(iv.bucket) ?? []), iv]);
    let n = 0;
    for (const ivs of byBucket.values()) {
      ivs.sort((a, b) => a.from - b.from);
      for (let i = 1; i < ivs.length; i++) {
        const prev = ivs[i - 1]!;
        if (prev.node !== ivs[i]!.node && (prev.to === null || prev.to > ivs[i]!.from)) n++;
      }
    }
    return n;
  }

  async stop(): Promise<void> {
    await this.watcher?.cancel().catch(() => undefined);
  }
}

/** Where the client load sends its requests: the proxy (a process here, a namespace host in test/hosts). */
export interface ProxyEndpoint {
  readonly url: string;
}

export interface Ack {
  id: string;
  at: number;
}

/**
 * Steady client load through the proxy: one writer per base appends rows with ids it chooses and
 * retries each until acknowledged, so a retry of an applied write shows up as 409 (row exists)
 * rather than as a second row. 409 for its own id counts as acknowledged.
 */
export class ClientLoad {
  readonly acked = new Map<string, Ack[]>();
  errors = 0;
  private running = false;
  private stopDeadline = 0;
  private loops: Array<Promise<void>> = [];
  private seq = 0;

  constructor(
    private readonly proxy: ProxyEndpoint,
    readonly uuids: string[],
    private readonly token: (uuid: string) => string,
  ) {
    for (const u of uuids) this.acked.set(u, []);
  }

  start(): void {
    this.running = true;
    this.loops = this.uuids.map((u) => this.loop(u));
  }

  /** Stop writing; a write still unacknowledged is retried for up to `graceMs`, then abandoned (it was never acknowledged). */
  async stop(graceMs = 15_000): Promise<void> {
    this.running = false;
    this.stopDeadline = Date.now() + graceMs;
    await Promise.all(this.loops);
  }

  get total(): number {
    let n = 0;
    for (const a of this.acked.values()) n += a.length;
    return n;
  }

  /** Time of the newest acknowledgement of every base (0 when none). */
  lastAcks(): number[] {
    return this.uuids.map((u) => this.acked.get(u)!.at(-1)?.at ?? 0);
  }

  private async loop(uuid: string): Promise<void> {
    while (this.running) {
      const id = `r-${++this.seq}`;
      // Keep retrying this id until acknowledged, even past stop(): an unanswered write may
      // have been applied, and the id must then be accounted for.
      for (let attempt = 0; ; attempt++) {
        const r = await this.append(uuid, id);
        if (r) {
          this.acked.get(uuid)!.push({ id, at: Date.now() });
          break;
        }
        this.errors++;
        if (!this.running && Date.now() > this.stopDeadline) break;
        await sleep(Math.min(250, 20 * (attempt + 1)));
      }
      await sleep(15);
    }
  }

  private async append(uuid: string, id: string): Promise<boolean> {
    try {
      const res = await fetch(`${this.proxy.url}/api/v1/dtables/${uuid}/rows/`, {
        method: 'POST',
        headers: { authorization: `Token ${this.token(uuid)}`, 'content-type': 'application/json' },
        body: JSON.stringify({ table_name: 'T', row: { _id: id, Name: id } }),
        signal: AbortSignal.timeout(15_000),
      });
      const body = (await res.json().catch(() => ({}))) as { _id?: string; error_msg?: string };
      if (res.status === 200 && body._id === id) return true;
      return res.status === 409 && (body.error_msg ?? '').includes(id);
    } catch {
      return false;
    }
  }
}

export interface FaultCluster {
  etcd: EtcdTestCluster;
  client: Etcd3;
  dir: string;
  nodes: NodeProcess[];
  monitors: MonitorProcess[];
  proxy: ProxyProcess;
  token(uuid: string): string;
  /** Start the monitor `monitor-<i+1>` again after it was killed. */
  restartMonitor(i: number): Promise<MonitorProcess>;
  /** Wait until every bucket is assigned and owned by its assignee. */
  settled(timeoutMs?: number): Promise<void>;
  ownerOf(bucket: string): Promise<string | null>;
  stop(): Promise<void>;
}

export async function startFaultCluster(nodeCount = 3): Promise<FaultCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'dtable-faults-'));
  const storageDir = join(dir, 'shared-bases');
  mkdirSync(storageDir);
  let etcd: EtcdTestCluster | null = null;
  let client: Etcd3 | null = null;
  let proxy: ProxyProcess | null = null;
  const monitors: MonitorProcess[] = [];
  const nodes: NodeProcess[] = [];
  const stop = async () => {
    await proxy?.stop('SIGKILL').catch(() => undefined);
    await Promise.all(nodes.map((n) => n.stop('SIGKILL').catch(() => undefined)));
    await Promise.all(monitors.map((m) => m.stop().catch(() => undefined)));
    client?.close();
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  const startMonitorN = (i: number) =>
    startMonitor(etcd!.hostList, { monitor_id: `monitor-${i + 1}`, lease_ttl: LEASE_TTL, election_ttl: 2, debounce_ms: 300, reconcile_interval_ms: 1000 });
  const token = (uuid: string) =>
    signToken({ dtable_uuid: uuid, permission: 'rw', username: 'faults@x', exp: Math.floor(Date.now() / 1000) + 3600 }, PRIVATE_KEY);
  try {
    etcd = await startEtcdCluster();
    client = connectEtcd({ hostList: etcd.hostList });
    for (let i = 0; i < nodeCount; i++) {
      const nodeId = `dtable-server-${String(i + 1).padStart(2, '0')}`;
      const port = await freePort();
      const n = writeNodeConfig(dir, nodeId, port, { hostList: etcd.hostList, leaseTtl: LEASE_TTL, storageDir });
      nodes.push(n);
      n.start();
    }
    await Promise.all(nodes.map((n) => n.ready()));
    monitors.push(await startMonitorN(0), await startMonitorN(1));
    proxy = await writeProxyConfig(dir, etcd.hostList, 20_000, { adminToken: ADMIN_TOKEN, logChunks: 500, probeTimeoutMs: 1000 });
    const c = client;
    const settled = (timeoutMs = 60_000) =>
      waitSettled(c, timeoutMs, () => nodes.map((n) => `${n.nodeId}: ${n.logs.join('').split('\n').slice(-5).join('\n')}`).join('\n'));
    await settled();
    proxy.start();
    await proxy.ready();
    return {
      etcd,
      client,
      dir,
      nodes,
      monitors,
      proxy,
      token,
      restartMonitor: async (i) => {
        const m = await startMonitorN(i);
        monitors[i] = m;
        return m;
      },
      settled,
      ownerOf: async (bucket) => {
        const v = await c.get(ks.owner(bucket)).string();
        if (v === null) return null;
        try {
          return (JSON.parse(v) as { node_id: string }).node_id;
        } catch {
          return null;
        }
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Buckets whose assign key and owner key disagree (or are missing), as `hh: assigned X, owned Y`. */
export async function assignmentMismatches(c: Etcd3): Promise<string[]> {
  const [a, o] = await Promise.all([c.getAll().prefix(ks.assignPrefix).strings(), c.getAll().prefix(ks.ownerPrefix).strings()]);
  const bad: string[] = [];
  for (let i = 0; i < 256; i++) {
    const b = i.toString(16).padStart(2, '0');
    const want = a[ks.assign(b)];
    const ov = o[ks.owner(b)];
    let have: string | null = null;
    try {
      have = ov === undefined ? null : (JSON.parse(ov) as { node_id: string }).node_id;
    } catch {
      have = `garbage`;
    }
    if (!want || have !== want) bad.push(`${b}: assigned ${want ?? '-'}, owned ${have ?? '-'}`);
  }
  return bad;
}

/** Wait until every bucket is assigned and owned by its assignee; `context` adds log tails to the timeout error. */
export async function waitSettled(c: Etcd3, timeoutMs = 60_000, context: () => string = () => ''): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const bad = await assignmentMismatches(c).catch((err: Error) => [err.message]);
    if (bad.length === 0) return;
    if (Date.now() > end) throw new Error(`buckets not settled within ${timeoutMs} ms (${bad.length} off, e.g. ${bad.slice(0, 5).join('; ')})\n${context()}`);
    await sleep(200);
  }
}

/** Acknowledged writes missing from storage, and stored rows beyond one per id, over every base of the load. */
export async function auditWrites(load: ClientLoad, proxy: ProxyEndpoint, token: (uuid: string) => string): Promise<{ lost: number; duplicated: number }> {
  let lost = 0;
  let duplicated = 0;
  for (const u of load.uuids) {
    const acked = load.acked.get(u)!.map((a) => a.id);
    const stored = await storedRowIds(proxy, u, token(u));
    const counts = new Map<string, number>();
    for (const id of stored) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const id of acked) if (!counts.has(id)) lost++;
    for (const n of counts.values()) if (n > 1) duplicated += n - 1;
  }
  return { lost, duplicated };
}

/** Longest time any base of the load went without an acknowledged write between `from` and `to`, ms. */
export function longestStall(load: ClientLoad, from: number, to: number): number {
  let worst = 0;
  for (const u of load.uuids) {
    let prev = from;
    for (const a of load.acked.get(u)!) {
      if (a.at < from || a.at > to) continue;
      worst = Math.max(worst, a.at - prev);
      prev = a.at;
    }
    worst = Math.max(worst, to - prev);
  }
  return worst;
}

/** Rows of table T of a base as the proxy serves them. */
export async function storedRowIds(proxy: ProxyEndpoint, uuid: string, token: string): Promise<string[]> {
  return until(
    `rows of ${uuid}`,
    async () => {
      const res = await fetch(`${proxy.url}/api/v1/dtables/${uuid}/rows/?table_name=T&limit=1000000`, { headers: { authorization: `Token ${token}` }, signal: AbortSignal.timeout(10_000) });
      if (res.status !== 200) return null;
      return ((await res.json()) as { rows: Array<{ _id: string }> }).rows.map((r) => r._id);
    },
    30_000,
    200,
  );
}

export async function createTable(proxy: ProxyEndpoint, uuid: string, token: string): Promise<void> {
  await until(
    `table T of ${uuid}`,
    async () => {
      const res = await fetch(`${proxy.url}/api/v1/dtables/${uuid}/tables/`, {
        method: 'POST',
        headers: { authorization: `Token ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ table_name: 'T' }),
      });
      return res.status === 200 || res.status === 409;
    },
    30_000,
    200,
  );
}
