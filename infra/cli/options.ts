// Flag parsing and cluster-file loading shared by every command, and the one place that turns
// errors into exit codes: user errors print `file:line:col: message` plus a hint and exit 2
// without a stack; program errors keep their stack and exit 1.
import { dirname, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ClusterConfigError, formatIssue, type ClusterIssue } from '../model/errors.ts';
import { loadClusterFile } from '../model/load.ts';
import { didYouMean } from '../model/suggest.ts';
import type { ClusterModel } from '../model/schema.ts';
import { PlanError, resolvePlan } from '../plan/resolve.ts';
import type { Plan, Target } from '../plan/types.ts';

export const DEFAULT_CONFIG = 'cluster.yaml';

/** Bad command line: unknown flag, missing value, wrong target. Exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** `--config FILE`, the option every cluster command takes. */
export const CONFIG_OPTION = { config: { type: 'string', short: 'c', default: DEFAULT_CONFIG } } as const satisfies Options;
export const TARGET_OPTION = { target: { type: 'string', short: 't', default: 'docker' } } as const satisfies Options;

/**
 * node:util parseArgs, with its errors turned into UsageError naming the command: an unknown flag
 * gets a "did you mean", and a value starting with a dash (`--budget -1`) is taken as the value
 * (`--budget=-1`) unless it is one of the command's flags, so the command's own check of the
 * value speaks instead of node's "argument is ambiguous".
 */
export function parseFlags<O extends Options>(command: string, argv: string[], options: O, allowPositionals = false): ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: boolean }>> {
  const flags = new Map<string, 'string' | 'boolean'>();
  for (const [name, o] of Object.entries(options)) {
    flags.set(`--${name}`, o.type);
    if (o.short) flags.set(`-${o.short}`, o.type);
  }
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const i = argv.findIndex((a, k) => flags.get(a) === 'string' && argv[k + 1]?.startsWith('-') && !flags.has(argv[k + 1]!.replace(/=.*/, '')));
      if (i >= 0) return parseFlags(command, [...argv.slice(0, i), `${argv[i]}=${argv[i + 1]}`, ...argv.slice(i + 2)], options, allowPositionals);
    }
    let message = e.message.replace(/\. To specify a positional argument.*$/s, '');
    const unknown = e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'(--?[^'=]+)/.exec(e.message)?.[1] : undefined;
    const suggestion = unknown?.startsWith('--') ? didYouMean(unknown, [...flags.keys()].filter((f) => f.startsWith('--'))) : null;
    if (suggestion) message += ` (did you mean "${suggestion}"?)`;
    throw new UsageError(`${command}: ${message}`, `run \`npx dtable-cluster ${command} --help\``);
  }
}

export function parseTarget(command: string, value: string | undefined): Target {
  if (value === 'docker' || value === 'local') return value;
  throw new UsageError(`${command}: --target must be docker or local, got "${String(value)}"`);
}

export interface LoadedConfig {
  /** As the user named it (used in messages). */
  readonly file: string;
  /** Absolute folder of the file. */
  readonly configDir: string;
  readonly model: ClusterModel;
  readonly warnings: readonly ClusterIssue[];
}

/** Loads and validates the cluster file; throws ClusterConfigError (exit 2) on invalid input. */
export function loadConfig(file: string = DEFAULT_CONFIG): LoadedConfig {
  const { model, warnings } = loadClusterFile(file);
  return { file, configDir: dirname(resolve(file)), model, warnings };
}

/** Loads the cluster file and resolves the plan for a target. */
export function loadPlan(options: { config?: string; target: Target; runDir?: string }): LoadedConfig & { plan: Plan } {
  const loaded = loadConfig(options.config);
  const plan = resolvePlan(loaded.model, {
    target: options.target,
    configDir: loaded.configDir,
    ...(options.runDir !== undefined ? { runDir: options.runDir } : {}),
  });
  return { ...loaded, plan };
}

export function printWarnings(warnings: readonly ClusterIssue[], err: NodeJS.WritableStream = process.stderr): void {
  for (const w of warnings) err.write(`${formatIssue(w, 'warning')}\n`);
}

/** True for errors a user can cause and fix: printed without a stack, exit 2. */
export function isUserError(err: unknown): err is Error & { hint?: string } {
  return err instanceof ClusterConfigError || err instanceof UsageError || err instanceof PlanError;
}

/** Prints an error the way the CLI does and returns the exit code. */
export function reportCliError(err: unknown, stderr: NodeJS.WritableStream = process.stderr): number {
  if (err instanceof ClusterConfigError) {
    stderr.write(`${err.format()}\n`);
    return 2;
  }
  if (isUserError(err)) {
    stderr.write(`dtable-cluster: ${err.message}\n${err.hint ? `  hint: ${err.hint}\n` : ''}`);
    return 2;
  }
  stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 1;
}
