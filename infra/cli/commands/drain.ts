// `dtable-cluster drain NODE_ID`: moves every bucket off a node (weight 0) and waits until it
// holds none; `--undo` gives the node its registered weight back; `--dry-run` prints the moves.
import { drainNode, UnknownNodeError } from '../../../runtime/cluster/etcd/drain.ts';
import { setNodeWeight } from '../../../runtime/cluster/etcd/requests.ts';
import { keyspace } from '../../../runtime/cluster/keyspace.ts';
import { BUCKETS } from '../../../runtime/cluster/buckets.ts';
import { closeView } from '../../local/cluster-status.ts';
import { openViewOrExplain } from '../cluster-view.ts';
import type { CliCommand } from '../command.ts';
import { CONFIG_OPTION, loadPlan, parseFlags, UsageError } from '../options.ts';

const help = `Usage: dtable-cluster drain NODE_ID [--undo] [--dry-run] [--no-wait] [--timeout S] [--config FILE] [--run-dir DIR]

Sets the node's weight to 0: the monitor moves all its buckets to the other nodes (each handed off
without client errors) and assigns it none. Waits until the node neither is assigned nor owns a
bucket, then prints how long that took. The node keeps running; stop it safely afterwards.

Options:
      --undo          remove the override: the node gets its registered weight back
      --dry-run       print the moves the monitor would make (its own algorithm), change nothing
      --no-wait       return once the request is written
      --timeout S     how long to wait (default 60)
  -c, --config FILE   cluster file (default ./cluster.yaml)
      --run-dir DIR   overrides local.run_dir
`;

export const command: CliCommand = {
  name: 'drain',
  summary: 'move every bucket off a node',
  help,
  async run(argv) {
    const { values, positionals } = parseFlags(
      'drain',
      argv,
      {
        ...CONFIG_OPTION,
        'run-dir': { type: 'string' },
        undo: { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        'no-wait': { type: 'boolean', default: false },
        timeout: { type: 'string', default: '60' },
      },
      true,
    );
    const nodeId = positionals[0];
    if (!nodeId || positionals.length > 1) throw new UsageError('drain: expected exactly one NODE_ID', 'e.g. dtable-cluster drain dtable-server-02');
    const timeoutMs = Number(values.timeout) * 1000;
    if (!(timeoutMs > 0)) throw new UsageError(`drain: --timeout must be a number of seconds, got "${values.timeout}"`);
    const runDir = values['run-dir'];
    const { plan } = loadPlan({ config: values.config, target: 'local', ...(runDir !== undefined ? { runDir } : {}) });
    const v = await openViewOrExplain(plan);
    if (!v) return 1;
    try {
      const known = new Set([...plan.nodes.map((n) => n.nodeId), ...v.view.nodes().keys()]);
      if (!known.has(nodeId)) {
        throw new UsageError(`drain: unknown node "${nodeId}"`, `nodes: ${[...known].join(', ')}`);
      }
      const ks = keyspace(plan.keyPrefix);
      if (values['dry-run']) {
        const r = await drainNode(v.client, v.view, { nodeId, undo: values.undo!, dryRun: true }).catch((err: Error) => {
          // In cluster.yaml but never seen in etcd: nothing of it would move.
          if (err instanceof UnknownNodeError) return { action: values.undo ? 'undrain' : 'drain', weight: values.undo ? 1 : 0, moves: [] };
          throw err;
        });
        const lines = [
          `${r.action} ${nodeId} (dry run, nothing changed): ${r.moves.length} move(s), weight would be ${r.weight}`,
          ...r.moves.map((m) => `  ${m.bucket}  ${m.from ?? '(none)'} -> ${m.to}`),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
        return 0;
      }
      if (values.undo) {
        await setNodeWeight(v.client, ks, nodeId, null);
        process.stdout.write(`${nodeId}: drain removed; the monitor gives it buckets again\n`);
        return 0;
      }
      const t0 = Date.now();
      await setNodeWeight(v.client, ks, nodeId, 0);
      process.stdout.write(`${nodeId}: draining (weight 0)\n`);
      if (values['no-wait']) return 0;
      const holds = () => {
        let assigned = 0;
        let owned = 0;
        for (const b of BUCKETS) {
          if (v.view.assignedTo(b) === nodeId) assigned++;
          if (v.view.ownerOf(b)?.nodeId === nodeId) owned++;
        }
        return { assigned, owned };
      };
      while (Date.now() - t0 < timeoutMs) {
        const h = holds();
        if (h.assigned === 0 && h.owned === 0) {
          process.stdout.write(`${nodeId}: drained in ${((Date.now() - t0) / 1000).toFixed(1)}s (no bucket assigned or owned)\n`);
          return 0;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      const h = holds();
      process.stderr.write(`dtable-cluster: ${nodeId} still has ${h.assigned} assigned and ${h.owned} owned bucket(s) after ${timeoutMs / 1000}s\n  hint: is a monitor running? \`npx dtable-cluster status\`\n`);
      return 1;
    } finally {
      await closeView(v);
    }
  },
};

export default command;
