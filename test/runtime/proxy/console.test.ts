// The console's routes on the admin app (inject, no etcd): public page and assets with a strict
// CSP, data routes and actions behind the admin token, the event stream, bad drain input refused.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUCKETS } from '../../../runtime/cluster/buckets.ts';
import { UnknownNodeError, type DrainOptions } from '../../../runtime/cluster/etcd/drain.ts';
import { createAdminApp, type AdminSource } from '../../../runtime/proxy/admin.ts';
import { CONSOLE_ROOT, type ConsoleSource } from '../../../runtime/proxy/console/console-routes.ts';
import { MoveLog, type ConsoleState } from '../../../runtime/proxy/console/console-state.ts';
import { ProxyMetrics } from '../../../runtime/proxy/metrics.ts';

const TOKEN = 'console-token-0123456789';

function state(owner: string): ConsoleState {
  return {
    at: new Date(0).toISOString(),
    epoch: 1,
    epoch_written_at: null,
    monitor_leader: 'monitor-1',
    revision: 7,
    routing: { stale: false, unconfirmed_ms: 0, table_age_ms: 1 },
    etcd: { quorum: true, members: [{ endpoint: '127.0.0.1:2379', healthy: true }] },
    buckets: Object.fromEntries(BUCKETS.map((b) => [b, owner])),
    moving: [],
    nodes: [],
    moves: [],
  };
}

