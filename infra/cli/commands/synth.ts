// `dtable-cluster synth`: the CDKTF Docker stacks for cluster.yaml, written as Terraform JSON
// without needing the cdktf CLI or a terraform binary.
import { relative } from 'node:path';
import type { CliCommand } from '../command.ts';
import { CONFIG_OPTION, parseFlags, printWarnings, UsageError } from '../options.ts';

const help = `Usage: dtable-cluster synth [--config FILE] [--out DIR] [--backend TYPE]

Synthesizes the Docker stacks for cluster.yaml into DIR/stacks/<cluster name>/cdk.tf.json:
one Docker provider per docker_hosts entry, a network, images and data volumes per host, and a
container per etcd member, node, proxy, monitor and the web role, each with its rendered config.
Secrets are Terraform variables (TF_VAR_dtable_private_key, TF_VAR_dtable_admin_token by default).

Then deploy with \`npx cdktf deploy\` (reads the same cluster.yaml, or DTABLE_CLUSTER_CONFIG), or
with terraform / tofu inside DIR/stacks/<cluster name>. See docs/deploy.md.

Options:
  -c, --config FILE   cluster file (default ./cluster.yaml)
  -o, --out DIR       output folder (default cdktf.out, where cdktf looks)
  -b, --backend TYPE  Terraform state backend type (s3, http, pg, gcs, ...), configured at
                      \`init -backend-config=...\` or by its env vars; default: $DTABLE_TF_BACKEND,
                      else a local state file
`;

export const command: CliCommand = {
  name: 'synth',
  summary: 'synthesize the CDKTF Docker stacks',
  help,
  async run(argv) {
    const { values } = parseFlags('synth', argv, {
      ...CONFIG_OPTION,
      out: { type: 'string', short: 'o', default: 'cdktf.out' },
      backend: { type: 'string', short: 'b' },
    });
    // CDKTF is heavy; loaded only for this command.
    const { clusterApp } = await import('../../stacks/app.ts');
    const { BACKEND_ENV, BackendError } = await import('../../stacks/backend.ts');
    const backend = values.backend ?? process.env[BACKEND_ENV];
    let synthesized;
    try {
      synthesized = clusterApp({ configFile: values.config, outdir: values.out, ...(backend ? { backend } : {}) });
    } catch (err) {
      throw err instanceof BackendError ? new UsageError(`synth: ${err.message}`, err.hint) : err;
    }
    const { app, warnings, stackDir } = synthesized;
    printWarnings(warnings);
    app.synth();
    const rel = relative(process.cwd(), stackDir);
    process.stdout.write(`${rel.startsWith('..') ? stackDir : rel}/cdk.tf.json\n`);
    return 0;
  },
};

export default command;
