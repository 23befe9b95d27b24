#!/usr/bin/env node
// Runs the TypeScript CLI directly through tsx, so `npx dtable-cluster` works right after `npm ci`.
let register;
try {
  ({ register } = await import('tsx/esm/api'));
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
  // A fresh clone before `npm ci`: say what to run instead of a stack trace.
  process.stderr.write('dtable-cluster: its npm dependencies are not installed\n  hint: run `npm ci` in the repository (bin/up does it, then starts the cluster)\n');
  process.exit(2);
}
register();
const { main, dropOutputToClosedPipes } = await import('../infra/cli/main.ts');
dropOutputToClosedPipes();
process.exitCode = await main(process.argv.slice(2));
