// The MariaDB backend of base storage (storage.ts), for nodes on any number of hosts. Per base a
// snapshot row and an operation log (one row per operation); per bucket a fence row holding the
// newest owner token that took the bucket over (a base's fence is its bucket's).
//
// Every write is ONE autocommit statement that joins the fence row: an INSERT ... SELECT from
// dtable_fences WHERE token <= ours stores the whole batch or nothing, and InnoDB's shared lock
// on the fence row orders it against the exclusive upsert that raises the fence. So a write from
// a token lower than the fence is refused inside the statement that would have stored it, and a
// client paused between statements (SIGSTOP) holds no lock. Takeover by T: raise the fence to T,
// read the snapshot and the operations above it, store a new snapshot (fenced, like every write),
// record the takeover. Tokens are etcd owner-key create_revisions, so they only grow.
import mariadb, { type Pool, type PoolConnection } from 'mariadb';
import { bucketOf, normalizeUuid } from '../../cluster/buckets.ts';
import { silentLog, type Log } from '../../cluster/etcd/log.ts';
import { applyOperation, emptyDtable, type Dtable, type Operation } from '../dtable/model.ts';
import { migrate } from './mariadb-schema.ts';
import { FencedError, OpenBase, StorageUnavailableError, StoredDataError, type AckGuard, type BaseStorage, type LogRecord, type LogSink } from './storage.ts';

export interface MariadbStorageOptions {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  /** Connections per node. Default 4. */
  poolSize?: number;
  /** Store a new snapshot once this many operations were logged since the last one. Default 1000. */
  snapshotEvery?: number;
  /** TCP connect and pool acquire limit, ms: how fast a request fails while MariaDB is down. Default 3000. */
  connectTimeoutMs?: number;
  /** A statement without an answer for this long fails (outcome unknown). Default 15000. */
  socketTimeoutMs?: number;
  log?: Log;
}

const BACKEND = 'mariadb';
/** Operation JSON per INSERT statement (MariaDB's max_allowed_packet defaults to 16 MiB). */
const CHUNK_BYTES = 4 * 1024 * 1024;

function unavailable(err: unknown): Error {
  if (err instanceof FencedError || err instanceof StoredDataError || err instanceof StorageUnavailableError) return err;
  const e = err as { code?: string; message?: string };
  return new StorageUnavailableError(BACKEND, `${e.code ? `${e.code}: ` : ''}${(e.message ?? String(err)).split('\n')[0]}`);
}

/** A non-negative safe integer from a BIGINT column, else null. */
function count(v: unknown): number | null {
  const n = typeof v === 'bigint' ? Number(v) : v;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : null;
}

export class MariadbBaseStore implements BaseStorage {
  readonly kind = BACKEND;
  private readonly pool: Pool;
  private migrated: Promise<void> | null = null;
  private readonly log: Log;
  readonly snapshotEvery: number;

  constructor(opts: MariadbStorageOptions) {
    this.log = opts.log ?? silentLog;
    this.snapshotEvery = opts.snapshotEvery ?? 1000;
    const connectTimeout = opts.connectTimeoutMs ?? 3000;
    this.pool = mariadb.createPool({
      host: opts.host,
      port: opts.port,
      database: opts.database,
      user: opts.user,
      password: opts.password,
      charset: 'utf8mb4',
      connectionLimit: opts.poolSize ?? 4,
      connectTimeout,
      acquireTimeout: connectTimeout,
      socketTimeout: opts.socketTimeoutMs ?? 15_000,
      bigIntAsNumber: false,
      // Idle connections are checked before use, so one that died with the server is replaced.
      minDelayValidation: 0,
      // The fence check (INSERT … SELECT from dtable_fences) is ordered against a fence raise only
      // because InnoDB locks the rows it reads there under REPEATABLE READ; under READ COMMITTED, a
      // common server setting, that read takes no lock and a fenced write could be stored. Pinned.
      initSql: 'SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ',
    });
  }

  /** Creates or migrates the schema (once per process, again after a failure). */
  ready(): Promise<void> {
    this.migrated ??= (async () => {
      let conn: PoolConnection;
      try {
        conn = await this.pool.getConnection();
      } catch (err) {
        throw unavailable(err);
      }
      try {
        await migrate(conn);
      } catch (err) {
        throw new StorageUnavailableError(BACKEND, `schema migration failed: ${(err as Error).message}`);
      } finally {
        await conn.release();
      }
    })().catch((err: Error) => {
      this.migrated = null;
      throw err;
    });
    return this.migrated;
  }

  /** One statement on a pooled connection; driver errors become StorageUnavailableError. */
  async query<T = unknown>(sql: string, values?: unknown[]): Promise<T> {
    await this.ready();
    try {
      return (await this.pool.query(sql, values)) as T;
    } catch (err) {
      throw unavailable(err);
    }
  }

