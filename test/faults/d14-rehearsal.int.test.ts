// Deploy rehearsal (issue 14): synthesize the repository's cluster.yaml and run every
// docker_container of the stack as a process on its Docker host's namespace (test/faults/
// d14-rehearsal.ts): three etcd hosts, two node hosts, the proxy host (proxy, monitors, web) and
// the MariaDB host, at the addresses cluster.yaml gives them. Then the seatable-api flow against
// the web role, and a handoff of a base written on one node host to the node on the other host.
// What the stack would deploy is what runs: command, environment, uploaded files and volumes.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import seatable from 'seatable-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../infra/plan/types.ts';
import { until } from '../harness/until.ts';
import { synthText, type TerraformJson } from '../infra/stacks/synth.ts';
import { D14Rehearsal, type ContainerJson } from './d14-rehearsal.ts';
import { netnsAvailable } from './d14-netns.ts';

const REPO = resolve(import.meta.dirname, '../..');
const VARS = { dtable_private_key: 'rehearsal-private-key-5b1e', dtable_admin_token: 'rehearsal-admin-token-c07a', dtable_storage_password: 'rehearsal-db-pässword-🔑' };

let plan: Plan;
let json: TerraformJson;
let rig: D14Rehearsal;
let dir: string;
const at = (host: string, port: number, path = '') => `http://${rig.addressOf.get(host)}:${port}/${path}`;
let web: string;
let proxy: string;

function containerJson(): Record<string, ContainerJson> {
  return json.resource['docker_container'] as unknown as Record<string, ContainerJson>;
}

interface Created {
  dtable_uuid: string;
  api_token: string;
}

