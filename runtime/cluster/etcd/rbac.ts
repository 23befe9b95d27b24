// Applies an access policy (../access-policy.ts) to etcd: one user and one role per component,
// the root user with the root role, then authentication on. Idempotent, so `up` can run it on
// every start: existing users and roles are reused and their grants replaced.
import { randomBytes } from 'node:crypto';
import { Range, type Etcd3, type IPermissionRequest } from 'etcd3';
import { ROOT_USER, type KeyGrant, type RoleSpec } from '../access-policy.ts';

function permissionRequest(g: KeyGrant): IPermissionRequest {
  if ('key' in g) return { permission: g.permission, key: g.key };
  if ('prefix' in g) return { permission: g.permission, range: Range.prefix(g.prefix) };
  // "\0" to "\0": every key (etcd's from-key range).
  return { permission: g.permission, range: new Range(Buffer.from([0]), Buffer.from([0])) };
}

const exists = (err: unknown) => /already exists/i.test((err as Error).message ?? '');

/**
 * Creates or updates users and roles, then enables auth. Needs a client that may administer
 * etcd: before auth is on, any client; after, the root user (certificate CN `root`).
 */
export async function applyAccessPolicy(client: Etcd3, roles: readonly RoleSpec[]): Promise<void> {
  // Passwords are random and thrown away: components authenticate by certificate CN only.
  const password = () => randomBytes(24).toString('base64url');
  await client.user(ROOT_USER).create(password()).catch((e) => { if (!exists(e)) throw e; });
  await client.role('root').create().catch((e) => { if (!exists(e)) throw e; });
  await client.user(ROOT_USER).addRole('root');
  for (const spec of roles) {
    const role = client.role(spec.name);
    await role.create().catch((e) => { if (!exists(e)) throw e; });
    const old = await role.permissions();
    if (old.length > 0) await role.revoke(old.map((p) => ({ permission: p.permission, range: p.range })));
    await role.grant(spec.grants.map(permissionRequest));
    await client.user(spec.name).create(password()).catch((e) => { if (!exists(e)) throw e; });
    await client.user(spec.name).addRole(spec.name);
  }
  await client.auth.authEnable();
}