  async fenceBucket(bucket: string, token: number): Promise<void> {
    if (!/^[0-9a-f]{2}$/.test(bucket)) throw new Error(`not a bucket name: ${JSON.stringify(bucket)}`);
    const fence = await this.raiseFence(bucket, token);
    if (fence > token) throw new FencedError(`(bucket ${bucket})`, token, fence);
  }

  /** Raise the bucket's fence to `token` (never lower it); resolves with the fence now. */
  private async raiseFence(bucket: string, token: number): Promise<number> {
    await this.query('INSERT INTO dtable_fences (bucket, token) VALUES (?, ?) ON DUPLICATE KEY UPDATE token = GREATEST(token, VALUES(token))', [bucket, token]);
    return this.fenceOf(bucket);
  }

  async fenceOf(bucket: string): Promise<number> {
    const rows = await this.query<Array<{ token: unknown }>>('SELECT token FROM dtable_fences WHERE bucket = ?', [bucket]);
    if (rows.length === 0) return 0;
    const t = count(rows[0]!.token);
    if (t === null) throw new StorageUnavailableError(BACKEND, `dtable_fences row of bucket ${bucket} holds ${String(rows[0]!.token)}`);
    return t;
  }

  async open(uuidInput: string, token: number, guard: AckGuard = () => null): Promise<OpenBase> {
    if (!Number.isSafeInteger(token) || token <= 0) throw new Error(`owner token must be a positive integer, got ${token}`);
    const uuid = normalizeUuid(uuidInput);
    const bucket = bucketOf(uuid);
    const fence = await this.raiseFence(bucket, token);
    if (fence > token) throw new FencedError(uuid, token, fence);

    const snap = await this.readSnapshot(uuid);
    const d = snap?.dtable ?? emptyDtable();
    let version = snap?.version ?? 0;
    const rows = await this.query<Array<{ version: unknown; operation: unknown }>>(
      'SELECT version, operation FROM dtable_operations WHERE base_uuid = ? AND version > ? ORDER BY version',
      [uuid, version],
    );
    for (const row of rows) {
      const v = count(row.version);
      const where = `dtable_operations version ${String(row.version)}`;
      if (v !== version + 1) throw this.report(new StoredDataError(uuid, where, `expected version ${version + 1}: the log has a gap`));
      const op = parseOperation(row.operation);
      if (typeof op === 'string') throw this.report(new StoredDataError(uuid, where, op));
      try {
        applyOperation(d, op);
      } catch (err) {
        // Refused operations are never stored; one that no longer applies is reported and skipped.
        this.log.warn({ base: uuid, version: v, err: (err as Error).message }, 'stored operation does not apply; skipped');
      }
      version = v;
    }
    d.version = version;
    if (rows.length > 0) await this.saveSnapshot(uuid, bucket, token, version, snap?.version ?? 0, JSON.stringify(d));
    await this.query('INSERT IGNORE INTO dtable_takeovers (base_uuid, token, version) VALUES (?, ?, ?)', [uuid, token, version]);
    return new OpenBase(uuid, token, d, new MariadbLogSink(this, uuid, bucket, token, rows.length > 0 ? version : (snap?.version ?? 0)), guard);
  }

  private report(err: StoredDataError): StoredDataError {
    this.log.error({ base: err.uuid, where: err.where, err: err.message }, 'bad value in base storage: base not served until repaired');
    return err;
  }

  private async readSnapshot(uuid: string): Promise<{ version: number; dtable: Dtable } | null> {
    const rows = await this.query<Array<{ version: unknown; dtable: unknown }>>('SELECT version, dtable FROM dtable_snapshots WHERE base_uuid = ?', [uuid]);
    if (rows.length === 0) return null;
    const version = count(rows[0]!.version);
    if (version === null) throw this.report(new StoredDataError(uuid, 'dtable_snapshots.version', `not a version: ${String(rows[0]!.version)}`));
    const dtable = parseDtable(rows[0]!.dtable);
    if (typeof dtable === 'string') throw this.report(new StoredDataError(uuid, 'dtable_snapshots.dtable', dtable));
    return { version, dtable };
  }

  /**
   * Store `json` (the base at `version`) as the snapshot, fenced like every write; then drop
   * the operations the previous snapshot (at `previous`) already held: one generation is kept.
   */
  async saveSnapshot(uuid: string, bucket: string, token: number, version: number, previous: number, json: string): Promise<void> {
    const r = await this.query<{ affectedRows: number }>(
      `INSERT INTO dtable_snapshots (base_uuid, token, version, dtable)
       SELECT ?, ?, ?, ? FROM dtable_fences f WHERE f.bucket = ? AND f.token <= ?
       ON DUPLICATE KEY UPDATE
         dtable = IF(VALUES(version) >= dtable_snapshots.version, VALUES(dtable), dtable),
         token = IF(VALUES(version) >= dtable_snapshots.version, VALUES(token), dtable_snapshots.token),
         version = GREATEST(dtable_snapshots.version, VALUES(version))`,
      [uuid, token, version, json, bucket, token],
    );
    if (r.affectedRows === 0) {
      const fence = await this.fenceOf(bucket);
      if (fence > token) throw new FencedError(uuid, token, fence);
    }
    if (previous > 0) await this.query('DELETE FROM dtable_operations WHERE base_uuid = ? AND version <= ?', [uuid, previous]);
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}

/** Stores each batch with one fenced INSERT ... SELECT; takes a snapshot every `snapshotEvery` operations. */
class MariadbLogSink implements LogSink {
  private sinceSnapshot = 0;
  private snapshotting: Promise<void> | null = null;

