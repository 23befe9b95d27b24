import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { signToken } from '../../../runtime/node/auth/jwt.ts';
import { LoadedBases, type BucketGate } from '../../../runtime/node/bases.ts';
import { buildNodeApp } from '../../../runtime/node/http/app.ts';
import { BaseStore } from '../../../runtime/node/storage/base-store.ts';

const KEY = 'test-key';
const UUID = '5e5c6ad2-a1b2-4c3d-9e8f-001122334455';
const OTHER = 'a0000000-0000-4000-8000-000000000001';
const NOT_OWNED = 'ff000000-0000-4000-8000-000000000001';
const tok = (uuid: string, permission: 'rw' | 'r' = 'rw', exp = Math.floor(Date.now() / 1000) + 600) =>
  `Token ${signToken({ dtable_uuid: uuid, permission, username: 'u@x', exp }, KEY)}`;

/** Serves every bucket but "ff", which belongs to another node. */
const gate: BucketGate = {
  tokenFor: (b) => (b === 'ff' ? null : 1),
  ackGuard: () => null,
  ownerInfo: () => ({ node_id: 'dtable-server-02', node_url: 'http://n2/', local_node_url: 'http://n2l/' }),
};

let dir: string;
let app: ReturnType<typeof buildNodeApp>;
let bases: LoadedBases;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'node-app-'));
  bases = new LoadedBases(new BaseStore(dir), gate);
  app = buildNodeApp({ nodeId: 'dtable-server-01', bases, gate, privateKey: KEY, maxBodyBytes: 4096 });
  await app.ready();
});
afterEach(async () => {
  await app.close();
  await bases.closeAll();
  rmSync(dir, { recursive: true, force: true });
});

const api = (path: string) => `/api/v1/dtables/${UUID}/${path}`;
async function call(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown, auth = tok(UUID)) {
  const res = await app.inject({ method, url, headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.statusCode, body: String(res.headers['content-type']).includes('json') ? res.json() : res.body, headers: res.headers };
}
async function withTable() {
  await call('POST', api('tables/'), { table_name: 'T', columns: [{ column_name: 'Name' }, { column_name: 'n', column_type: 'number' }] });
  const r = await call('POST', api('rows/'), { table_name: 'T', row: { Name: 'a', n: 1 } });
  return r.body._id as string;
}
const snapshot = async () => (await call('GET', `/dtables/${UUID}/`)).body;

describe('node REST API', () => {
  it('answers GET /lease with the lease its keepalives are acknowledged on, 503 when none is valid', async () => {
    let lease: { lease_id: string; valid_for_ms: number } | null = { lease_id: '7587869', valid_for_ms: 4100 };
    const withLease = buildNodeApp({ nodeId: 'dtable-server-01', bases, gate, privateKey: KEY, maxBodyBytes: 4096, lease: () => lease });
    try {
      const ok = await withLease.inject({ method: 'GET', url: '/lease' });
      expect(ok.statusCode).toBe(200);
      expect(ok.json()).toEqual({ node_id: 'dtable-server-01', lease_id: '7587869', valid_for_ms: 4100 });
      lease = null;
      const none = await withLease.inject({ method: 'GET', url: '/lease' });
      expect(none.statusCode).toBe(503);
      expect(none.json()).toEqual({ node_id: 'dtable-server-01', lease_id: null });
    } finally {
      await withLease.close();
    }
    // A node built without a lease source (not registered) vouches for nothing either.
    expect((await call('GET', '/lease')).status).toBe(503);
  });

  it('answers every response with the node id header, errors included', async () => {
    expect((await call('GET', '/ping/')).headers['x-dtable-server-node']).toBe('dtable-server-01');
    expect((await call('GET', '/nope')).headers['x-dtable-server-node']).toBe('dtable-server-01');
  });

  it('appends, updates, lists and deletes rows of a table', async () => {
    const id = await withTable();
    expect((await call('PUT', api('rows/'), { table_name: 'T', row_id: id, row: { n: 2 } })).status).toBe(200);
    const rows = (await call('GET', `${api('rows/')}?table_name=T`)).body.rows;
    expect(rows).toMatchObject([{ _id: id, Name: 'a', n: 2 }]);
    expect((await call('DELETE', api('rows/'), { table_name: 'T', row_id: id })).body).toEqual({ deleted_rows: 1 });
    expect((await call('GET', `${api('rows/')}?table_name=T`)).body.rows).toEqual([]);
  });

  it('accepts the uuid in plain and dashed form and the optional /dtable-server prefix', async () => {
    await withTable();
    const plain = UUID.replaceAll('-', '').toUpperCase();
    expect((await call('GET', `/dtable-server/api/v1/dtables/${plain}/metadata/`)).status).toBe(200);
  });

  it('does not duplicate a row when an append with a client-chosen _id is retried', async () => {
    await withTable();
    await call('POST', api('rows/'), { table_name: 'T', row: { _id: 'fixed-1', Name: 'x' } });
    await call('POST', api('rows/'), { table_name: 'T', row: { _id: 'fixed-1', Name: 'x' } });
    const rows = (await call('GET', `${api('rows/')}?table_name=T`)).body.rows;
    expect(rows.filter((r: { _id: string }) => r._id === 'fixed-1')).toHaveLength(1);
  });

  it('answers 421 with the owner for a base whose bucket it does not serve', async () => {
    const r = await call('GET', `/api/v1/dtables/${NOT_OWNED}/metadata/`, undefined, tok(NOT_OWNED));
    expect(r.status).toBe(421);
    expect(r.body).toMatchObject({ node_id: 'dtable-server-02', node_url: 'http://n2/', bucket: 'ff' });
  });

  describe('bad input gets a 4xx JSON error and changes nothing', () => {
    const cases: Array<[string, () => Promise<{ status: number; body: unknown }>, number]> = [
      ['a malformed UUID', () => call('GET', '/api/v1/dtables/not-a-uuid/metadata/', undefined, tok('not-a-uuid')), 400],
      ['a token for another base', () => call('POST', api('rows/'), { table_name: 'T', row: { Name: 'z' } }, tok(OTHER)), 403],
      ['an expired token', () => call('POST', api('rows/'), { table_name: 'T', row: { Name: 'z' } }, tok(UUID, 'rw', 1000)), 401],
      ['a missing token', () => call('POST', api('rows/'), { table_name: 'T', row: { Name: 'z' } }, ''), 401],
      ['a read-only token writing', () => call('POST', api('rows/'), { table_name: 'T', row: { Name: 'z' } }, tok(UUID, 'r')), 403],
      ['malformed JSON', () => call('POST', api('rows/'), '{"table_name": "T", "row": {'), 400],
      ['an oversized body', () => call('POST', api('rows/'), { table_name: 'T', row: { Name: 'x'.repeat(5000) } }), 413],
      ['an unknown table', () => call('POST', api('rows/'), { table_name: 'Nope', row: { Name: 'z' } }), 404],
      ['an unknown row', () => call('PUT', api('rows/'), { table_name: 'T', row_id: 'nope', row: { Name: 'z' } }), 404],
      ['a body missing a field', () => call('POST', api('rows/'), { row: { Name: 'z' } }), 400],
    ];
    for (const [name, run, status] of cases) {
      it(`refuses ${name} with ${status}`, async () => {
        await withTable();
        const before = await snapshot();
        const r = await run();
        expect(r.status).toBe(status);
        expect(r.body).toMatchObject({ error_msg: expect.any(String) });
        expect(await snapshot()).toEqual(before);
      });
    }
  });
});
