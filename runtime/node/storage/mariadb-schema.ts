// The MariaDB schema of base storage and its migrations. The node applies them on start (and on
// the first use after MariaDB comes back): `dtable_schema` holds the version reached; migrations
// run in order under a named lock, so nodes starting together migrate once. utf8mb4 throughout.
import type { Connection } from 'mariadb';

const TABLE = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin';

/** Migration N (1-based) brings the schema from version N-1 to N. Never edit one that shipped: append. */
export const MIGRATIONS: readonly (readonly string[])[] = [
  [
    // The fence of every base of a bucket: the newest owner token that has taken the bucket over.
    `CREATE TABLE IF NOT EXISTS dtable_fences (
       bucket CHAR(2) NOT NULL PRIMARY KEY,
       token BIGINT UNSIGNED NOT NULL,
       raised_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
     ) ${TABLE}`,
    // The base as of `version` (JSON), written by the owner `token`.
    `CREATE TABLE IF NOT EXISTS dtable_snapshots (
       base_uuid CHAR(32) NOT NULL PRIMARY KEY,
       token BIGINT UNSIGNED NOT NULL,
       version BIGINT UNSIGNED NOT NULL,
       dtable LONGTEXT NOT NULL,
       saved_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
     ) ${TABLE}`,
    // The operation log: one row per acknowledged operation (JSON), by base and version.
    `CREATE TABLE IF NOT EXISTS dtable_operations (
       base_uuid CHAR(32) NOT NULL,
       version BIGINT UNSIGNED NOT NULL,
       token BIGINT UNSIGNED NOT NULL,
       operation LONGTEXT NOT NULL,
       stored_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
       PRIMARY KEY (base_uuid, version)
     ) ${TABLE}`,
    // Every takeover: the version the new owner read. An operation of an older token above that
    // version would be a write stored from a stale token (tests count them; there must be none).
    `CREATE TABLE IF NOT EXISTS dtable_takeovers (
       base_uuid CHAR(32) NOT NULL,
       token BIGINT UNSIGNED NOT NULL,
       version BIGINT UNSIGNED NOT NULL,
       taken_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
       PRIMARY KEY (base_uuid, token)
     ) ${TABLE}`,
  ],
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** The database holds a schema newer than this node knows: an older node must not write to it. */
export class SchemaVersionError extends Error {
  override name = 'SchemaVersionError';
  constructor(
    readonly found: unknown,
    readonly known: number,
  ) {
    super(`dtable_schema.version is ${JSON.stringify(found)}, this node knows versions up to ${known}: upgrade the node (or repair the row)`);
  }
}

/** Applies every migration above the stored version; resolves with the version reached. */
export async function migrate(conn: Connection, lockTimeoutSeconds = 30): Promise<number> {
  await conn.query(
    `CREATE TABLE IF NOT EXISTS dtable_schema (id TINYINT UNSIGNED NOT NULL PRIMARY KEY, version INT NOT NULL,
       migrated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)) ${TABLE}`,
  );
  const [lock] = (await conn.query('SELECT GET_LOCK(?, ?) AS got', ['dtable_cluster_schema', lockTimeoutSeconds])) as Array<{ got: number | null }>;
  if (Number(lock?.got) !== 1) throw new Error('could not take the schema migration lock (another node migrating?)');
  try {
    const rows = (await conn.query('SELECT version FROM dtable_schema WHERE id = 1')) as Array<{ version: unknown }>;
    const raw = rows[0]?.version ?? 0;
    const current = Number(raw);
    if (!Number.isInteger(current) || current < 0 || current > SCHEMA_VERSION) throw new SchemaVersionError(raw, SCHEMA_VERSION);
    for (let v = current + 1; v <= SCHEMA_VERSION; v++) {
      for (const sql of MIGRATIONS[v - 1]!) await conn.query(sql);
      await conn.query('INSERT INTO dtable_schema (id, version) VALUES (1, ?) ON DUPLICATE KEY UPDATE version = VALUES(version)', [v]);
    }
    return SCHEMA_VERSION;
  } finally {
    await conn.query('SELECT RELEASE_LOCK(?)', ['dtable_cluster_schema']).catch(() => undefined);
  }
}
