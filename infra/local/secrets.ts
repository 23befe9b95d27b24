// Secrets for a local cluster. Values come from the environment variables the plan names; when
// one is unset, it is generated once and kept in the run dir (mode 0600), so a second `up` and
// every client (tests, `status`) use the same private key and admin token.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Plan } from '../plan/types.ts';

export interface ClusterSecrets {
  readonly privateKey: string;
  readonly adminToken: string;
  /** The nodes' MariaDB password (storage kind mariadb), else undefined. */
  readonly storagePassword?: string;
  /** Where each value came from. */
  readonly source: { readonly privateKey: 'env' | 'run-dir'; readonly adminToken: 'env' | 'run-dir' };
  /** Environment entries to pass to every child: `{ [env name]: value }`. */
  readonly env: Readonly<Record<string, string>>;
}

interface StoredSecrets {
  private_key?: string;
  admin_token?: string;
  storage_password?: string;
}

function readStored(file: string): StoredSecrets {
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as StoredSecrets;
  } catch {
    return {};
  }
}

export function ensureSecrets(plan: Plan, file: string, env: NodeJS.ProcessEnv = process.env): ClusterSecrets {
  const { privateKeyEnv, adminTokenEnv } = plan.secrets;
  const stored = readStored(file);
  let changed = false;
  const pick = (envName: string, key: keyof StoredSecrets, bytes: number): [string, 'env' | 'run-dir'] => {
    const fromEnv = env[envName];
    if (fromEnv) return [fromEnv, 'env'];
    if (!stored[key]) {
      stored[key] = randomBytes(bytes).toString('hex');
      changed = true;
    }
    return [stored[key]!, 'run-dir'];
  };
  const [privateKey, pkSource] = pick(privateKeyEnv, 'private_key', 32);
  const [adminToken, atSource] = pick(adminTokenEnv, 'admin_token', 24);
  const storageEnv = plan.storage.kind === 'mariadb' ? plan.storage.passwordEnv : null;
  const storagePassword = storageEnv ? pick(storageEnv, 'storage_password', 24)[0] : undefined;
  if (changed) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  return {
    privateKey,
    adminToken,
    ...(storagePassword !== undefined ? { storagePassword } : {}),
    source: { privateKey: pkSource, adminToken: atSource },
    env: { [privateKeyEnv]: privateKey, [adminTokenEnv]: adminToken, ...(storageEnv && storagePassword !== undefined ? { [storageEnv]: storagePassword } : {}) },
  };
}

/** The secrets of a cluster that is (or was) running, for clients such as `status` and tests. */
export function readSecrets(plan: Plan, file: string, env: NodeJS.ProcessEnv = process.env): { privateKey?: string; adminToken?: string } {
  const stored = readStored(file);
  return {
    privateKey: env[plan.secrets.privateKeyEnv] || stored.private_key,
    adminToken: env[plan.secrets.adminTokenEnv] || stored.admin_token,
  };
}
