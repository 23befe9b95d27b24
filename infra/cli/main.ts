// Placeholder entry until the CLI lands (issue 2).
export async function main(argv: string[]): Promise<number> {
  process.stderr.write(`dtable-cluster: command not available yet: ${argv.join(' ')}\n`);
  return 1;
}
