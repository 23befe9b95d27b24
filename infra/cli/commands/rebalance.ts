// `dtable-cluster rebalance [--dry-run]`: asks the monitor leader for a load-aware rebalance.
import { requestRebalance, RebalanceError, type RebalanceResult } from '../../../runtime/cluster/etcd/requests.ts';
import { bucketLoadsOf, type LoadMetric } from '../../../runtime/cluster/rebalance.ts';
import { keyspace } from '../../../runtime/cluster/keyspace.ts';
import { closeView } from '../../local/cluster-status.ts';
import { openViewOrExplain } from '../cluster-view.ts';
import type { CliCommand } from '../command.ts';
import { CONFIG_OPTION, loadPlan, parseFlags, UsageError } from '../options.ts';

const help = `Usage: dtable-cluster rebalance [--dry-run] [--budget N] [--json] [--config FILE] [--run-dir DIR]

Asks the monitor leader to even out load across nodes, using the per-bucket load the nodes
publish, moving at most the monitor's move budget (or --budget N) buckets. Prints the moves and
the load per node before and after: operations per second, or bytes in memory while no bucket
has operations. --dry-run only prints the plan.

Options:
      --dry-run       compute and print the plan without applying it
      --budget N      maximum buckets to move
      --json          print the plan as JSON
  -c, --config FILE   cluster file (default ./cluster.yaml)
      --run-dir DIR   overrides local.run_dir
`;

const UNIT: Record<LoadMetric, string> = { ops_per_sec: 'ops/s', bytes: 'bytes in memory (no bucket has operations)' };

export function formatRebalance(r: RebalanceResult, dryRun: boolean, metric: LoadMetric): string {
  const { moves, before, after } = r.plan;
  const head =
    moves.length === 0
      ? `already balanced: nothing to move${dryRun ? ' (dry run)' : ''}`
      : `${dryRun ? 'plan (dry run, nothing moved)' : r.applied ? `applied by ${r.monitorId}, epoch ${r.epoch}` : 'not applied'}: ${moves.length} move(s)`;
  const n = (x: number) => (metric === 'bytes' ? String(Math.round(x)) : x.toFixed(2));
  return [
    head,
    ...moves.map((m) => `  ${m.bucket}  ${m.from ?? '(none)'} -> ${m.to}`),
    `load per node, ${UNIT[metric]}: max ${n(before.max)}${moves.length ? ` -> ${n(after.max)}` : ''}, mean ${n(before.mean)}`,
  ].join('\n');
}

export const command: CliCommand = {
  name: 'rebalance',
  summary: 'even out bucket load across nodes (--dry-run to preview)',
  help,
  async run(argv) {
    const { values } = parseFlags('rebalance', argv, {
      ...CONFIG_OPTION,
      'run-dir': { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      budget: { type: 'string' },
      json: { type: 'boolean', default: false },
    });
    let budget: number | undefined;
    if (values.budget !== undefined) {
      budget = /^\d{1,6}$/.test(values.budget) ? Number(values.budget) : 0;
      if (budget < 1) throw new UsageError(`rebalance: --budget must be a positive whole number (buckets to move at most), got "${values.budget}"`);
    }
    const runDir = values['run-dir'];
    const { plan } = loadPlan({ config: values.config, target: 'local', ...(runDir !== undefined ? { runDir } : {}) });
    const v = await openViewOrExplain(plan);
    if (!v) return 1;
    try {
      const dryRun = values['dry-run']!;
      const r = await requestRebalance(v.client, keyspace(plan.keyPrefix), { dryRun, ...(budget !== undefined ? { budget } : {}), requestedBy: 'dtable-cluster rebalance' });
      if (values.json) {
        process.stdout.write(`${JSON.stringify({ applied: r.applied, epoch: r.epoch, monitor_id: r.monitorId, ...r.plan }, null, 2)}\n`);
        return 0;
      }
      // The metric the monitor measured with, by its own rule on the loads the nodes publish.
      const { metric } = bucketLoadsOf(v.view.assignment(), v.view.loads());
      process.stdout.write(`${formatRebalance(r, dryRun, metric)}\n`);
      return 0;
    } catch (err) {
      if (err instanceof RebalanceError) {
        process.stderr.write(`dtable-cluster: rebalance failed: ${err.message}\n  hint: is a monitor running? \`npx dtable-cluster status\`\n`);
        return 1;
      }
      throw err;
    } finally {
      await closeView(v);
    }
  },
};

export default command;