async function createBase(name: string): Promise<Created> {
  const res = await fetch(`${web}api/v2.1/dtables/`, {
    method: 'POST',
    headers: { authorization: `Token ${VARS.dtable_admin_token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  expect(res.status).toBe(201);
  return res.json() as Promise<Created>;
}

async function accessToken(apiToken: string): Promise<{ access_token: string; dtable_server: string }> {
  const res = await fetch(`${web}api/v2.1/dtable/app-access-token/`, { headers: { authorization: `Token ${apiToken}` } });
  expect(res.status).toBe(200);
  return res.json() as Promise<{ access_token: string; dtable_server: string }>;
}

/** Through the proxy: status, serving node and body. */
async function viaProxy(method: string, path: string, jwt: string, body?: unknown): Promise<{ status: number; node: string; body: Record<string, unknown> }> {
  const res = await fetch(`${proxy}${path}`, {
    method,
    headers: { authorization: `Token ${jwt}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: res.status, node: res.headers.get('x-dtable-server-node') ?? '', body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
}

describe.skipIf(!netnsAvailable())('deploy rehearsal of the repository cluster.yaml on namespace hosts', () => {
  beforeAll(async () => {
    const s = synthText(readFileSync(join(REPO, 'cluster.yaml'), 'utf8'));
    plan = s.plan;
    json = s.json;
    expect(Object.keys(json.variable).sort()).toEqual(Object.keys(VARS).sort());
    for (const v of Object.values(VARS)) expect(s.text).not.toContain(v);
    dir = mkdtempSync(join(tmpdir(), 'd14-rehearsal-'));
    rig = D14Rehearsal.create(plan, dir, VARS);
    web = at(plan.web.host, plan.web.port);
    proxy = at(plan.proxy.host, plan.proxy.port);
    const all = containerJson();
    // depends_on order: etcd and MariaDB (nobody depends on), then the rest.
    const first = Object.keys(all).filter((n) => (all[n]!.depends_on ?? []).length === 0);
    const rest = Object.keys(all).filter((n) => !first.includes(n));
    await Promise.all(first.map((n) => rig.start(n, all[n]!)));
    await Promise.all(first.map((n) => rig.waitHealthy(n, all[n]!)));
    await Promise.all(rest.map((n) => rig.start(n, all[n]!)));
    await Promise.all(rest.map((n) => rig.waitHealthy(n, all[n]!, 90_000)));
    // Ready: the proxy routes, and the monitor gave every bucket to a node.
    await until('every bucket assigned and served', async () => {
      const res = await fetch(`${at(plan.proxy.host, plan.proxy.adminPort)}assignment`, { headers: { authorization: `Token ${VARS.dtable_admin_token}` } });
      if (res.status !== 200) return false;
      const a = (await res.json()) as { buckets: Record<string, string> };
      return Object.values(a.buckets).filter(Boolean).length === 256;
    }, 60_000, 250);
  });

  afterAll(async () => {
    await rig?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs the seatable-api flow on a base of each node host, each served by its own host', async () => {
    const byNode = new Map<string, Created>();
    for (let i = 0; byNode.size < 2 && i < 40; i++) {
      const b = await createBase(`rehearsal-${i}`);
      const t = await accessToken(b.api_token);
      const r = await until('the base answers through the proxy', async () => {
        const x = await viaProxy('GET', `api/v1/dtables/${b.dtable_uuid}/metadata/`, t.access_token);
        return x.status === 200 ? x : null;
      }, 30_000, 200);
      if (!byNode.has(r.node)) byNode.set(r.node, b);
    }
    expect([...byNode.keys()].sort()).toEqual(['dtable-server-01', 'dtable-server-02']);
    for (const [owner, created] of byNode) {
      const node = plan.nodes.find((n) => n.nodeId === owner)!;
      const base = new seatable.Base({ server: web.replace(/\/$/, ''), APIToken: created.api_token });
      await base.auth();
      // Browsers reach nodes at node_url through a TLS terminator; the rehearsal has none, so the
      // client goes to what it forwards to, the node's local_node_url on its host.
      expect(base.dtableServer).toBe(node.nodeUrl);
      base.dtableServer = node.localNodeUrl;
      base.req.defaults.baseURL = node.localNodeUrl;
      const servedBy: string[] = [];
      (base.req.defaults.transformResponse as Array<(d: unknown, h: Record<string, string>) => unknown>).push((data, headers) => {
        servedBy.push(headers['x-dtable-server-node']!);
        return data;
      });
      await base.addTable('Contacts', 'en', [{ column_name: 'Name', column_type: 'text' }, { column_name: 'Age', column_type: 'number' }]);
      const row = await base.appendRow('Contacts', { Name: 'Ada', Age: 36 });
      await base.updateRow('Contacts', row._id, { Age: 37 });
      const rows = await base.listRows('Contacts');
      expect(rows.map((r: { Name: string; Age: number }) => [r.Name, r.Age])).toEqual([['Ada', 37]]);
      expect(new Set(servedBy)).toEqual(new Set([owner]));
    }
  });

  it('hands a base written on one node host over to the node on the other host with every row', async () => {
    const created = await createBase('handoff');
    const t = await accessToken(created.api_token);
    const uuid = created.dtable_uuid;
    const first = await until('table created', async () => {
      const x = await viaProxy('POST', `api/v1/dtables/${uuid}/tables/`, t.access_token, { table_name: 'T' });
      return x.status === 200 ? x : null;
    }, 30_000, 200);
    const from = first.node;
    const to = from === 'dtable-server-01' ? 'dtable-server-02' : 'dtable-server-01';
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await viaProxy('POST', `api/v1/dtables/${uuid}/rows/`, t.access_token, { table_name: 'T', row: { _id: `h-${i}`, Name: `h-${i}` } });
      expect([r.status, r.node]).toEqual([200, from]);
      ids.push(`h-${i}`);
    }
    // The node host leaves gracefully: its buckets move to the node on the other host.
    await rig.stop(from, 'SIGTERM');
    const after = await until(`the base served by ${to}`, async () => {
      const x = await viaProxy('GET', `api/v1/dtables/${uuid}/rows/?table_name=T`, t.access_token);
      return x.status === 200 && x.node === to ? x : null;
    }, 60_000, 200);
    expect((after.body.rows as Array<{ _id: string }>).map((r) => r._id)).toEqual(ids);
    const more = await viaProxy('POST', `api/v1/dtables/${uuid}/rows/`, t.access_token, { table_name: 'T', row: { _id: 'h-after', Name: 'after' } });
    expect([more.status, more.node]).toEqual([200, to]);
    console.log(`rehearsal: ${ids.length} rows written on ${from}'s host, all served by ${to} on the other host after ${from} stopped`);
  });
});
