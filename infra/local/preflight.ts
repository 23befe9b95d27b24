// Checks before anything is started, so a user error surfaces as one clear message instead of a
// component that dies half-way through start-up.
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { EtcdBinaryMissingError, PortInUseError } from './errors.ts';
import type { ProcessSpec } from './processes.ts';

/** Absolute path of the etcd binary: $ETCD_BIN, else the first `etcd` on PATH, else /usr/bin/etcd. */
export function findEtcdBinary(env: NodeJS.ProcessEnv = process.env): string {
  const executable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (env.ETCD_BIN) {
    if (executable(env.ETCD_BIN)) return env.ETCD_BIN;
    throw new EtcdBinaryMissingError(env.ETCD_BIN);
  }
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const p = join(dir, 'etcd');
    if (executable(p)) return p;
  }
  if (executable('/usr/bin/etcd')) return '/usr/bin/etcd';
  throw new EtcdBinaryMissingError('etcd on PATH and /usr/bin/etcd');
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** Throws PortInUseError for the first port of `specs` that something else listens on. */
export async function checkPortsFree(specs: ReadonlyArray<Pick<ProcessSpec, 'name' | 'ports'>>): Promise<void> {
  for (const spec of specs) {
    for (const claim of spec.ports) {
      if (!(await portFree(claim.host, claim.port))) throw new PortInUseError(claim.host, claim.port, spec.name, claim.slot);
    }
  }
}
