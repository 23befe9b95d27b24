// `dtable-cluster schema`: the JSON Schema of cluster.yaml, generated from the zod model.
import { writeFileSync } from 'node:fs';
import { clusterJsonSchemaText } from '../../model/json-schema.ts';
import type { CliCommand } from '../command.ts';
import { parseFlags } from '../options.ts';

const help = `Usage: dtable-cluster schema [--out FILE]

Prints the JSON Schema (draft 2020-12) of cluster.yaml, generated from the same model the
validator uses. The repository commits it as schema/cluster.schema.json; cluster.yaml points at
it with a \`# yaml-language-server: $schema=...\` line for editor completion.

Options:
  -o, --out FILE   write to FILE instead of stdout
`;

export const command: CliCommand = {
  name: 'schema',
  summary: 'print the JSON Schema of cluster.yaml',
  help,
  async run(argv) {
    const { values } = parseFlags('schema', argv, { out: { type: 'string', short: 'o' } });
    const text = clusterJsonSchemaText();
    if (values.out) writeFileSync(values.out, text);
    else process.stdout.write(text);
    return 0;
  },
};

export default command;
