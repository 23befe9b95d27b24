// The command line every runtime entry file of ours accepts: `--config FILE`.

/** A wrong command line or missing secret: printed without a stack trace. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function configArg(argv: string[]): string {
  const i = argv.indexOf('--config');
  const eq = argv.find((a) => a.startsWith('--config='));
  const file = eq ? eq.slice('--config='.length) : i >= 0 ? argv[i + 1] : undefined;
  if (!file) throw new UsageError('usage: --config <file>');
  return file;
}
