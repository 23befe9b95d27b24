// The MariaDB backend of base storage against a real MariaDB (Debian's mariadbd, own datadir and
// port): takeover, fencing in the statement that stores, group commit, snapshots, utf8mb4, bad
// stored values reported, 503-class errors while the server is down.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Operation } from '../../../runtime/node/dtable/model.ts';
import { MariadbBaseStore } from '../../../runtime/node/storage/mariadb-store.ts';
import { SCHEMA_VERSION } from '../../../runtime/node/storage/mariadb-schema.ts';
import { FencedError, StorageUnavailableError, StoredDataError } from '../../../runtime/node/storage/storage.ts';
import { startMariadb, type TestMariadb } from '../../harness/mariadb.ts';

const table: Operation = { op_type: 'insert_table', table_id: 't1', table_name: 'T', columns: [{ key: '0000', name: 'Name', type: 'text', width: 200, data: null }], view_id: 'v1' };
const row = (id: string, name = id): Operation => ({ op_type: 'insert_rows', table_id: 't1', rows: [{ _id: id, _ctime: 'c', _mtime: 'm', Name: name }] });
const ids = (b: { dtable: { tables: Array<{ rows: Array<{ _id: string }> }> } }) => b.dtable.tables[0]?.rows.map((r) => r._id) ?? [];
const uuidIn = (bucket: string) => `${bucket}${crypto.randomUUID().replaceAll('-', '').slice(2)}`;

let db: TestMariadb;
let store: MariadbBaseStore;
beforeAll(async () => {
  db = await startMariadb();
  store = new MariadbBaseStore({ ...db.options, snapshotEvery: 5 });
});
afterAll(async () => {
  await store?.close();
  await db?.stop();
});

