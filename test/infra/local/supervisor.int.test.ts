// The supervisor with stand-in processes (real child processes and ports, no etcd): start-up
// order and health waiting, graceful reverse stop, killing stragglers and grandchildren.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ComponentStartError } from '../../../infra/local/errors.ts';
import { STAGE_OF, type ProcessSpec } from '../../../infra/local/processes.ts';
import type { ComponentKind } from '../../../infra/plan/types.ts';
import { readState, runDirLayout, type RunDirLayout } from '../../../infra/local/run-dir.ts';
import { Supervisor } from '../../../infra/local/supervisor.ts';

const FAKE = join(import.meta.dirname, 'fixtures', 'fake-component.mjs');

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let dir: string;
let layout: RunDirLayout;
let events: string;
let supervisor: Supervisor | null;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dtable-sup-'));
  layout = runDirLayout(dir);
  events = join(dir, 'events.log');
  writeFileSync(events, '');
  supervisor = null;
});

afterEach(async () => {
  supervisor?.killAll();
  await supervisor?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function spec(name: string, kind: ComponentKind, extra: string[] = [], stopTimeoutMs = 3000): Promise<ProcessSpec> {
  const port = await freePort();
  const configFile = join(dir, `${name}.json`);
  return {
    name,
    kind,
    stage: STAGE_OF[kind],
    command: process.execPath,
    args: [FAKE, '--name', name, '--port', String(port), '--events', events, '--config', configFile, ...extra],
    configFile,
    healthUrl: `http://127.0.0.1:${port}/health`,
    ports: [{ host: '127.0.0.1', port, slot: `${name}.http` }],
    logFile: join(layout.logDir, `${name}.log`),
    stopTimeoutMs,
  };
}

function supervise(specs: ProcessSpec[], lines: string[] = []): Supervisor {
  supervisor = new Supervisor({ specs, layout, configFile: join(dir, 'cluster.yaml'), cwd: dir, env: process.env, log: (l) => lines.push(l), stageTimeoutMs: 10_000 });
  return supervisor;
}

const eventLines = (what: string) =>
  readFileSync(events, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith(`${what} `))
    .map((l) => l.split(' ')[1]);

describe('Supervisor', () => {
  it('starts each stage only after the previous one is healthy, and stops front doors first, the monitor before the nodes, etcd last', async () => {
    const specs = await Promise.all([
      spec('web', 'web'),
      spec('etcd-1', 'etcd', ['--ready-ms', '300']),
      spec('node-1', 'node', ['--stop-ms', '200']),
      spec('monitor-1', 'monitor'),
      spec('proxy', 'proxy'),
    ]);
    const lines: string[] = [];
    const sup = supervise(specs.sort((a, b) => a.stage - b.stage), lines);
    await sup.start();
    const started = eventLines('start');
    expect(started[0]).toBe('etcd-1');
    expect(new Set(started.slice(1, 4))).toEqual(new Set(['node-1', 'proxy', 'web']));
    expect(started[4]).toBe('monitor-1');
    expect(lines.filter((l) => l.includes('✓'))).toHaveLength(5);
    const pids = readState(layout)!.processes.map((p) => p.pid!);
    await sup.stop();
    expect(eventLines('stop')).toEqual(['web', 'proxy', 'monitor-1', 'node-1', 'etcd-1']);
    expect(pids.filter(alive)).toEqual([]);
    expect(readState(layout)!.phase).toBe('stopped');
  });

  it('kills a process that ignores SIGTERM after its stop timeout, together with its grandchildren', async () => {
    const s = await spec('node-1', 'node', ['--ignore-term', '--grandchild'], 500);
    const sup = supervise([s]);
    await sup.start();
    const grandchild = Number(readFileSync(events, 'utf8').match(/grandchild node-1 (\d+)/)![1]);
    expect(alive(grandchild)).toBe(true);
    const t0 = Date.now();
    await sup.stop();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    await new Promise((r) => setTimeout(r, 100));
    expect(alive(readState(layout)!.processes[0]!.pid!)).toBe(false);
    expect(alive(grandchild)).toBe(false);
  });

  it('reports a process that exits while starting, with the tail of its log', async () => {
    const s = await spec('node-1', 'node', ['--ready-ms', '60000', '--exit-after-ms', '100']);
    const sup = supervise([s]);
    mkdirSync(layout.logDir, { recursive: true });
    writeFileSync(s.logFile, 'boom: cannot open data dir\n', { flag: 'a' });
    const err = await sup.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ComponentStartError);
    expect((err as Error).message).toMatch(/node-1 exited while starting \(code 3\)/);
    expect((err as Error).message).toContain('boom: cannot open data dir');
  });

  it('starts again a component that crashed, on request', async () => {
    const s = await spec('node-1', 'node');
    const sup = supervise([s]);
    await sup.start();
    const first = readState(layout)!.processes[0]!.pid!;
    process.kill(first, 'SIGKILL');
    for (let i = 0; i < 100 && readState(layout)!.processes[0]!.status !== 'exited'; i++) await new Promise((r) => setTimeout(r, 50));
    expect(readState(layout)!.processes[0]!.status).toBe('exited');
    expect(await sup.startExited()).toEqual(['node-1']);
    const state = readState(layout)!.processes[0]!;
    expect(state.status).toBe('running');
    expect(state.pid).not.toBe(first);
  });
});
