// etcd TLS with client-certificate auth and per-component RBAC (issue 8), on a real 3-member
// etcd with certificates made by the local launcher's openssl code: a client without a
// certificate is refused; each component's certificate may touch only its own keys; a node and
// a monitor run as real processes over TLS with their own credentials.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureClusterCerts, type ClusterCerts } from '../../../infra/local/tls.ts';
import { accessPolicy, MONITOR_USER, PROXY_USER, ROOT_USER, WEB_USER } from '../../../runtime/cluster/access-policy.ts';
import { connectEtcd, type EtcdTls } from '../../../runtime/cluster/etcd/client.ts';
import { applyAccessPolicy } from '../../../runtime/cluster/etcd/rbac.ts';
import { keyspace } from '../../../runtime/cluster/keyspace.ts';
import { startEtcdCluster, type EtcdTestCluster } from '../../harness/etcd.ts';
import { startMonitor, type MonitorProcess } from '../../harness/monitor.ts';
import { NodeProcess, freePort, until } from '../node/node-cluster.ts';

const ks = keyspace('');
const NODES = ['dtable-server-01', 'dtable-server-02'];
let dir: string;
let certs: ClusterCerts;
let etcd: EtcdTestCluster;
const clients: Etcd3[] = [];

function as(user: string): Etcd3 {
  const c = connectEtcd({ hostList: etcd.hostList, tls: certs.clients[user] as EtcdTls, callTimeoutMs: 3000 });
  clients.push(c);
  return c;
}

/** The etcd error of a put, or null when it succeeded. */
async function putError(c: Etcd3, key: string, value = 'x'): Promise<string | null> {
  try {
    await c.put(key).value(value);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'etcd-tls-'));
  certs = await ensureClusterCerts(join(dir, 'tls'), {
    members: [0, 1, 2].map((i) => ({ name: `m${i}`, host: '127.0.0.1' })),
    users: [ROOT_USER, ...NODES, MONITOR_USER, PROXY_USER, WEB_USER],
  });
  etcd = await startEtcdCluster({ tls: { member: (_i, name) => certs.members[name]!, client: certs.clients[ROOT_USER]! } });
  await applyAccessPolicy(as(ROOT_USER), accessPolicy(ks, NODES));
  await as(ROOT_USER).put(ks.assign('00')).value('dtable-server-01');
}, 120_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await etcd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('etcd TLS', () => {
  it('refuses a client that connects without a client certificate', async () => {
    // Trusts the cluster CA (so TLS itself would work) but presents no certificate.
    const c = new Etcd3({ hosts: etcd.endpoints, credentials: { rootCertificate: readFileSync(certs.caFile) }, dialTimeout: 2000, defaultCallOptions: () => ({ deadline: Date.now() + 3000 }) });
    clients.push(c);
    await expect(c.get(ks.assign('00')).string()).rejects.toThrow();
  });

  it('refuses a client that speaks plain HTTP to the TLS endpoints', async () => {
    const c = new Etcd3({ hosts: etcd.endpoints.map((u) => u.replace('https://', 'http://')), dialTimeout: 2000, defaultCallOptions: () => ({ deadline: Date.now() + 3000 }) });
    clients.push(c);
    await expect(c.get(ks.assign('00')).string()).rejects.toThrow();
  });

  it('serves a client that presents a certificate of the cluster CA', async () => {
    expect(await as(WEB_USER).get(ks.assign('00')).string()).toBe('dtable-server-01');
  });
});

