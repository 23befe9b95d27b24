import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LoadedBases, NotOwnedError, WriteOutcomeUnknownError, type BucketGate } from '../../../runtime/node/bases.ts';
import type { Operation } from '../../../runtime/node/dtable/model.ts';
import { BaseStore } from '../../../runtime/node/storage/base-store.ts';

const UUID = '5e5c6ad2a1b24c3d9e8f001122334455';
const table: Operation = { op_type: 'insert_table', table_id: 't1', table_name: 'T', columns: [{ key: '0000', name: 'Name', type: 'text', width: 200, data: null }], view_id: 'v1' };
const row = (id: string): Operation => ({ op_type: 'insert_rows', table_id: 't1', rows: [{ _id: id, _ctime: 'c', _mtime: 'm' }] });

let dir: string;
let token: number | null;
let guard: Error | null;
let bases: LoadedBases;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bases-'));
  token = 7;
  guard = null;
  const gate: BucketGate = { tokenFor: () => token, ackGuard: () => guard, ownerInfo: () => null };
  bases = new LoadedBases(new BaseStore(dir), gate);
});
afterEach(async () => {
  await bases.closeAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('LoadedBases', () => {
  it('unloads a base idle past the limit and reloads it with every write', async () => {
    await bases.write(UUID, () => table);
    await bases.write(UUID, () => row('r1'));
    expect(await bases.unloadIdle(0)).toBe(1);
    expect(bases.loadedCount()).toBe(0);
    expect(await bases.read(UUID, (d) => d.tables[0]!.rows.map((r) => r._id))).toEqual(['r1']);
  });

  it('keeps a base that was used within the idle limit', async () => {
    await bases.write(UUID, () => table);
    expect(await bases.unloadIdle(60_000)).toBe(0);
  });

  it('refuses a base whose bucket it does not own with NotOwnedError', async () => {
    token = null;
    await expect(bases.read(UUID, (d) => d)).rejects.toBeInstanceOf(NotOwnedError);
  });

  it('announces each acknowledged operation once with increasing versions', async () => {
    const seen: number[] = [];
    bases.on('applied', (e: { version: number }) => seen.push(e.version));
    await bases.write(UUID, () => table);
    await Promise.all(['a', 'b', 'c'].map((id) => bases.write(UUID, () => row(id))));
    expect(seen).toEqual([1, 2, 3, 4]);
  });

  it('reports per-bucket bases, bytes and operations per second', async () => {
    await bases.write(UUID, () => table);
    const load = bases.load(1000);
    expect(load['5e']).toMatchObject({ bases: 1, ops_per_sec: 1 });
    expect(load['5e']!.bytes).toBeGreaterThan(0);
  });

  it('reports a logged write whose acknowledgement was refused as an unknown outcome, not as a wrong node', async () => {
    await bases.write(UUID, () => table);
    guard = new Error('lease lapsed');
    await expect(bases.write(UUID, () => row('r1'))).rejects.toBeInstanceOf(WriteOutcomeUnknownError);
  });

  it('refuses a write on a base being unloaded before logging it', async () => {
    await bases.write(UUID, () => table);
    const unloading = bases.unloadBucket('5e');
    await expect(bases.write(UUID, () => row('r1'))).rejects.toBeInstanceOf(NotOwnedError);
    await unloading;
    expect(await bases.read(UUID, (d) => d.tables[0]!.rows.length)).toBe(0);
  });
});
