// The CLI as a user runs it: the real bin shim as a child process.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { COMMANDS, loadCommand } from '../../../infra/cli/main.ts';
import { clusterJsonSchema } from '../../../infra/model/index.ts';

const exec = promisify(execFile);
const ROOT = new URL('../../../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/dtable-cluster.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'dtc-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], cwd = ROOT): Promise<Result> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, ...args], { cwd });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

it("validate exits 0 on the repository's cluster.yaml", async () => {
  const r = await cli(['validate']);
  expect(r).toMatchObject({ code: 0, stderr: '' });
  expect(r.stdout).toBe('cluster.yaml: ok — cluster "seatable": 3 etcd members, 2 nodes, 1 proxy, 2 monitors, web\n');
});

it("validate exits 2 naming storage on the repository's cluster.yaml without its storage section (nodes on two hosts)", async () => {
  const file = join(tmp, 'seed-without-storage.yaml');
  const text = readFileSync(join(ROOT, 'cluster.yaml'), 'utf8').replace(/\nstorage:\n(  .*\n)+/, '\n');
  expect(text).not.toContain('storage:');
  writeFileSync(file, text);
  const r = await cli(['validate', '--config', file]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('nodes run on 2 docker hosts (dtable-server-01, dtable-server-02) but storage is the filesystem');
  expect(r.stderr).toContain('hint: add `storage: {kind: mariadb');
});

it('validate prints warnings to stderr and still exits 0', async () => {
  const file = join(tmp, 'one-node.yaml');
  const text = readFileSync(join(ROOT, 'test/fixtures/cluster/base.yaml'), 'utf8').replace(/  - node_id: dtable-server-02\n(    .*\n)+/, '');
  writeFileSync(file, text);
  const r = await cli(['validate', '--config', file]);
  expect(r.code).toBe(0);
  expect(r.stderr).toBe(`${file}:16:1: warning: only 1 dtable-server node; a cluster needs at least two to survive a node failure\n`);
});

it('render --out writes every component file for the docker target by default', async () => {
  const out = join(tmp, 'rendered');
  const r = await cli(['render', '--out', out]);
  expect(r.code).toBe(0);
  expect(r.stdout.trim().split('\n')).toHaveLength(14);
  expect(readFileSync(join(out, 'dtable-db/dtable-db.conf'), 'utf8')).toContain(
    'dtable_server_url = "http://dtable-server-proxy.example.com:5550/"',
  );
});

it('render --target local writes loopback addresses', async () => {
  const out = join(tmp, 'rendered-local');
  const r = await cli(['render', '--target', 'local', '--out', out, '--run-dir', join(tmp, 'run')]);
  expect(r.code).toBe(0);
  const node = JSON.parse(readFileSync(join(out, 'dtable-server-01/dtable_server_config.json'), 'utf8'));
  expect(node.cluster_config.node_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
});

it('render without --out is a usage error with exit code 2', async () => {
  const r = await cli(['render']);
  expect(r).toMatchObject({ code: 2, stderr: 'dtable-cluster: render: --out DIR is required\n  hint: e.g. dtable-cluster render --out ./rendered\n' });
});

it('render with an unknown target is a usage error with exit code 2', async () => {
  const r = await cli(['render', '--out', join(tmp, 'x'), '--target', 'k8s']);
  expect(r.code).toBe(2);
  expect(r.stderr).toBe('dtable-cluster: render: --target must be docker or local, got "k8s"\n');
  expect(existsSync(join(tmp, 'x'))).toBe(false);
});

it('schema prints the JSON Schema generated from the model', async () => {
  const r = await cli(['schema']);
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual(clusterJsonSchema());
});

it('an unknown command exits 2 with a suggestion', async () => {
  const r = await cli(['valdate']);
  expect(r).toMatchObject({ code: 2, stderr: 'dtable-cluster: unknown command "valdate" (did you mean "validate"?)\n  hint: run `npx dtable-cluster --help` for the list of commands\n' });
});

it('an unknown flag exits 2 pointing at the command help', async () => {
  const r = await cli(['validate', '--confg', 'x']);
  expect(r.code).toBe(2);
  expect(r.stderr).toBe("dtable-cluster: validate: Unknown option '--confg' (did you mean \"--config\"?)\n  hint: run `npx dtable-cluster validate --help`\n");
});

it('a mistyped flag gets a suggestion, as a mistyped command does', async () => {
  const r = await cli(['status', '--jsn']);
  expect(r).toMatchObject({ code: 2, stderr: "dtable-cluster: status: Unknown option '--jsn' (did you mean \"--json\"?)\n  hint: run `npx dtable-cluster status --help`\n" });
});

it.each(['-1', '0', 'x'])('rebalance --budget %s says the budget must be a positive whole number, exit 2', async (v) => {
  const r = await cli(['rebalance', '--budget', v]);
  expect(r).toMatchObject({ code: 2, stderr: `dtable-cluster: rebalance: --budget must be a positive whole number (buckets to move at most), got "${v}"\n` });
});

it('down after the supervisor was killed names the processes it stopped, one space after the colon', async () => {
  const dir = mkdtempSync(join(tmp, 'orphans-'));
  const config = join(dir, 'cluster.yaml');
  writeFileSync(config, readFileSync(join(ROOT, 'cluster.yaml'), 'utf8'));
  // A process `up` started from this cluster file (its command line names it), its supervisor gone.
  const orphan = spawn('bash', ['-c', 'sleep 600; :', config], { stdio: 'ignore', detached: true });
  const runDir = join(dir, 'run');
  mkdirSync(runDir, { recursive: true });
  const proc = { name: 'etcd-01', kind: 'etcd', pid: orphan.pid, status: 'running', healthUrl: '', logFile: '', configFile: config };
  writeFileSync(join(runDir, 'state.json'), JSON.stringify({ supervisorPid: 1 << 22, configFile: config, phase: 'ready', startedAt: new Date().toISOString(), processes: [proc] }));
  try {
    const r = await cli(['down', '--config', config, '--run-dir', runDir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('no supervisor was running; stopped the processes it left: etcd-01\n');
  } finally {
    try {
      process.kill(-orphan.pid!, 'SIGKILL');
    } catch {
      /* stopped */
    }
  }
}, 30_000);

it('--help lists every command of the CLI contract', async () => {
  const r = await cli(['--help']);
  expect(r.code).toBe(0);
  for (const name of ['up', 'down', 'status', 'validate', 'render', 'schema', 'synth', 'rebalance', 'drain']) {
    expect(r.stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
  }
});

describe.each(['validate', 'render', 'schema'])('%s --help', (name) => {
  it('prints the usage line and exits 0', async () => {
    const r = await cli([name, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(new RegExp(`^Usage: dtable-cluster ${name}\\b`));
  });
});

it('a command whose module does not exist loads as null, so main can say it is not available yet', async () => {
  expect(await loadCommand('no-such-command')).toBeNull();
});

it('every listed command that exists exports a command with its own name', async () => {
  for (const { name } of COMMANDS) {
    const command = await loadCommand(name);
    if (command) expect(command.name).toBe(name);
  }
});

describe('etcd', () => {
  it('without an action is a usage error naming the actions', async () => {
    const r = await cli(['etcd']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('etcd: expected one of compact, defrag, disarm, move-leader');
  });

  it('with an unknown action is a usage error', async () => {
    const r = await cli(['etcd', 'defragment']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('got "defragment"');
  });

  it('move-leader needs a member of cluster.yaml', async () => {
    const none = await cli(['etcd', 'move-leader']);
    expect(none.code).toBe(2);
    const unknown = await cli(['etcd', 'move-leader', 'etcd-09']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown member "etcd-09"');
    expect(unknown.stderr).toContain('members: etcd-01, etcd-02, etcd-03');
  });

  it('disarm accepts only etcd alarm names', async () => {
    const r = await cli(['etcd', 'disarm', '--alarm', 'FULL']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--alarm must be NOSPACE or CORRUPT');
  });

  it('compact refuses a negative --keep', async () => {
    const r = await cli(['etcd', 'compact', '--keep', '-3']);
    expect(r.code).toBe(2);
  });

  it.each(['defrag', 'compact', 'disarm', 'move-leader etcd-02'])('%s against an etcd that is not running says it cannot reach etcd, exit 1', async (action) => {
    const dir = mkdtempSync(join(tmp, 'etcd-down-'));
    // Nothing listens on these low ports.
    writeFileSync(join(dir, 'cluster.yaml'), readFileSync(join(ROOT, 'cluster.yaml'), 'utf8').replace(/base_port: \d+/, 'base_port: 1100'));
    const r = await cli(['etcd', ...action.split(' '), '--config', join(dir, 'cluster.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^dtable-cluster: cannot reach etcd \(no member answers: etcd-01 at 127\.0\.0\.1:1100, .*\)\n  hint: is the cluster up\?/);
  }, 30_000);
});

it('status with no cluster running says so and how to start one, exit 1', async () => {
  const dir = mkdtempSync(join(tmp, 'none-running-'));
  // Nothing listens on these low ports, and the run dir has no supervisor.
  writeFileSync(join(dir, 'cluster.yaml'), readFileSync(join(ROOT, 'cluster.yaml'), 'utf8').replace(/base_port: \d+/, 'base_port: 1100'));
  const r = await cli(['status', '--config', join(dir, 'cluster.yaml'), '--run-dir', join(dir, 'run')]);
  expect(r.code).toBe(1);
  expect(r.stdout).toContain(`no cluster is running from ${join(dir, 'run')}`);
  expect(r.stdout).toContain('start one with bin/up');
}, 30_000);

it('the CLI in a clone without its npm dependencies says to run npm ci, exit 2', async () => {
  // The same launcher where no node_modules can be found above it.
  const dir = mkdtempSync(join(tmp, 'no-deps-'));
  const bin = join(dir, 'dtable-cluster.mjs');
  writeFileSync(bin, readFileSync(BIN, 'utf8'));
  const r = await exec(process.execPath, [bin, 'status'], { cwd: dir }).then(
    () => ({ code: 0, stderr: '' }),
    (err: { code: number; stderr: string }) => err,
  );
  expect(r.code).toBe(2);
  expect(r.stderr).toBe('dtable-cluster: its npm dependencies are not installed\n  hint: run `npm ci` in the repository (bin/up does it, then starts the cluster)\n');
});

describe('every command that talks to etcd exits 1 promptly when etcd does not answer', () => {
  const dir = mkdtempSync(join(tmp, 'etcd-unreachable-'));
  // Nothing listens on these low ports.
  writeFileSync(join(dir, 'cluster.yaml'), readFileSync(join(ROOT, 'cluster.yaml'), 'utf8').replace(/base_port: \d+/, 'base_port: 1100'));
  const flags = ['--config', join(dir, 'cluster.yaml'), '--run-dir', join(dir, 'run')];
  it.each([
    'status',
    'rebalance --dry-run',
    'rebalance',
    'drain dtable-server-01 --dry-run',
    'drain dtable-server-01',
    'drain dtable-server-01 --undo',
    // The etcd maintenance actions: describe('etcd') above.
  ])('%s', async (line) => {
    const args = line.split(' ');
    const t0 = Date.now();
    // A command that hangs is killed at 20 s (its exit code is then null, not 1).
    const r = await exec(process.execPath, [BIN, ...args, ...flags], { cwd: ROOT, timeout: 20_000 }).then(
      () => ({ code: 0 as number | null, stderr: '' }),
      (err: { code: number | null; stderr: string }) => err,
    );
    expect({ code: r.code, seconds: Math.round((Date.now() - t0) / 1000) < 20 }).toEqual({ code: 1, seconds: true });
  }, 30_000);
});

it('down stops a running cluster from its run dir state when cluster.yaml has become invalid (status says what runs)', async () => {
  const dir = mkdtempSync(join(tmp, 'invalid-down-'));
  const config = join(dir, 'cluster.yaml');
  writeFileSync(config, readFileSync(join(ROOT, 'cluster.yaml'), 'utf8').replace('lease_ttl:', 'lease_tll:'));
  // The supervisor `up` would have left: a live process, its lock and state in .run/seatable.
  const supervisor = spawn('sleep', ['600'], { stdio: 'ignore' });
  const exited = new Promise((resolve) => supervisor.once('exit', resolve));
  const runDir = join(dir, '.run', 'seatable');
  mkdirSync(runDir, { recursive: true });
  writeFileSync(join(runDir, 'supervisor.pid'), `${supervisor.pid}\n`);
  writeFileSync(join(runDir, 'state.json'), JSON.stringify({ supervisorPid: supervisor.pid, configFile: config, phase: 'ready', startedAt: new Date().toISOString(), processes: [] }));
  try {
    const status = await cli(['status', '--config', config]);
    expect(status.code).toBe(2);
    expect(status.stderr).toContain('lease_tll');
    expect(status.stdout).toContain(`a cluster runs from ${runDir} (supervisor pid ${supervisor.pid})`);
    const r = await cli(['down', '--config', config]);
    expect(r.stderr).toContain(`${config} is invalid`);
    expect(r.stdout).toContain(`stopping the cluster in ${runDir} (supervisor pid ${supervisor.pid})`);
    expect(r.code).toBe(0);
    await exited;
  } finally {
    supervisor.kill('SIGKILL');
  }
}, 30_000);

describe('output to a closed pipe (`| head -1`) ends quietly, exit 0', () => {
  it.each(['--help', 'validate', 'schema', 'render --out RENDERED', 'status --help'])('%s', async (line) => {
    const args = line.replace('RENDERED', join(tmp, 'rendered-epipe')).split(' ');
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    // The reader goes away before the CLI has written anything: every write of it fails (EPIPE).
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((resolve) => child.once('close', resolve));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  }, 30_000);
});

it('up --detach in another run dir while the cluster runs names that cluster as the holder of the port, and leaves no run dir', async () => {
  const dir = mkdtempSync(join(tmp, 'second-up-'));
  const config = join(dir, 'cluster.yaml');
  writeFileSync(config, readFileSync(join(ROOT, 'cluster.yaml'), 'utf8').replace(/base_port: \d+/, 'base_port: 1300'));
  // The running cluster: a live supervisor with its lock and state in .run/seatable, holding every
  // port of the plan (so nothing of the second `up` can start).
  const supervisor = spawn('sleep', ['600'], { stdio: 'ignore' });
  const running = join(dir, '.run', 'seatable');
  mkdirSync(running, { recursive: true });
  writeFileSync(join(running, 'supervisor.pid'), `${supervisor.pid}\n`);
  writeFileSync(join(running, 'state.json'), JSON.stringify({ supervisorPid: supervisor.pid, configFile: config, phase: 'ready', startedAt: new Date().toISOString(), processes: [] }));
  const servers = await Promise.all(
    Array.from({ length: 20 }, (_, i) => new Promise<Server>((resolve) => { const s = createServer().listen(1300 + i, '127.0.0.1', () => resolve(s)); })),
  );
  try {
    const other = join(dir, 'other');
    const r = await cli(['up', '--detach', '--config', config, '--run-dir', other]);
    expect(r.code).toBe(1);
    expect(`${r.stdout}${r.stderr}`).toContain(`is already in use: by the cluster running from ${running} (supervisor pid ${supervisor.pid})`);
    expect(existsSync(other)).toBe(false);
  } finally {
    supervisor.kill('SIGKILL');
    for (const s of servers) s.close();
  }
}, 60_000);
