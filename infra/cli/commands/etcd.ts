// `dtable-cluster etcd compact|defrag|disarm|move-leader`: the maintenance etcd's operations
// guide asks of a long-running cluster (docs/operations.md), against the members of cluster.yaml.
import { DefragError, EtcdUnreachableError, type EtcdMaintenance } from '../../../runtime/cluster/etcd/maintenance.ts';
import { etcdMaintenanceOf } from '../../local/cluster-status.ts';
import type { CliCommand } from '../command.ts';
import { CONFIG_OPTION, loadPlan, parseFlags, parseTarget, UsageError } from '../options.ts';

const help = `Usage: dtable-cluster etcd <action> [--config FILE] [--run-dir DIR] [--target local|docker]

Maintenance of the cluster's etcd (docs/operations.md):

  compact [--keep N]     compact the key history up to the current revision minus N (default 0);
                         etcd compacts by itself too (etcd.compaction in cluster.yaml)
  defrag                 defragment every member, one at a time: followers first, the leader
                         last, each healthy again before the next; prints the sizes
  disarm [--alarm NAME]  deactivate raised alarms (NOSPACE, or CORRUPT by name; default NOSPACE)
  move-leader MEMBER     transfer etcd leadership to MEMBER (before maintenance of the leader)

Recovery from NOSPACE: \`etcd compact\`, then \`etcd defrag\`, then \`etcd disarm\`.

Options:
      --keep N        compact: revisions to keep (default 0)
      --alarm NAME    disarm: this alarm (default NOSPACE; CORRUPT only on purpose)
  -c, --config FILE   cluster file (default ./cluster.yaml)
      --run-dir DIR   overrides local.run_dir (certificates with etcd.tls)
  -t, --target T      whose member addresses to use: local (default, the cluster of \`up\`) or
                      docker (the hosts in cluster.yaml; plain http only)
`;

const ACTIONS = ['compact', 'defrag', 'disarm', 'move-leader'] as const;
const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

async function act(m: EtcdMaintenance, action: (typeof ACTIONS)[number], args: { keep: number; alarm?: string; member?: string }): Promise<number> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  switch (action) {
    case 'compact': {
      const rev = await m.compact({ keep: args.keep });
      out(rev === 0 ? 'nothing to compact: already compacted up to there' : `compacted the key history up to revision ${rev}`);
      return 0;
    }
    case 'defrag': {
      await m.defragAll({
        onStep: (s) => out(`${s.member}${s.was_leader ? ' (leader)' : ''}: ${mib(s.db_size_before)} -> ${mib(s.db_size_after)} in ${(s.ms / 1000).toFixed(1)}s, healthy`),
      });
      return 0;
    }
    case 'disarm': {
      const gone = await m.disarm(args.alarm);
      out(gone.length === 0 ? 'no alarm raised' : gone.map((a) => `disarmed ${a.alarm} of ${a.member || a.member_id}`).join('\n'));
      return 0;
    }
    case 'move-leader': {
      await m.moveLeader(args.member!);
      out(`etcd leader is now ${args.member}`);
      return 0;
    }
  }
}

export const command: CliCommand = {
  name: 'etcd',
  summary: 'etcd maintenance: compact, defrag (one member at a time), disarm alarms, move-leader',
  help,
  async run(argv) {
    const { values, positionals } = parseFlags(
      'etcd',
      argv,
      { ...CONFIG_OPTION, 'run-dir': { type: 'string' }, target: { type: 'string', short: 't', default: 'local' }, keep: { type: 'string', default: '0' }, alarm: { type: 'string' } },
      true,
    );
    const [action, ...rest] = positionals;
    if (!action || !(ACTIONS as readonly string[]).includes(action)) {
      throw new UsageError(`etcd: expected one of ${ACTIONS.join(', ')}${action ? `, got "${action}"` : ''}`, 'run `npx dtable-cluster etcd --help`');
    }
    const keep = /^\d{1,15}$/.test(values.keep ?? '') ? Number(values.keep) : Number.NaN;
    if (!Number.isInteger(keep) || keep < 0) throw new UsageError(`etcd: --keep must be a whole number of revisions, got "${values.keep}"`);
    const alarm = values.alarm?.toUpperCase();
    if (alarm !== undefined && alarm !== 'NOSPACE' && alarm !== 'CORRUPT') throw new UsageError(`etcd: --alarm must be NOSPACE or CORRUPT, got "${values.alarm}"`);
    if (action === 'move-leader' ? rest.length !== 1 : rest.length !== 0) {
      throw new UsageError(`etcd ${action}: unexpected argument(s) ${rest.join(' ') || '(none: expected MEMBER)'}`, 'run `npx dtable-cluster etcd --help`');
    }
    const target = parseTarget('etcd', values.target);
    const runDir = values['run-dir'];
    const { plan } = loadPlan({ config: values.config, target, ...(runDir !== undefined ? { runDir } : {}) });
    if (action === 'move-leader' && !plan.etcd.members.some((m) => m.name === rest[0])) {
      throw new UsageError(`etcd move-leader: unknown member "${rest[0]}"`, `members: ${plan.etcd.members.map((m) => m.name).join(', ')}`);
    }
    const m = etcdMaintenanceOf(plan);
    try {
      return await act(m, action as (typeof ACTIONS)[number], { keep, ...(alarm ? { alarm } : {}), ...(rest[0] ? { member: rest[0] } : {}) });
    } catch (err) {
      if (err instanceof EtcdUnreachableError) {
        const members = err.statuses.map((s) => `${s.name} at ${s.endpoint}`).join(', ');
        process.stderr.write(`dtable-cluster: cannot reach etcd (no member answers: ${members})\n  hint: is the cluster up? \`npx dtable-cluster status\`\n`);
        return 1;
      }
      if (err instanceof DefragError) {
        process.stderr.write(`dtable-cluster: ${err.message}\n  hint: check the member's log; the remaining members were left alone\n`);
        return 1;
      }
      process.stderr.write(`dtable-cluster: etcd ${action} failed: ${(err as Error).message}\n  hint: is the cluster up? \`npx dtable-cluster status\`\n`);
      return 1;
    } finally {
      m.close();
    }
  },
};

export default command;