  constructor(
    private readonly store: MariadbBaseStore,
    private readonly uuid: string,
    private readonly bucket: string,
    private readonly token: number,
    /** Version of the stored snapshot. */
    private snapshotVersion: number,
  ) {}

  async write(records: readonly LogRecord[]): Promise<void> {
    // One statement per chunk of about CHUNK_BYTES, so a batch of large operations stays under
    // max_allowed_packet. Chunks are stored in version order; a failure fails the whole batch
    // (outcome unknown), and a stored prefix is then simply read back by the next load.
    let chunk: Array<{ v: number; json: string }> = [];
    let bytes = 0;
    for (const r of records) {
      const json = JSON.stringify(r.op);
      if (chunk.length > 0 && bytes + json.length > CHUNK_BYTES) {
        await this.store1(chunk);
        chunk = [];
        bytes = 0;
      }
      chunk.push({ v: r.v, json });
      bytes += json.length;
    }
    await this.store1(chunk);
  }

  private async store1(chunk: ReadonlyArray<{ v: number; json: string }>): Promise<void> {
    const rows = chunk.map(() => 'SELECT ? AS version, ? AS operation').join(' UNION ALL ');
    const values: unknown[] = [this.uuid, this.token];
    for (const r of chunk) values.push(r.v, r.json);
    values.push(this.bucket, this.token);
    const res = await this.store.query<{ affectedRows: number }>(
      `INSERT INTO dtable_operations (base_uuid, version, token, operation)
       SELECT ?, v.version, ?, v.operation FROM dtable_fences f JOIN (${rows}) v
       WHERE f.bucket = ? AND f.token <= ?`,
      values,
    );
    if (res.affectedRows === chunk.length) {
      this.sinceSnapshot += chunk.length;
      return;
    }
    const fence = await this.store.fenceOf(this.bucket);
    if (fence > this.token) throw new FencedError(this.uuid, this.token, fence);
    throw new StorageUnavailableError(BACKEND, `stored ${res.affectedRows} of ${chunk.length} operations of ${this.uuid} (fence row of bucket ${this.bucket}: ${fence})`);
  }

  committed(dtable: Dtable): void {
    if (this.sinceSnapshot < this.store.snapshotEvery || this.snapshotting) return;
    // Now, synchronously: the in-memory base equals what is stored (nothing queued).
    const json = JSON.stringify(dtable);
    const previous = this.snapshotVersion;
    const version = dtable.version;
    this.sinceSnapshot = 0;
    this.snapshotting = this.store
      .saveSnapshot(this.uuid, this.bucket, this.token, version, previous, json)
      .then(
        () => void (this.snapshotVersion = version),
        () => undefined, // the operations stay in the log; the next takeover snapshots them
      )
      .finally(() => (this.snapshotting = null));
  }

  async close(): Promise<void> {
    await this.snapshotting;
  }
}

function parseOperation(raw: unknown): Operation | string {
  if (typeof raw !== 'string') return `operation is ${raw === null ? 'NULL' : typeof raw}, not JSON text`;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (err) {
    return `operation is not JSON (${(err as Error).message}): ${raw.slice(0, 60)}`;
  }
  if (typeof v !== 'object' || v === null || typeof (v as { op_type?: unknown }).op_type !== 'string') return `operation has no op_type: ${raw.slice(0, 60)}`;
  return v as Operation;
}

function parseDtable(raw: unknown): Dtable | string {
  if (typeof raw !== 'string') return `dtable is ${raw === null ? 'NULL' : typeof raw}, not JSON text`;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (err) {
    return `dtable is not JSON (${(err as Error).message})`;
  }
  const d = v as Partial<Dtable> | null;
  if (typeof d !== 'object' || d === null || !Array.isArray(d.tables) || d.tables.some((t) => typeof t !== 'object' || t === null || !Array.isArray(t.rows) || !Array.isArray(t.columns))) {
    return 'dtable is not a base (an object with tables, each with columns and rows)';
  }
  for (const t of d.tables) {
    const i = t.rows.findIndex((r) => typeof r !== 'object' || r === null || typeof (r as { _id?: unknown })._id !== 'string');
    if (i >= 0) return `row ${i} of table ${JSON.stringify(t._id ?? t.name ?? '?')} is not a row object with a string _id`;
  }
  return d as Dtable;
}
