// `dtable-cluster status [--json]`: the local cluster as etcd and the processes see it.
import { dirname, resolve } from 'node:path';
import { collectStatus, type ClusterStatus } from '../../local/cluster-status.ts';
import { readState, runDirLayout, runDirsStartedFrom, runningSupervisor } from '../../local/run-dir.ts';
import { ClusterConfigError } from '../../model/errors.ts';
import { PlanError } from '../../plan/resolve.ts';
import type { CliCommand } from '../command.ts';
import { CONFIG_OPTION, loadPlan, parseFlags } from '../options.ts';

const help = `Usage: dtable-cluster status [--config FILE] [--run-dir DIR] [--json]

Shows the local cluster of cluster.yaml: supervisor and processes, etcd member health, the
monitor leader, every node (live in etcd, URLs, assigned and owned buckets, weight, load) and the
assignment epoch, etcd's revision, compaction, database sizes and alarms, with what to do about
them. --json prints one object for scripts: web.url, proxy.url, proxy.admin_url, console.url,
etcd.endpoints[], etcd.members[] {name, db_size_bytes, db_size_in_use_bytes, is_leader, ...},
etcd.revision, etcd.compact_revision, etcd.alarms[], etcd.advice[],
storage {kind, address, database, healthy | dir}, nodes[] {node_id, node_url, local_node_url, live, buckets,
owned, weight, load}, monitor.leader, assignment {epoch, assigned, by_bucket: [{bucket, node_id}] in
bucket order, buckets: {hh: node_id} for lookups}, processes[] (the local MariaDB among them).
Exit code 0 when etcd answers without alarms and every node of the plan is live, 1 otherwise.

Options:
  -c, --config FILE   cluster file (default ./cluster.yaml)
      --run-dir DIR   overrides local.run_dir
      --json          machine-readable output
`;

const yes = (b: boolean) => (b ? 'up' : 'DOWN');
const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

export function formatStatus(s: ClusterStatus): string {
  const lines: string[] = [];
  const sup = s.supervisor;
  lines.push(`cluster ${s.cluster}  run dir ${s.run_dir}`);
  lines.push(sup.running ? `supervisor pid ${sup.pid} (${sup.phase})` : 'supervisor: not running');
  lines.push(`web     ${s.web.url}  ${yes(s.web.healthy)}`);
  lines.push(`proxy   ${s.proxy.url}  admin ${s.proxy.admin_url}  ${yes(s.proxy.healthy)}`);
  lines.push(`console ${s.console.url}`);
  const e = s.etcd;
  const size = (m: ClusterStatus['etcd']['members'][number]) =>
    m.db_size_bytes === null ? '' : ` ${mib(m.db_size_bytes)} (${mib(m.db_size_in_use_bytes ?? 0)} in use)`;
  lines.push(`etcd    ${e.healthy ? 'quorum' : 'NO QUORUM'}: ${e.members.map((m) => `${m.name} ${m.reachable || m.healthy ? 'up' : 'DOWN'}${m.is_leader ? ' leader' : ''}${size(m)}`).join(', ')}`);
  if (e.revision !== null) {
    lines.push(`        revision ${e.revision}, compacted up to ${e.compact_revision ?? '?'}, quota ${mib(e.quota_backend_bytes)}, alarms ${e.alarms.length === 0 ? 'none' : [...new Set(e.alarms.map((a) => a.alarm))].join(', ')}`);
  }
  for (const a of e.advice) lines.push(`! ${a}`);
  const st = s.storage;
  lines.push(st.kind === 'mariadb' ? `storage mariadb ${st.address}/${st.database}  ${yes(st.healthy)}` : `storage filesystem ${st.dir}`);
  lines.push(`monitor leader ${s.monitor.leader ?? '(none)'}; ${s.monitor.replicas.map((m) => `${m.monitor_id} ${yes(m.healthy)}`).join(', ')}`);
  if (s.assignment) lines.push(`assignment epoch ${s.assignment.epoch ?? '-'}, ${s.assignment.assigned}/256 buckets assigned`);
  lines.push('nodes');
  const w = Math.max(...s.nodes.map((n) => n.node_id.length));
  for (const n of s.nodes) {
    const load = n.load ? `  load ${n.load.bases} bases, ${n.load.ops_per_sec.toFixed(1)} ops/s` : '';
    lines.push(
      `  ${n.node_id.padEnd(w)}  ${n.live ? 'live' : 'GONE'}  ${String(n.buckets).padStart(3)} buckets (${n.owned} owned)  weight ${n.weight}  ${n.node_url}${load}`,
    );
  }
  if (s.error) lines.push(`! ${s.error}`);
  return lines.join('\n');
}

export const command: CliCommand = {
  name: 'status',
  summary: 'show nodes, buckets and endpoints (--json for scripts)',
  help,
  async run(argv) {
    const { values } = parseFlags('status', argv, { ...CONFIG_OPTION, 'run-dir': { type: 'string' }, json: { type: 'boolean', default: false } });
    const runDir = values['run-dir'];
    let plan;
    try {
      ({ plan } = loadPlan({ config: values.config, target: 'local', ...(runDir !== undefined ? { runDir } : {}) }));
    } catch (err) {
      if (!(err instanceof ClusterConfigError || err instanceof PlanError)) throw err;
      // What still runs from the run dir's own state, below the config errors (exit 2).
      const roots = runDir !== undefined ? [resolve(dirname(resolve(values.config)), runDir)] : runDirsStartedFrom(values.config);
      for (const root of roots) {
        const layout = runDirLayout(root);
        const pid = runningSupervisor(layout);
        if (pid === null) continue;
        const procs = (readState(layout)?.processes ?? []).filter((p) => p.status === 'running');
        process.stdout.write(`a cluster runs from ${root} (supervisor pid ${pid}): ${procs.map((p) => p.name).join(', ') || 'no process yet'}\n  \`npx dtable-cluster down\` stops it; fix ${values.config} for the full status\n`);
      }
      throw err;
    }
    const status = await collectStatus(plan, runDirLayout(plan.runDir));
    process.stdout.write(values.json ? `${JSON.stringify(status, null, 2)}\n` : `${formatStatus(status)}\n`);
    const planned = new Set(plan.nodes.map((n) => n.nodeId));
    const ok = !status.error && status.etcd.alarms.length === 0 && status.nodes.filter((n) => planned.has(n.node_id)).every((n) => n.live);
    return ok ? 0 : 1;
  },
};

export default command;
