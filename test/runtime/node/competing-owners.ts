// The competing-owners property shared by both base storage backends: whatever the interleaving
// of takeovers and appends by successive owners, a later owner sees every acknowledged write
// exactly once, and no owner gets a write acknowledged after a newer owner took the base over.
import fc from 'fast-check';
import { expect } from 'vitest';
import type { Operation } from '../../../runtime/node/dtable/model.ts';
import type { BaseStorage, OpenBase } from '../../../runtime/node/storage/storage.ts';

const table: Operation = { op_type: 'insert_table', table_id: 't1', table_name: 'T', columns: [{ key: '0000', name: 'Name', type: 'text', width: 200, data: null }], view_id: 'v1' };

type Cmd = { kind: 'takeover' } | { kind: 'append'; owner: number } | { kind: 'settle' };
const cmd = fc.oneof(
  { weight: 1, arbitrary: fc.constant<Cmd>({ kind: 'takeover' }) },
  { weight: 5, arbitrary: fc.nat(3).map<Cmd>((owner) => ({ kind: 'append', owner })) },
  { weight: 2, arbitrary: fc.constant<Cmd>({ kind: 'settle' }) },
);

/** One fresh base per run: its store, its uuid, a token base above every earlier run's tokens. */
export interface RunBase {
  store: BaseStorage;
  uuid: string;
  tokenBase: number;
  done(): Promise<void>;
}

export async function assertCompetingOwners(fresh: () => Promise<RunBase>, numRuns: number): Promise<void> {
  await fc.assert(
    fc.asyncProperty(fc.array(cmd, { minLength: 1, maxLength: 40 }), async (cmds) => {
      const { store, uuid, tokenBase, done } = await fresh();
      const owners: OpenBase[] = [];
      const pending: Array<Promise<void>> = [];
      const acked: Array<{ id: string; token: number; at: number }> = [];
      const takeoverAt = new Map<number, number>();
      let clock = 0;
      let n = 0;
      try {
        const first = await store.open(uuid, tokenBase + 1);
        await first.append(table).durable;
        owners.push(first);
        takeoverAt.set(tokenBase + 1, clock++);
        for (const c of cmds) {
          if (c.kind === 'takeover') {
            const token = tokenBase + owners.length + 1;
            // A takeover may race with queued writes of older owners: do not await them first.
            owners.push(await store.open(uuid, token));
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
        const last = await store.open(uuid, tokenBase + owners.length + 100);
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
        await done();
      }
    }),
    { numRuns },
  );
}
