import type { Plan } from '../plan/types.ts';
import { openView } from '../local/cluster-status.ts';

/** The running cluster's etcd view for a command that needs etcd; null after telling the user etcd is unreachable. */
export async function openViewOrExplain(plan: Plan): Promise<Awaited<ReturnType<typeof openView>> | null> {
  return openView(plan).catch((err: Error) => {
    process.stderr.write(`dtable-cluster: cannot reach etcd (${err.message})\n  hint: is the cluster up? \`npx dtable-cluster status\`\n`);
    return null;
  });
}