describe('etcd RBAC per component', () => {
  it("refuses a node's credentials writing an assign-<hh> key, and the key keeps its value", async () => {
    expect(await putError(as('dtable-server-02'), ks.assign('00'), 'dtable-server-02')).toMatch(/permission denied/i);
    expect(await as(ROOT_USER).get(ks.assign('00')).string()).toBe('dtable-server-01');
  });

  it('lets a node write its own registration and load keys and bucket owner keys', async () => {
    const n = as('dtable-server-01');
    expect(await putError(n, ks.node('dtable-server-01'), '{}')).toBeNull();
    expect(await putError(n, ks.load('dtable-server-01'), '{}')).toBeNull();
    expect(await putError(n, ks.owner('00'), '{"node_id":"dtable-server-01"}')).toBeNull();
  });

  it("refuses a node writing another node's registration or load key", async () => {
    const n = as('dtable-server-01');
    expect(await putError(n, ks.node('dtable-server-02'))).toMatch(/permission denied/i);
    expect(await putError(n, ks.load('dtable-server-02'))).toMatch(/permission denied/i);
    // An exact-key grant: a longer id that starts with the node's own is not covered.
    expect(await putError(n, ks.node('dtable-server-010'))).toMatch(/permission denied/i);
  });

  it('refuses a node writing the epoch, election, weight or rebalance keys', async () => {
    const n = as('dtable-server-01');
    for (const k of [ks.epoch, `${ks.electionPrefix}x`, ks.weight('dtable-server-01'), ks.rebalanceRequest('x'), ks.rebalanceResponse('x')]) {
      expect(await putError(n, k)).toMatch(/permission denied/i);
    }
  });

  it('lets the monitor write assign keys, the epoch and its election keys, but not owner or registration keys', async () => {
    const m = as(MONITOR_USER);
    expect(await putError(m, ks.assign('01'), 'dtable-server-01')).toBeNull();
    expect(await putError(m, ks.epoch, '{}')).toBeNull();
    expect(await putError(m, `${ks.electionPrefix}abc`, 'monitor-1')).toBeNull();
    expect(await putError(m, ks.owner('01'))).toMatch(/permission denied/i);
    expect(await putError(m, ks.node('dtable-server-01'))).toMatch(/permission denied/i);
  });

  it('gives the proxy reads, rebalance requests and weight overrides (drain) only, and the web role reads only', async () => {
    const p = as(PROXY_USER);
    const w = as(WEB_USER);
    expect(await p.get(ks.assign('00')).string()).toBe('dtable-server-01');
    expect(await putError(p, ks.rebalanceRequest('r1'), '{}')).toBeNull();
    expect(await putError(p, ks.weight('dtable-server-09'), '0')).toBeNull();
    for (const k of [ks.assign('00'), ks.owner('00'), ks.node('dtable-server-01'), ks.epoch]) expect(await putError(p, k)).toMatch(/permission denied/i);
    expect(await w.getAll().prefix(ks.nodesPrefix).keys()).toContain(ks.node('dtable-server-01'));
    for (const k of [ks.assign('00'), ks.owner('00'), ks.rebalanceRequest('r2'), ks.weight('dtable-server-01'), 'anything']) expect(await putError(w, k)).toMatch(/permission denied/i);
  });

  // etcd refuses a request authorized against an older auth store ("revision of auth store is
  // old") when a role or user changed between its check and its apply; nothing was applied, so
  // the client sends it again. Without that, re-applying the access policy (every `up`) failed a
  // running component's call now and then.
  it('keeps every put of a component while the access policy is re-applied under it', async () => {
    const m = as(MONITOR_USER);
    const root = as(ROOT_USER);
    let stop = false;
    const errors: string[] = [];
    let puts = 0;
    const writers = [0, 1, 2, 3].map(async (w) => {
      while (!stop) {
        const e = await putError(m, ks.assign((0x40 + w).toString(16)), `dtable-server-0${(puts % 2) + 1}`);
        if (e !== null) errors.push(e);
        puts += 1;
      }
    });
    for (let i = 0; i < 6; i++) await applyAccessPolicy(root, accessPolicy(ks, NODES));
    stop = true;
    await Promise.all(writers);
    expect(puts).toBeGreaterThan(20);
    expect(errors).toEqual([]);
  });

  it('refuses a certificate whose CN is not an etcd user', async () => {
    const extra = await ensureClusterCerts(certs.dir, { members: [], users: ['stranger'] });
    const c = connectEtcd({ hostList: etcd.hostList, tls: extra.clients.stranger as EtcdTls, callTimeoutMs: 3000 });
    clients.push(c);
    await expect(c.get(ks.assign('00')).string()).rejects.toThrow();
  });
});

