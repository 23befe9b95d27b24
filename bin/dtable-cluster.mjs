#!/usr/bin/env node
// Runs the TypeScript CLI directly through tsx, so `npx dtable-cluster` works right after `npm ci`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../infra/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
