// Fencing whatever the server's isolation level: under READ COMMITTED (a common DBA setting) an
// INSERT ... SELECT from dtable_fences would read without a lock, so a fenced write could be stored
// after a takeover; the store pins REPEATABLE READ for its sessions. A third connection holds the
// row lock of the next version, so the stale write stalls after reading the fence.
import mariadb from 'mariadb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Operation } from '../../../runtime/node/dtable/model.ts';
import { MariadbBaseStore } from '../../../runtime/node/storage/mariadb-store.ts';
import { startMariadb, type TestMariadb } from '../../harness/mariadb.ts';

const table: Operation = { op_type: 'insert_table', table_id: 't1', table_name: 'T', columns: [{ key: '0000', name: 'Name', type: 'text', width: 200, data: null }], view_id: 'v1' };
const row = (id: string): Operation => ({ op_type: 'insert_rows', table_id: 't1', rows: [{ _id: id, _ctime: 'c', _mtime: 'm', Name: id }] });
const ids = (b: { dtable: { tables: Array<{ rows: Array<{ _id: string }> }> } }) => b.dtable.tables[0]?.rows.map((r) => r._id) ?? [];
let db: TestMariadb;
beforeAll(async () => { db = await startMariadb(); });
afterAll(async () => { await db?.stop(); });

for (const iso of ['REPEATABLE-READ', 'READ-COMMITTED']) {
  it(`acknowledges no write that a takeover under a ${iso} server leaves out`, async () => {
    const [first] = await db.sql<Array<{ s: string }>>('SELECT @@socket AS s');
    const sock = first!.s;
    const root = await mariadb.createConnection({ socketPath: sock, user: 'root' });
    await root.query(`SET GLOBAL tx_isolation = '${iso}'`); await root.end();
    const store = new MariadbBaseStore({ ...db.options });
    const uuid = `${iso[0] === 'R' && iso[5] === 'C' ? 'cd' : 'ab'}${crypto.randomUUID().replaceAll('-', '').slice(2)}`;
    const a = await store.open(uuid, 10);
    await a.append(table).durable;
    // A blocker holds the row lock of version 2, so the stale INSERT ... SELECT stalls after reading the fence.
    const x = await mariadb.createConnection({ ...db.options });
    await x.query('BEGIN');
    await x.query("INSERT INTO dtable_operations (base_uuid, version, token, operation) VALUES (?, 2, 10, '{}')", [uuid]);
    let acked = false;
    const stale = a.append(row('stale')).durable.then(() => { acked = true; }, (e) => e);
    await new Promise((r) => setTimeout(r, 300));
    const bP = store.open(uuid, 20);
    await Promise.race([bP, new Promise((r) => setTimeout(r, 1500))]);
    await x.query('ROLLBACK'); await x.end();
    await stale;
    const b = await bP;
    const fresh = await b.append(row('fresh')).durable.then(() => 'acked', (e) => (e as Error).message.slice(0, 120));
    const c = await store.open(uuid, 30);
    expect(fresh).toBe('acked');
    expect(ids(c)).toContain('fresh');
    await c.close();
    // invariant: an acknowledged write is in the new owner's base
    if (acked) expect(ids(b)).toContain('stale');
    await b.close(); await a.close().catch(() => undefined); await store.close();
  }, 30_000);
}
