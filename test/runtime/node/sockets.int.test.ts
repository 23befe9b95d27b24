// Acceptance 2 (socket.io update-dtable order and versions), socket closing on handoff, and
// acceptance 6 (bad input) against real node processes.
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNodeCluster, until, uuidIn, type NodeCluster } from './node-cluster.ts';
import { DEFAULT_LOAD_REPORT_POLICY } from '../../../runtime/cluster/load-report.ts';

let cluster: NodeCluster;
const sockets: Socket[] = [];
beforeAll(async () => {
  cluster = await startNodeCluster({ nodes: 2, maxBodyBytes: 64 * 1024 });
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await cluster?.stop();
});

/** Buckets are spread round-robin: even buckets on node 01, odd ones on node 02. */
const nodeOf = (bucket: string) => cluster.nodes[parseInt(bucket, 16) % 2]!;

async function rest(url: string, method: string, token: string, body?: unknown) {
  const res = await fetch(url, { method, headers: { authorization: `Token ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text, node: res.headers.get('x-dtable-server-node') };
}

async function join(url: string, uuid: string, token: string): Promise<Socket> {
  const s = connect(url, { query: { dtable_uuid: uuid }, transports: ['websocket'], reconnection: false });
  sockets.push(s);
  const res = await new Promise<{ success: boolean }>((resolve) => s.emit('join-room', uuid, token, resolve));
  expect(res.success).toBe(true);
  return s;
}

describe('socket.io on a node', () => {
  it('delivers update-dtable for every REST change by another client, in order, with strictly increasing versions', async () => {
    const uuid = uuidIn('10');
    const node = nodeOf('10');
    await cluster.waitOwner('10', node.nodeId);
    const token = cluster.token(uuid);
    const api = `${node.url}api/v1/dtables/${uuid}/`;
    const s = await join(node.url, uuid, token);
    const seen: Array<{ op: { op_type: string; rows?: Array<{ _id: string }> }; version: number }> = [];
    s.on('update-dtable', (op, version) => seen.push({ op, version }));

    expect((await rest(`${api}tables/`, 'POST', token, { table_name: 'T' })).status).toBe(200);
    const acked: Array<{ id: string }> = [];
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; i < 10; i++) {
          const r = await rest(`${api}rows/`, 'POST', token, { table_name: 'T', row: { Name: `w${w}-${i}` } });
          expect(r.status).toBe(200);
          acked.push({ id: r.body._id });
        }
      }),
    );
    await until('all broadcasts', () => seen.length === 81, 10_000);
    const versions = seen.map((e) => e.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
    expect(seen[0]!.op.op_type).toBe('insert_table');
    const broadcastIds = seen.slice(1).map((e) => e.op.rows![0]!._id);
    expect(new Set(broadcastIds)).toEqual(new Set(acked.map((a) => a.id)));
    // The base as stored lists the rows in the order their versions were broadcast.
    const rows = (await rest(`${api}rows/?table_name=T`, 'GET', token)).body.rows as Array<{ _id: string }>;
    expect(rows.map((r) => r._id)).toEqual(broadcastIds);
  });

  it('answers a socket operation with its version and broadcasts it to the other sockets of the room', async () => {
    const uuid = uuidIn('12');
    const node = nodeOf('12');
    await cluster.waitOwner('12', node.nodeId);
    const token = cluster.token(uuid);
    const a = await join(node.url, uuid, token);
    const b = await join(node.url, uuid, token);
    const got: number[] = [];
    b.on('update-dtable', (_op, v) => got.push(v));
    const op = { op_type: 'insert_table', table_id: 'tab1', table_name: 'S', columns: [{ key: '0000', name: 'Name', type: 'text', width: 200, data: null }], view_id: '0000' };
    const ack = await new Promise<{ success: boolean; version: number }>((r) => a.emit('update-dtable', op, r));
    expect(ack).toMatchObject({ success: true, version: 1 });
    await until('broadcast to b', () => got.length === 1);
    expect(got).toEqual([1]);
  });

  it('closes the sockets of a bucket that moves, telling them why', async () => {
    const uuid = uuidIn('14');
    const from = nodeOf('14');
    const to = nodeOf('15');
    await cluster.waitOwner('14', from.nodeId);
    const s = await join(from.url, uuid, cluster.token(uuid));
    const reasons: string[] = [];
    s.on('dtable-moved', (m: { reason: string }) => reasons.push(m.reason));
    const disconnected = new Promise<string>((r) => s.on('disconnect', r));
    await cluster.assign(['14'], to.nodeId);
    expect(await disconnected).toBe('io server disconnect');
    expect(reasons).toEqual(['bucket moved to another node']);
    await cluster.waitOwner('14', to.nodeId);
    await cluster.assign(['14'], from.nodeId);
    await cluster.waitOwner('14', from.nodeId);
  });
});

describe('load report', () => {
  it('publishes per-bucket load of loaded bases under dtable-cluster/load/<node_id> within the minimum report interval', async () => {
    const node = nodeOf('16');
    await cluster.waitOwner('16', node.nodeId);
    const uuid = uuidIn('16');
    expect((await rest(`${node.url}api/v1/dtables/${uuid}/tables/`, 'POST', cluster.token(uuid), { table_name: 'T' })).status).toBe(200);
    const load = await until(
      'a load report with bucket 16',
      async () => {
        const v = await cluster.client.get(`dtable-cluster/load/${node.nodeId}`).string();
        const parsed = v ? (JSON.parse(v) as { buckets: Record<string, { bases: number; ops_per_sec: number; bytes: number }> }) : null;
        return parsed?.buckets['16'] ? parsed : null;
      },
      // A node reports a change at most once per minimum interval (runtime/cluster/load-report.ts).
      DEFAULT_LOAD_REPORT_POLICY.minIntervalMs + 10_000,
      250,
    );
    expect(load.buckets['16']!.bases).toBe(1);
    expect(load.buckets['16']!.bytes).toBeGreaterThan(0);
  });
});

describe('bad input against a node process', () => {
  const bucket = '20';
  let uuid: string;
  let api: string;
  let token: string;
  beforeAll(async () => {
    uuid = uuidIn(bucket);
    const node = nodeOf(bucket);
    await cluster.waitOwner(bucket, node.nodeId);
    token = cluster.token(uuid);
    api = `${node.url}api/v1/dtables/${uuid}/`;
    await rest(`${api}tables/`, 'POST', token, { table_name: 'T' });
    await rest(`${api}rows/`, 'POST', token, { table_name: 'T', row: { Name: 'kept' } });
  });
  const dump = async () => (await rest(`${nodeOf(bucket).url}dtables/${uuid}/`, 'GET', token)).body;
  const expired = () => {
    const [h, , s] = cluster.token(uuid).split('.');
    return `${h}.${Buffer.from(JSON.stringify({ dtable_uuid: uuid, permission: 'rw', username: 'x', exp: 1 })).toString('base64url')}.${s}`;
  };
  const cases: Array<[string, () => Promise<{ status: number; body: unknown; node: string | null }>, number]> = [
    ['a malformed UUID', () => rest(`${nodeOf(bucket).url}api/v1/dtables/zz-not-a-uuid/rows/`, 'POST', token, { table_name: 'T', row: {} }), 400],
    ['a token for another base', () => rest(`${api}rows/`, 'POST', cluster.token(uuidIn(bucket)), { table_name: 'T', row: { Name: 'x' } }), 403],
    ['an expired or forged token', () => rest(`${api}rows/`, 'POST', expired(), { table_name: 'T', row: { Name: 'x' } }), 401],
    ['a read-only token writing', () => rest(`${api}rows/`, 'POST', cluster.token(uuid, 'r'), { table_name: 'T', row: { Name: 'x' } }), 403],
    ['malformed JSON', () => rest(`${api}rows/`, 'POST', token, '{"table_name": "T", '), 400],
    ['an oversized body', () => rest(`${api}batch-append-rows/`, 'POST', token, { table_name: 'T', rows: [{ Name: 'x'.repeat(100 * 1024) }] }), 413],
    ['an unknown table', () => rest(`${api}rows/`, 'POST', token, { table_name: 'Nope', row: { Name: 'x' } }), 404],
    ['an unknown row', () => rest(`${api}rows/`, 'DELETE', token, { table_name: 'T', row_id: 'no-such-row' }), 404],
  ];
  for (const [name, run, status] of cases) {
    it(`answers ${name} with ${status} JSON from the node and changes nothing`, async () => {
      const before = await dump();
      const r = await run();
      expect(r.status).toBe(status);
      expect(r.body).toMatchObject({ error_msg: expect.any(String) });
      expect(r.node).toBe(nodeOf(bucket).nodeId);
      expect(await dump()).toEqual(before);
    });
  }
});
