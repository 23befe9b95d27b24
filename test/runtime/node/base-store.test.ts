import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Operation } from '../../../runtime/node/dtable/model.ts';
import { BaseStore, FencedError } from '../../../runtime/node/storage/base-store.ts';

const UUID = '5e5c6ad2a1b24c3d9e8f001122334455';
const table: Operation = { op_type: 'insert_table', table_id: 't1', table_name: 'T', columns: [{ key: '0000', name: 'Name', type: 'text', width: 200, data: null }], view_id: 'v1' };
const row = (id: string): Operation => ({ op_type: 'insert_rows', table_id: 't1', rows: [{ _id: id, _ctime: 'c', _mtime: 'm', Name: id }] });
const ids = (b: { dtable: { tables: Array<{ rows: Array<{ _id: string }> }> } }) => b.dtable.tables[0]?.rows.map((r) => r._id) ?? [];

let root: string;
let store: BaseStore;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'base-store-'));
  store = new BaseStore(root);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('BaseStore', () => {
  it('gives a new owner every acknowledged write of the previous owner', async () => {
    const a = await store.open(UUID, 10);
    await a.append(table).durable;
    await Promise.all([a.append(row('r1')).durable, a.append(row('r2')).durable]);
    const b = await store.open(UUID, 20);
    expect(ids(b)).toEqual(['r1', 'r2']);
    expect(b.version).toBe(3);
    await a.close();
    await b.close();
  });

  it('refuses to acknowledge a write of an owner that a newer token has taken over', async () => {
    const a = await store.open(UUID, 10);
    await a.append(table).durable;
    const b = await store.open(UUID, 20);
    const late = a.append(row('stale'));
    await expect(late.durable).rejects.toBeInstanceOf(FencedError);
    await b.append(row('fresh')).durable;
    const c = await store.open(UUID, 30);
    expect(ids(c)).toEqual(['fresh']);
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it('discards a base an operation failed part way through: 500, nothing logged, the next open has none of it', async () => {
    const a = await store.open(UUID, 10);
    await a.append(table).durable;
    // JSON drops the function, so the op serializes; copying the second row fails after the first
    // row is in the base in memory.
    const bad = { op_type: 'insert_rows', table_id: 't1', rows: [{ _id: 'r1', _ctime: 'c', _mtime: 'm' }, { _id: 'r2', _ctime: 'c', _mtime: 'm', f: () => 1 }] } as unknown as Operation;
    expect(() => a.append(bad)).toThrow(expect.objectContaining({ name: 'OperationError', status: 500 }));
    expect(a.failure).not.toBeNull();
    expect(() => a.append(row('r3'))).toThrow();
    const b = await store.open(UUID, 20);
    expect(ids(b)).toEqual([]);
    expect(b.version).toBe(1);
    await a.close();
    await b.close();
  });

  it('refuses to open a base for a token older than one that took it over', async () => {
    const b = await store.open(UUID, 20);
    await expect(store.open(UUID, 10)).rejects.toBeInstanceOf(FencedError);
    await b.close();
  });

  it('ignores a torn last record left by a crash mid-append', async () => {
    const a = await store.open(UUID, 10);
    await a.append(table).durable;
    await a.append(row('r1')).durable;
    appendFileSync(join(root, UUID, `log-${'10'.padStart(20, '0')}.jsonl`), '{"v":3,"op":{"op_ty');
    const b = await store.open(UUID, 20);
    expect(ids(b)).toEqual(['r1']);
    await b.append(row('r2')).durable;
    const c = await store.open(UUID, 30);
    expect(ids(c)).toEqual(['r1', 'r2']);
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it('skips a log a stale owner created after a newer owner sealed the base', async () => {
    const b = await store.open(UUID, 20);
    await b.append(table).durable;
    await b.close();
    const c = await store.open(UUID, 30);
    await c.append(row('r1')).durable;
    writeFileSync(join(root, UUID, `log-${'25'.padStart(20, '0')}.jsonl`), `${JSON.stringify({ v: 3, op: row('ghost') })}\n`);
    const d = await store.open(UUID, 40);
    expect(ids(d)).toEqual(['r1']);
    await Promise.all([c.close(), d.close()]);
  });

  it('reopens its own base after an idle unload with every write', async () => {
    const a = await store.open(UUID, 10);
    await a.append(table).durable;
    await a.append(row('r1')).durable;
    await a.close();
    const again = await store.open(UUID, 10);
    expect(ids(again)).toEqual(['r1']);
    await again.append(row('r2')).durable;
    await again.close();
    const b = await store.open(UUID, 20);
    expect(ids(b)).toEqual(['r1', 'r2']);
    await b.close();
  });

  it('refuses every write once the ack guard fails', async () => {
    let lost: Error | null = null;
    const a = await store.open(UUID, 10, () => lost);
    await a.append(table).durable;
    lost = new Error('lease lost');
    await expect(a.append(row('r1')).durable).rejects.toThrow('lease lost');
    expect(() => a.append(row('r2'))).toThrow('lease lost');
    await a.close();
  });
});
