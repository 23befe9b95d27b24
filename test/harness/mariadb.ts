// A real MariaDB for integration tests: Debian's mariadbd on a free loopback port with its own
// datadir in a temp dir (the same launcher `up` uses), stopped and removed by stop(), and killed
// if the test process exits without calling it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mariadb from 'mariadb';
import { startLocalMariadb, type LocalMariadb } from '../../infra/local/mariadb.ts';
import { freePort } from './free-port.ts';

export interface TestMariadb {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
  readonly server: LocalMariadb;
  /** Storage options for MariadbBaseStore / a node's `storage` block (password inline). */
  readonly options: { host: string; port: number; database: string; user: string; password: string };
  /** Run one statement as the nodes' user (for checks and for planting bad values). */
  sql<T = unknown>(statement: string, values?: unknown[]): Promise<T>;
  stop(): Promise<void>;
}

const live = new Set<LocalMariadb>();
process.once('exit', () => {
  for (const s of live) s.signal('SIGKILL');
});

export async function startMariadb(database = 'dtable_bases'): Promise<TestMariadb> {
  const dir = mkdtempSync(join(tmpdir(), 'mariadb-test-'));
  const port = await freePort();
  const spec = { dir, host: '127.0.0.1', port, database, user: 'dtable', password: 'test-password-ü', logFile: join(dir, 'logs', 'mariadbd.log') }; // a log folder not made yet, as on a first `up`
  const server = await startLocalMariadb(spec);
  live.add(server);
  const options = { host: spec.host, port, database, user: spec.user, password: spec.password };
  return {
    ...options,
    server,
    options,
    async sql<T>(statement: string, values?: unknown[]): Promise<T> {
      const conn = await mariadb.createConnection({ ...options, charset: 'utf8mb4', connectTimeout: 3000 });
      try {
        return (await conn.query(statement, values)) as T;
      } finally {
        await conn.end();
      }
    },
    async stop() {
      await server.stop();
      live.delete(server);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
