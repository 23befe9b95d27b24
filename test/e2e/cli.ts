// Drives the CLI the way a user does (a child process running bin/dtable-cluster.mjs), plus a
// copy of test/e2e/cluster.yaml on a free port range and its own run dir. Shared by the e2e suite,
// the launcher's integration tests and bench/cluster.ts.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '..', '..');
export const CLI = join(REPO, 'bin', 'dtable-cluster.mjs');
const TEMPLATE = join(REPO, 'test', 'e2e', 'cluster.yaml');
/** Ports the e2e cluster takes from base_port: 3×3 etcd (metrics with etcd.tls), 2 monitors, 3 nodes, 2 proxy, 1 web. */
const PORTS_NEEDED = 17;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`dtable-cluster ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, opts.timeoutMs ?? 120_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? 1, stdout, stderr });
    });
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((r) => {
    const srv = createServer();
    srv.once('error', () => r(false));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => r(true)));
  });
}

/** A base port with PORTS_NEEDED free ports above it, away from ephemeral ranges. */
export async function freeBasePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Below the ephemeral range (32768+), so outgoing connections cannot take a port mid-start.
    const base = 20000 + Math.floor(Math.random() * 300) * 40;
    let ok = true;
    for (let p = base; p < base + PORTS_NEEDED && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error('no free port range found');
}

export interface TestCluster {
  readonly dir: string;
  readonly config: string;
  readonly runDir: string;
  readonly basePort: number;
  /** Flags every command gets: --config and --run-dir. */
  readonly flags: string[];
}

/**
 * A fresh copy of the e2e cluster.yaml with a free base_port and a run dir in a temp folder;
 * `tls` turns on etcd.tls (certificates, client-certificate auth and RBAC).
 */
export async function testCluster(extraYaml = '', opts: { tls?: boolean } = {}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'dtable-e2e-'));
  const basePort = await freeBasePort();
  const config = join(dir, 'cluster.yaml');
  let text = readFileSync(TEMPLATE, 'utf8').replace(/base_port: \d+/, `base_port: ${basePort}`);
  if (opts.tls) text = text.replace('etcd:\n  members:\n', 'etcd:\n  tls: { enabled: true }\n  members:\n');
  if (opts.tls && !text.includes('tls: { enabled: true }')) throw new Error('test/e2e/cluster.yaml has no `etcd:\\n  members:` to add tls to');
  writeFileSync(config, text + extraYaml);
  const runDir = join(dir, 'run');
  return { dir, config, runDir, basePort, flags: ['--config', config, '--run-dir', runDir] };
}
