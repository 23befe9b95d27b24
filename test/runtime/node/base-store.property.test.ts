// Property: whatever the interleaving of takeovers and appends by successive owners, a later
// owner sees every acknowledged write exactly once, and no owner gets a write acknowledged after
// a newer owner took the base over.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Operation } from '../../../runtime/node/dtable/model.ts';
import { BaseStore, type OpenBase } from '../../../runtime/node/storage/base-store.ts';

const UUID = '5e5c6ad2a1b24c3d9e8f001122334455';
const table: Operation = { op_type: 'insert_table', table_id: 't1', table_name: 'T', columns: [{ key: '0000', name: 'Name', type: 'text', width: 200, data: null }], view_id: 'v1' };

type Cmd = { kind: 'takeover' } | { kind: 'append'; owner: number } | { kind: 'settle' };
const cmd = fc.oneof(
  { weight: 1, arbitrary: fc.constant<Cmd>({ kind: 'takeover' }) },
  { weight: 5, arbitrary: fc.nat(3).map<Cmd>((owner) => ({ kind: 'append', owner })) },
  { weight: 2, arbitrary: fc.constant<Cmd>({ kind: 'settle' }) },
);

describe('BaseStore under competing owners', () => {
  it('keeps every acknowledged write exactly once and acknowledges nothing of a superseded owner', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cmd, { minLength: 1, maxLength: 40 }), async (cmds) => {
        const dir = mkdtempSync(join(tmpdir(), 'base-prop-'));
        const store = new BaseStore(dir);
        const owners: OpenBase[] = [];
        const pending: Array<Promise<void>> = [];
        const acked: Array<{ id: string; token: number; at: number }> = [];
        const takeoverAt = new Map<number, number>();
        let clock = 0;
        let n = 0;
        try {
          const first = await store.open(UUID, 1);
          await first.append(table).durable;
          owners.push(first);
          takeoverAt.set(1, clock++);
          for (const c of cmds) {
            if (c.kind === 'takeover') {
              const token = owners.length + 1;
              // A takeover may race with queued writes of older owners: do not await them first.
              owners.push(await store.open(UUID, token));
              takeoverAt.set(token, clock++);
            } else if (c.kind === 'append') {
              const o = owners[c.owner % owners.length]!;
              const id = `r${++n}`;
              let w: ReturnType<OpenBase['append']>;
              try {
                w = o.append({ op_type: 'insert_rows', table_id: 't1', rows: [{ _id: id, _ctime: 'c', _mtime: 'm' }] });
              } catch {
                continue; // refused at once: this owner was fenced already
              }
              pending.push(w.durable.then(() => void acked.push({ id, token: o.token, at: clock++ }), () => undefined));
            } else {
              await Promise.all(pending.splice(0));
            }
          }
          await Promise.all(pending.splice(0));
          const last = await store.open(UUID, owners.length + 100);
          const ids = last.dtable.tables[0]!.rows.map((r) => r._id);
          expect(ids.length).toBe(new Set(ids).size);
          for (const a of acked) expect(ids).toContain(a.id);
          // An acknowledgement by token t never follows a takeover by a newer token.
          for (const a of acked) {
            for (const [t, at] of takeoverAt) if (t > a.token) expect(a.at).toBeLessThan(at);
          }
          await last.close();
        } finally {
          await Promise.all(owners.map((o) => o.close()));
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 60 },
    );
  });
});