describe('runtime processes over TLS with their own credentials', () => {
  const nodes: NodeProcess[] = [];
  let monitor: MonitorProcess | null = null;
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop('SIGKILL').catch(() => undefined)));
    await monitor?.stop();
  });

  it('registers nodes, assigns and takes ownership of all 256 buckets with node and monitor certificates only', async () => {
    const root = as(ROOT_USER);
    await root.delete().all();
    const storage = join(dir, 'bases');
    mkdirSync(storage, { recursive: true });
    for (const nodeId of NODES) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}/`;
      const file = join(dir, `${nodeId}.json`);
      writeFileSync(
        file,
        JSON.stringify({
          cluster_config: { etcd_host_list: etcd.hostList, node_id: nodeId, node_url: url, local_node_url: url },
          dtable_cluster: { listen: { host: '127.0.0.1', port }, lease_ttl: 5, data_dir: join(dir, nodeId), storage_dir: storage, tls: certs.clients[nodeId] },
        }),
      );
      const n = new NodeProcess(nodeId, port, file);
      nodes.push(n);
      n.start();
    }
    await Promise.all(nodes.map((n) => n.ready()));
    monitor = await startMonitor(etcd.hostList, { monitor_id: 'monitor-1', lease_ttl: 5, tls: certs.clients[MONITOR_USER] });
    await until(
      'every bucket owned by its assignee',
      async () => {
        const [a, o] = await Promise.all([root.getAll().prefix(ks.assignPrefix).strings(), root.getAll().prefix(ks.ownerPrefix).strings()]);
        if (Object.keys(a).length !== 256) return false;
        return Object.entries(a).every(([k, node]) => (o[ks.owner(k.slice(ks.assignPrefix.length))] ?? '').includes(`"${node}"`));
      },
      60_000,
      250,
    );
    // No process logged an etcd permission error.
    const text = nodes.flatMap((n) => n.logs).join('') + monitor.stderr.join('') + JSON.stringify(monitor.logs);
    expect(text).not.toMatch(/permission denied/i);
  }, 120_000);
});

describe('proxy process over TLS with its admin port on one interface', () => {
  let proc: import('node:child_process').ChildProcess | null = null;
  afterAll(() => {
    proc?.kill('SIGKILL');
  });

  it('binds the admin port to the configured address only and answers 401 there without the token', async () => {
    const { spawn } = await import('node:child_process');
    const port = await freePort();
    const adminPort = await freePort();
    const file = join(dir, 'proxy.json');
    writeFileSync(
      file,
      JSON.stringify({
        cluster_config: { etcd_host_list: etcd.hostList },
        dtable_cluster: { listen: { host: '127.0.0.1', port }, admin_listen: { host: '127.0.0.2', port: adminPort }, admin_token_env: 'FAULTS_ADMIN_TOKEN', tls: certs.clients[PROXY_USER] },
      }),
    );
    proc = spawn(process.execPath, ['--import', 'tsx', 'runtime/proxy/main.ts', '--config', file], {
      cwd: new URL('../../../', import.meta.url).pathname,
      env: { ...process.env, FAULTS_ADMIN_TOKEN: 'tls-admin-token' },
      stdio: 'ignore',
    });
    await until('proxy admin /health on 127.0.0.2', async () => (await fetch(`http://127.0.0.2:${adminPort}/health`)).status > 0, 30_000, 100);
    await expect(fetch(`http://127.0.0.1:${adminPort}/health`)).rejects.toThrow();
    expect((await fetch(`http://127.0.0.2:${adminPort}/assignment`)).status).toBe(401);
    const ok = await fetch(`http://127.0.0.2:${adminPort}/assignment`, { headers: { authorization: 'Token tls-admin-token' } });
    expect(ok.status).toBe(200);
    // The proxy follows the cluster through etcd with its own read-only certificate.
    expect(Object.keys(((await ok.json()) as { buckets: Record<string, string> }).buckets)).toHaveLength(256);
  }, 90_000);
});
