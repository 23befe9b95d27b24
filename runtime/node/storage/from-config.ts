// The node's base storage as its config file chooses (`dtable_cluster.storage`): one interface,
// the filesystem or the MariaDB backend behind it.
import type { Log } from '../../cluster/etcd/log.ts';
import type { NodeStorageConfig } from '../../config/files.ts';
import { BaseStore } from './base-store.ts';
import { MariadbBaseStore } from './mariadb-store.ts';
import type { BaseStorage } from './storage.ts';

/** The MariaDB password's environment variable (`password_env`) is not set. */
export class StoragePasswordMissingError extends Error {
  override name = 'StoragePasswordMissingError';
  constructor(readonly envName: string) {
    super(`environment variable ${envName} (storage.password_env) is not set: it holds the MariaDB password of the base storage`);
  }
}

/** Throws StoragePasswordMissingError before anything connects. */
export function baseStorageFor(config: NodeStorageConfig, storageDir: string, env: NodeJS.ProcessEnv, log: Log): BaseStorage {
  if (config.kind === 'filesystem') return new BaseStore(storageDir);
  const password = env[config.password_env];
  if (password === undefined) throw new StoragePasswordMissingError(config.password_env);
  return new MariadbBaseStore({
    host: config.host,
    port: config.port,
    database: config.database,
    user: config.user,
    password,
    poolSize: config.pool_size,
    snapshotEvery: config.snapshot_every,
    log,
  });
}
