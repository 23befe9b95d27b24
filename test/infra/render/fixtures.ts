// The plans rendered in tests: the repository's cluster.yaml for both targets, with a fixed run
// dir so local output does not depend on where the repo is checked out.
import { loadClusterFile } from '../../../infra/model/index.ts';
import { resolvePlan } from '../../../infra/plan/resolve.ts';
import type { Plan, Target } from '../../../infra/plan/types.ts';

export const REPO_ROOT = new URL('../../../', import.meta.url).pathname;
export const FIXED_RUN_DIR = '/srv/dtable-cluster/run';

export function repoPlan(target: Target, opts: { tls?: boolean } = {}): Plan {
  const { model } = loadClusterFile(`${REPO_ROOT}cluster.yaml`);
  const m = opts.tls ? { ...model, etcd: { ...model.etcd, tls: { enabled: true } } } : model;
  return resolvePlan(m, { target, configDir: REPO_ROOT, runDir: FIXED_RUN_DIR });
}
