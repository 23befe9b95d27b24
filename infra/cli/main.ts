// The dtable-cluster CLI: a static list of commands, each loaded on demand from
// ./commands/<name>.ts, so one command's dependencies (CDKTF, etcd client) never slow another.
import type { CliCommand } from './command.ts';
import { reportCliError } from './options.ts';
import { didYouMean } from '../model/suggest.ts';

/** Every command (docs/cli.md), in help order. */
export const COMMANDS: ReadonlyArray<{ readonly name: string; readonly summary: string }> = [
  { name: 'up', summary: 'start the cluster locally from cluster.yaml' },
  { name: 'down', summary: 'stop the local cluster' },
  { name: 'status', summary: 'show nodes, buckets and endpoints (--json for scripts)' },
  { name: 'validate', summary: 'check cluster.yaml and print warnings' },
  { name: 'render', summary: 'write every component config file into a folder' },
  { name: 'schema', summary: 'print the JSON Schema of cluster.yaml' },
  { name: 'synth', summary: 'synthesize the CDKTF Docker stacks' },
  { name: 'rebalance', summary: 'even out bucket load across nodes (--dry-run to preview)' },
  { name: 'drain', summary: 'move every bucket off a node' },
  { name: 'etcd', summary: 'etcd maintenance: compact, defrag (one member at a time), disarm alarms, move-leader' },
];

export function toolHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `Usage: dtable-cluster <command> [options]

Runs and deploys a dtable-server cluster described by one cluster.yaml.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run \`npx dtable-cluster <command> --help\` for a command's options. Docs: docs/cli.md, docs/cluster-yaml.md.
Exit codes: 0 ok, 2 invalid input (cluster.yaml or command line), 1 other failures.
`;
}

/** Loads a command module; null when it does not exist yet. */
export async function loadCommand(name: string): Promise<CliCommand | null> {
  const url = new URL(`./commands/${name}.ts`, import.meta.url);
  let mod: { command?: CliCommand; default?: CliCommand };
  try {
    mod = (await import(url.href)) as typeof mod;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { url?: string };
    const missing = e.code === 'ERR_MODULE_NOT_FOUND' && (e.url === url.href || e.message.includes(`commands/${name}.ts`));
    if (missing) return null;
    throw err;
  }
  const command = mod.command ?? mod.default;
  if (!command) throw new Error(`infra/cli/commands/${name}.ts does not export \`command\``);
  return command;
}

/**
 * Output to a reader that went away (`dtable-cluster render --out x | head -1`) is dropped: the
 * command still finishes its work (a half-done `up` or `drain` would be worse than lost lines)
 * and exits with its own code, without node's EPIPE stack trace. For the CLI's entry point only.
 */
export function dropOutputToClosedPipes(streams: readonly NodeJS.WriteStream[] = [process.stdout, process.stderr]): void {
  for (const stream of streams) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
      stream.write = () => true;
    });
  }
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  try {
    if (first === undefined) {
      process.stderr.write(toolHelp());
      return 2;
    }
    if (first === '--help' || first === '-h' || first === 'help') {
      if (first === 'help' && rest[0]) return await main([rest[0], '--help']);
      process.stdout.write(toolHelp());
      return 0;
    }
    if (!COMMANDS.some((c) => c.name === first)) {
      const suggestion = didYouMean(first, COMMANDS.map((c) => c.name));
      process.stderr.write(
        `dtable-cluster: unknown command "${first}"${suggestion ? ` (did you mean "${suggestion}"?)` : ''}\n` +
          `  hint: run \`npx dtable-cluster --help\` for the list of commands\n`,
      );
      return 2;
    }
    const command = await loadCommand(first);
    if (!command) {
      process.stderr.write(`dtable-cluster: command "${first}" is not available yet in this version\n`);
      return 1;
    }
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(command.help.endsWith('\n') ? command.help : `${command.help}\n`);
      return 0;
    }
    return await command.run(rest);
  } catch (err) {
    return reportCliError(err);
  }
}
