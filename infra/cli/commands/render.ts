// `dtable-cluster render`: every component's config file, written below --out.
import { relative } from 'node:path';
import { renderPlan } from '../../render/render.ts';
import { writeRendered } from '../../render/write.ts';
import type { CliCommand } from '../command.ts';
import { CONFIG_OPTION, loadPlan, parseFlags, parseTarget, printWarnings, TARGET_OPTION, UsageError } from '../options.ts';

const help = `Usage: dtable-cluster render --out DIR [--target docker|local] [--config FILE] [--run-dir DIR]

Writes one folder per component instance below DIR:
  <etcd member>/etcd.conf.yml             etcd --config-file
  <node_id>/dtable_server_config.json     dtable-server node (SeaTable's cluster_config + ours)
  dtable-server-proxy/dtable_server_config.json, docker-compose.yml
  monitor-N/monitor.json, web/web.json    monitor replicas, web lookup role
  dtable-web/dtable_web_settings.py       fragment for SeaTable's dtable-web
  dtable-db/dtable-db.conf                fragment for SeaTable's dtable-db

Options:
  -o, --out DIR       output folder (created; existing files are overwritten)
  -t, --target T      docker (hosts as written, default) or local (127.0.0.1, ports from local.base_port)
  -c, --config FILE   cluster file (default ./cluster.yaml)
      --run-dir DIR   local target: overrides local.run_dir (data dirs and config paths)
`;

export const command: CliCommand = {
  name: 'render',
  summary: 'write every component config file into a folder',
  help,
  async run(argv) {
    const { values } = parseFlags('render', argv, {
      ...CONFIG_OPTION,
      ...TARGET_OPTION,
      out: { type: 'string', short: 'o' },
      'run-dir': { type: 'string' },
    });
    if (!values.out) throw new UsageError('render: --out DIR is required', 'e.g. dtable-cluster render --out ./rendered');
    const target = parseTarget('render', values.target);
    const loaded = loadPlan({
      config: values.config,
      target,
      ...(values['run-dir'] !== undefined ? { runDir: values['run-dir'] } : {}),
    });
    printWarnings(loaded.warnings);
    const written = writeRendered(renderPlan(loaded.plan), values.out);
    for (const p of written) {
      const rel = relative(process.cwd(), p);
      process.stdout.write(`${rel.startsWith('..') ? p : rel}\n`);
    }
    return 0;
  },
};

export default command;
