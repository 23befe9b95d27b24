// Property (MariaDB backend, a real mariadbd): competing owners, see competing-owners.ts. Each run
// uses a fresh base, and tokens above every earlier run's (a bucket's fence only grows).
import { afterAll, beforeAll, describe, it } from 'vitest';
import { MariadbBaseStore } from '../../../runtime/node/storage/mariadb-store.ts';
import { startMariadb, type TestMariadb } from '../../harness/mariadb.ts';
import { assertCompetingOwners } from './competing-owners.ts';

let db: TestMariadb;
let store: MariadbBaseStore;
beforeAll(async () => {
  db = await startMariadb();
  store = new MariadbBaseStore({ ...db.options, snapshotEvery: 7 });
});
afterAll(async () => {
  await store?.close();
  await db?.stop();
});

describe('MariadbBaseStore under competing owners', () => {
  it('keeps every acknowledged write exactly once and acknowledges nothing of a superseded owner', async () => {
    let run = 0;
    await assertCompetingOwners(async () => {
      run++;
      return { store, uuid: `5e${crypto.randomUUID().replaceAll('-', '').slice(2)}`, tokenBase: run * 1000, done: async () => undefined };
    }, 30);
  });
});
