// `npm run bench:storage`: write acknowledgement latency (p50, p99) and acknowledged rows per
// second of the two base storage backends, filesystem against MariaDB, in one run on this
// machine. Each round opens one base as its owner and keeps C writers appending one row each and
// awaiting the acknowledgement (durable and fenced, exactly the node's ack path) for a fixed time.
// MariaDB is a private Debian mariadbd on loopback with its default durability
// (innodb_flush_log_at_trx_commit=1). Not a test: prints figures and the mariadb/filesystem ratio.
//   BENCH_SECONDS (default 5) per round, BENCH_CONCURRENCY (default "1,16").
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalMariadb } from '../infra/local/mariadb.ts';
import type { Operation } from '../runtime/node/dtable/model.ts';
import { BaseStore } from '../runtime/node/storage/base-store.ts';
import { MariadbBaseStore } from '../runtime/node/storage/mariadb-store.ts';
import type { BaseStorage } from '../runtime/node/storage/storage.ts';
import { freePort } from '../test/harness/free-port.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,16').split(',').map(Number);

const table: Operation = { op_type: 'insert_table', table_id: 't1', table_name: 'T', columns: [{ key: '0000', name: 'Name', type: 'text', width: 200, data: null }], view_id: 'v1' };

interface Round {
  p50: number;
  p99: number;
  rowsPerSec: number;
  acked: number;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};

async function round(store: BaseStorage, concurrency: number, token: number): Promise<Round> {
  const uuid = `${(token % 256).toString(16).padStart(2, '0')}${crypto.randomUUID().replaceAll('-', '').slice(2)}`;
  const base = await store.open(uuid, token);
  await base.append(table).durable;
  const latencies: number[] = [];
  let n = 0;
  const end = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const id = `r${++n}`;
        const t = performance.now();
        await base.append({ op_type: 'insert_rows', table_id: 't1', rows: [{ _id: id, _ctime: 'c', _mtime: 'm', Name: id }] }).durable;
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  await base.close();
  return { p50: pct(latencies, 50), p99: pct(latencies, 99), rowsPerSec: latencies.length / elapsed, acked: latencies.length };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-storage-'));
  const port = await freePort();
  const spec = { dir: join(dir, 'mariadb'), host: '127.0.0.1', port, database: 'bench', user: 'bench', password: 'bench-password', logFile: join(dir, 'mariadbd.log') };
  const server = await startLocalMariadb(spec);
  const fs = new BaseStore(join(dir, 'fs'));
  const db = new MariadbBaseStore({ host: spec.host, port, database: spec.database, user: spec.user, password: spec.password });
  try {
    await db.ready();
    const fmt = (ms: number) => `${ms.toFixed(2)} ms`;
    console.log(`base storage write acknowledgement, ${SECONDS} s per round (durable + fenced, as a node acknowledges)`);
    console.log(`${'writers'.padEnd(8)} ${'backend'.padEnd(11)} ${'p50'.padStart(10)} ${'p99'.padStart(10)} ${'rows/s'.padStart(9)}`);
    let token = 1;
    for (const c of CONCURRENCY) {
      const f = await round(fs, c, token++);
      const m = await round(db, c, token++);
      console.log(`${String(c).padEnd(8)} ${'filesystem'.padEnd(11)} ${fmt(f.p50).padStart(10)} ${fmt(f.p99).padStart(10)} ${f.rowsPerSec.toFixed(0).padStart(9)}`);
      console.log(`${String(c).padEnd(8)} ${'mariadb'.padEnd(11)} ${fmt(m.p50).padStart(10)} ${fmt(m.p99).padStart(10)} ${m.rowsPerSec.toFixed(0).padStart(9)}`);
      console.log(`${''.padEnd(8)} ${'ratio m/f'.padEnd(11)} ${`${(m.p50 / f.p50).toFixed(2)}×`.padStart(10)} ${`${(m.p99 / f.p99).toFixed(2)}×`.padStart(10)} ${`${(m.rowsPerSec / f.rowsPerSec).toFixed(2)}×`.padStart(9)}`);
    }
  } finally {
    await db.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