describe('MariadbBaseStore', () => {
  it('creates its schema at the current version with utf8mb4 tables', async () => {
    await store.ready();
    const [v] = await db.sql<Array<{ version: number }>>('SELECT version FROM dtable_schema WHERE id = 1');
    expect(v!.version).toBe(SCHEMA_VERSION);
    const tables = await db.sql<Array<{ TABLE_NAME: string; TABLE_COLLATION: string }>>(
      'SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?',
      [db.database],
    );
    expect(tables.map((t) => t.TABLE_NAME).sort()).toEqual(['dtable_fences', 'dtable_operations', 'dtable_schema', 'dtable_snapshots', 'dtable_takeovers']);
    expect(new Set(tables.map((t) => t.TABLE_COLLATION))).toEqual(new Set(['utf8mb4_bin']));
  });

  it('gives a new owner every acknowledged write of the previous owner', async () => {
    const uuid = uuidIn('10');
    const a = await store.open(uuid, 10);
    await a.append(table).durable;
    await Promise.all([a.append(row('r1')).durable, a.append(row('r2')).durable]);
    const b = await store.open(uuid, 20);
    expect(ids(b)).toEqual(['r1', 'r2']);
    expect(b.version).toBe(3);
    await Promise.all([a.close(), b.close()]);
  });

  it('refuses, in the statement that would store it, a write of an owner a newer token has taken over', async () => {
    const uuid = uuidIn('11');
    const a = await store.open(uuid, 10);
    await a.append(table).durable;
    const b = await store.open(uuid, 20);
    await expect(a.append(row('stale')).durable).rejects.toBeInstanceOf(FencedError);
    await b.append(row('fresh')).durable;
    const stored = await db.sql<Array<{ n: bigint }>>('SELECT COUNT(*) AS n FROM dtable_operations WHERE base_uuid = ? AND token = 10 AND version > 1', [uuid]);
    expect(Number(stored[0]!.n)).toBe(0);
    const c = await store.open(uuid, 30);
    expect(ids(c)).toEqual(['fresh']);
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it('fences every base of a bucket when a new owner takes the bucket, opened or not', async () => {
    const uuid = uuidIn('12');
    const a = await store.open(uuid, 10);
    await a.append(table).durable;
    await store.fenceBucket('12', 20);
    await expect(a.append(row('stale')).durable).rejects.toBeInstanceOf(FencedError);
    const b = await store.open(uuid, 20);
    expect(ids(b)).toEqual([]);
    await Promise.all([a.close(), b.close()]);
  });

  it('refuses to open a base for a token older than its fence', async () => {
    const uuid = uuidIn('13');
    const b = await store.open(uuid, 20);
    await expect(store.open(uuid, 10)).rejects.toBeInstanceOf(FencedError);
    await b.close();
  });

  it('stores concurrent appends as group commits, in version order', async () => {
    const uuid = uuidIn('14');
    const a = await store.open(uuid, 10);
    await a.append(table).durable;
    await Promise.all(Array.from({ length: 50 }, (_, i) => a.append(row(`g${i}`)).durable));
    const b = await store.open(uuid, 20);
    expect(ids(b)).toEqual(Array.from({ length: 50 }, (_, i) => `g${i}`));
    await Promise.all([a.close(), b.close()]);
  });

  it('stores a group commit larger than one statement in several, in version order', async () => {
    const uuid = uuidIn('1e');
    const a = await store.open(uuid, 10);
    await a.append(table).durable;
    const big = 'x'.repeat(1_500_000);
    await Promise.all(Array.from({ length: 6 }, (_, i) => a.append(row(`big${i}`, big)).durable));
    await a.close();
    const b = await store.open(uuid, 20);
    expect(ids(b)).toEqual(Array.from({ length: 6 }, (_, i) => `big${i}`));
    expect(b.dtable.tables[0]!.rows.every((r) => r.Name === big)).toBe(true);
    await b.close();
  });

  it('keeps 4-byte UTF-8 text intact', async () => {
    const uuid = uuidIn('15');
    const a = await store.open(uuid, 10);
    await a.append(table).durable;
    await a.append(row('e1', 'Straße 🚀 日本 𝄞')).durable;
    await a.close();
    const b = await store.open(uuid, 20);
    expect(b.dtable.tables[0]!.rows[0]!.Name).toBe('Straße 🚀 日本 𝄞');
    await b.close();
  });

  it('takes a snapshot every snapshotEvery operations and drops operations the previous snapshot held', async () => {
    const uuid = uuidIn('16');
    const a = await store.open(uuid, 10);
    await a.append(table).durable;
    for (let i = 0; i < 12; i++) await a.append(row(`s${i}`)).durable;
    await a.close();
    const [snap] = await db.sql<Array<{ version: bigint }>>('SELECT version FROM dtable_snapshots WHERE base_uuid = ?', [uuid]);
    expect(Number(snap!.version)).toBeGreaterThanOrEqual(10);
    const [min] = await db.sql<Array<{ v: bigint }>>('SELECT MIN(version) AS v FROM dtable_operations WHERE base_uuid = ?', [uuid]);
    expect(Number(min!.v)).toBeGreaterThan(1);
    const b = await store.open(uuid, 20);
    expect(ids(b)).toEqual(Array.from({ length: 12 }, (_, i) => `s${i}`));
    expect(b.version).toBe(13);
    await b.close();
  });

  it('reopens its own base after an idle unload with every write', async () => {
    const uuid = uuidIn('17');
    const a = await store.open(uuid, 10);
    await a.append(table).durable;
    await a.append(row('r1')).durable;
    await a.close();
    const again = await store.open(uuid, 10);
    expect(ids(again)).toEqual(['r1']);
    await again.append(row('r2')).durable;
    await again.close();
    const b = await store.open(uuid, 20);
    expect(ids(b)).toEqual(['r1', 'r2']);
    await b.close();
  });

  it('refuses every write once the ack guard fails', async () => {
    let lost: Error | null = null;
    const a = await store.open(uuidIn('18'), 10, () => lost);
    await a.append(table).durable;
    lost = new Error('lease lost');
    await expect(a.append(row('r1')).durable).rejects.toThrow('lease lost');
    expect(() => a.append(row('r2'))).toThrow('lease lost');
    await a.close();
  });

  it('reports an operation that is not JSON, naming the base and the row, and serves other bases', async () => {
    const uuid = uuidIn('19');
    const a = await store.open(uuid, 10);
    await a.append(table).durable;
    await a.close();
    await db.sql('INSERT INTO dtable_operations (base_uuid, version, token, operation) VALUES (?, 2, 10, ?)', [uuid, '{"op_type": "insert_rows", tru']);
    const err = await store.open(uuid, 20).catch((e: Error) => e);
    expect(err).toBeInstanceOf(StoredDataError);
    expect((err as Error).message).toContain(uuid);
    expect((err as Error).message).toContain('dtable_operations version 2');
    const other = await store.open(uuidIn('19'), 20);
    await other.append(table).durable;
    await other.close();
  });

  it('reports a snapshot that is not a base', async () => {
    const uuid = uuidIn('1a');
    await db.sql('INSERT INTO dtable_snapshots (base_uuid, token, version, dtable) VALUES (?, 1, 3, ?)', [uuid, '{"tables": 7}']);
    await expect(store.open(uuid, 20)).rejects.toThrow(/dtable_snapshots\.dtable: dtable is not a base/);
  });

  it('reports a snapshot row that is not a row object', async () => {
    const uuid = uuidIn('1c');
    const dtable = { tables: [{ _id: 't1', name: 'T', columns: [], rows: [null] }] };
    await db.sql('INSERT INTO dtable_snapshots (base_uuid, token, version, dtable) VALUES (?, 1, 3, ?)', [uuid, JSON.stringify(dtable)]);
    const err = await store.open(uuid, 20).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoredDataError);
    expect((err as Error).message).toMatch(/row 0 of table "t1" is not a row object/);
  });

  it('reports a gap in the operation log', async () => {
    const uuid = uuidIn('1b');
    await db.sql('INSERT INTO dtable_operations (base_uuid, version, token, operation) VALUES (?, 1, 1, ?), (?, 3, 1, ?)', [uuid, JSON.stringify(table), uuid, JSON.stringify(row('x'))]);
    await expect(store.open(uuid, 20)).rejects.toThrow(/version 3: expected version 2/);
  });

  it('reports a schema version newer than the node knows as storage unavailable', async () => {
    await db.sql('UPDATE dtable_schema SET version = 99 WHERE id = 1');
    const fresh = new MariadbBaseStore(db.options);
    try {
      const err = await fresh.open(uuidIn('1c'), 5).catch((e: Error) => e);
      expect(err).toBeInstanceOf(StorageUnavailableError);
      expect((err as Error).message).toContain('dtable_schema.version is 99');
    } finally {
      await fresh.close();
      await db.sql('UPDATE dtable_schema SET version = ? WHERE id = 1', [SCHEMA_VERSION]);
    }
  });

  it('fails writes as storage unavailable while MariaDB is down and works again once it is back', async () => {
    const uuid = uuidIn('1d');
    const a = await store.open(uuid, 10);
    await a.append(table).durable;
    await db.server.stop();
    try {
      await expect(a.append(row('down')).durable).rejects.toBeInstanceOf(StorageUnavailableError);
      await expect(store.open(uuidIn('1d'), 10)).rejects.toBeInstanceOf(StorageUnavailableError);
    } finally {
      await db.server.restart();
    }
    const b = await store.open(uuid, 20);
    expect(ids(b)).toEqual([]);
    await b.append(row('up')).durable;
    expect(ids(b)).toEqual(['up']);
    await Promise.all([a.close(), b.close()]);
  });
});