/** A console source whose state the test changes by hand, telling subscribers like the proxy's view does. */
function consoleSource() {
  let current = state('dtable-server-01');
  const listeners = new Set<() => void>();
  const source: ConsoleSource = {
    state: () => current,
    subscribe: (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
  return {
    source,
    listeners,
    set(s: ConsoleState) {
      current = s;
      for (const l of listeners) l();
    },
  };
}

function adminSource(drains: DrainOptions[]): AdminSource {
  return {
    assignment: () => ({ epoch: 1, revision: 1, table_age_ms: 0, buckets: {}, routes: {}, moving: [], nodes: [], applied: [] }),
    health: () => ({ live: 1, down: 0, draining: false, table_age_ms: 0, revision: 1 }),
    rebalance: () => Promise.reject(new Error('not in this test')),
    drain: async (o) => {
      if (o.nodeId !== 'dtable-server-01') throw new UnknownNodeError(o.nodeId, ['dtable-server-01']);
      drains.push(o);
      return { node_id: o.nodeId, action: o.undo ? 'undrain' : 'drain', dry_run: o.dryRun, applied: !o.dryRun, weight: 0, moves: [] };
    },
  };
}

async function app(drains: DrainOptions[] = [], c = consoleSource()) {
  return createAdminApp({ source: adminSource(drains), metrics: new ProxyMetrics(), adminToken: TOKEN, console: c.source });
}

const auth = { authorization: `Token ${TOKEN}` };

describe('operator console routes', () => {
  it('serves the page and every asset without a token, with a CSP that allows no inline script', async () => {
    const a = await app();
    for (const url of ['/console/', ...readdirSync(CONSOLE_ROOT).map((f) => `/console/${f}`)]) {
      const r = await a.inject({ method: 'GET', url });
      expect(r.statusCode, url).toBe(200);
      expect(r.headers['content-security-policy']).toContain("script-src 'self'");
      expect(r.headers['content-security-policy']).not.toContain('unsafe-inline');
      expect(r.headers['x-content-type-options']).toBe('nosniff');
    }
    expect((await a.inject({ method: 'GET', url: '/console' })).headers.location).toBe('/console/');
    await a.close();
  });

  it('has no inline script or style in the page and loads nothing from another origin', () => {
    const html = readFileSync(join(CONSOLE_ROOT, 'index.html'), 'utf8');
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(html).not.toMatch(/\sstyle=|<style|\son[a-z]+=/i);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    // The token field is a password field in a form, as docs/console.md fixes.
    expect(html).toMatch(/<input[^>]*name="token"[^>]*type="password"/);
  });

  for (const url of ['/console/api/state', '/console/api/events']) {
    it(`answers GET ${url} without or with a wrong token with 401 and no data`, async () => {
      const a = await app();
      for (const headers of [{}, { authorization: 'Token wrong' }, { authorization: `Token ${TOKEN}x` }]) {
        const r = await a.inject({ method: 'GET', url, headers });
        expect(r.statusCode).toBe(401);
        expect(r.body).not.toContain('dtable-server-01');
      }
      await a.close();
    });
  }

  it('does not open a path outside the console assets through a dot segment or a query string', async () => {
    const a = await app();
    for (const url of ['/console/../assignment', '/console/%2e%2e/assignment', '/console/x/../api/state', '/console/api/state?/console/']) {
      expect((await a.inject({ method: 'GET', url })).statusCode, url).toBe(401);
    }
    await a.close();
  });

  it('answers GET /console/api/state with the state to the admin token, never cached', async () => {
    const a = await app();
    const r = await a.inject({ method: 'GET', url: '/console/api/state', headers: auth });
    expect(r.statusCode).toBe(200);
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.json().buckets['5e']).toBe('dtable-server-01');
    await a.close();
  });

  it('streams a state event at once and another after each change, and ends the stream on close', async () => {
    const c = consoleSource();
    const a = await app([], c);
    await a.listen({ host: '127.0.0.1', port: 0 });
    const port = (a.server.address() as { port: number }).port;
    const res = await fetch(`http://127.0.0.1:${port}/console/api/events`, { headers: auth });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    const nextState = async (): Promise<ConsoleState> => {
      for (;;) {
        const i = buf.indexOf('\n\n');
        if (i >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          expect(frame).toMatch(/^event: state\ndata: /);
          return JSON.parse(frame.slice(frame.indexOf('data: ') + 6)) as ConsoleState;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        buf += value;
      }
    };
    expect((await nextState()).buckets['00']).toBe('dtable-server-01');
    c.set(state('dtable-server-02'));
    expect((await nextState()).buckets['00']).toBe('dtable-server-02');
    await a.close();
    expect(c.listeners.size).toBe(0);
  });

  it('refuses POST /drain/ with a wrong token with 401 and drains nothing', async () => {
    const drains: DrainOptions[] = [];
    const a = await app(drains);
    const r = await a.inject({ method: 'POST', url: '/drain/', headers: { authorization: 'Token nope' }, payload: { node_id: 'dtable-server-01' } });
    expect(r.statusCode).toBe(401);
    expect(drains).toEqual([]);
    await a.close();
  });

  it('answers POST /drain/ for an unknown node with 404, naming the known nodes', async () => {
    const drains: DrainOptions[] = [];
    const a = await app(drains);
    const r = await a.inject({ method: 'POST', url: '/drain/', headers: auth, payload: { node_id: 'dtable-server-99' } });
    expect(r.statusCode).toBe(404);
    expect(r.json()).toMatchObject({ error: 'unknown_node', known: ['dtable-server-01'] });
    expect(drains).toEqual([]);
    await a.close();
  });

  it('answers a malformed POST /drain/ body with 400 and drains nothing', async () => {
    const drains: DrainOptions[] = [];
    const a = await app(drains);
    for (const payload of [{}, { node_id: '' }, { node_id: 'dtable-server-01', dry_run: 'yes' }, { node_id: 'dtable-server-01', extra: 1 }]) {
      expect((await a.inject({ method: 'POST', url: '/drain/', headers: auth, payload })).statusCode, JSON.stringify(payload)).toBe(400);
    }
    expect(drains).toEqual([]);
    await a.close();
  });

  it('passes drain, undo and dry_run through to the source', async () => {
    const drains: DrainOptions[] = [];
    const a = await app(drains);
    const r = await a.inject({ method: 'POST', url: '/drain/', headers: auth, payload: { node_id: 'dtable-server-01', dry_run: true } });
    expect(r.json()).toMatchObject({ node_id: 'dtable-server-01', action: 'drain', dry_run: true, applied: false });
    await a.inject({ method: 'POST', url: '/drain/', headers: auth, payload: { node_id: 'dtable-server-01', undo: true } });
    expect(drains).toEqual([
      { nodeId: 'dtable-server-01', undo: false, dryRun: true },
      { nodeId: 'dtable-server-01', undo: true, dryRun: false },
    ]);
    await a.close();
  });
});

describe('MoveLog', () => {
  const a = (owner: string, n: number) => BUCKETS.map((_, i) => (i < n ? owner : 'dtable-server-01'));

  it('records the moves between successive assignments, newest first, and labels them once their epoch record arrives', () => {
    const log = new MoveLog();
    log.observe(a('dtable-server-01', 0), 10);
    log.observe(a('dtable-server-02', 2), 20);
    expect(log.moves().map((m) => [m.bucket, m.from, m.to, m.epoch])).toEqual([
      ['01', 'dtable-server-01', 'dtable-server-02', null],
      ['00', 'dtable-server-01', 'dtable-server-02', null],
    ]);
    // An older epoch record (the view's epoch watch behind its assign watch) labels nothing.
    log.label(4, 15);
    expect(log.moves().every((m) => m.epoch === null)).toBe(true);
    log.label(5, 20);
    log.observe(a('dtable-server-02', 3), 30);
    log.label(6, 30);
    expect(log.moves().map((m) => [m.bucket, m.epoch])).toEqual([
      ['02', 6],
      ['01', 5],
      ['00', 5],
    ]);
  });

  it('keeps the latest moves only', () => {
    const log = new MoveLog(2);
    log.observe(a('dtable-server-01', 0), 1);
    log.observe(a('dtable-server-02', 5), 2);
    expect(log.moves().map((m) => m.bucket)).toEqual(['04', '03']);
  });
});
