// Admin APIs need the admin token (issue 8): proxy admin port and web base creation. Missing or
// wrong token → 401 and nothing changes; GET /health stays open for healthchecks.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RebalanceOptions } from '../../../runtime/cluster/etcd/requests.ts';
import { adminTokenMatches } from '../../../runtime/proxy/admin-auth.ts';
import { createAdminApp, type AdminSource } from '../../../runtime/proxy/admin.ts';
import { ProxyMetrics } from '../../../runtime/proxy/metrics.ts';
import { buildWebApp } from '../../../runtime/web/app.ts';
import { BaseDirectory } from '../../../runtime/web/base-directory.ts';

const TOKEN = 'the-admin-token-0123456789';

function source(calls: RebalanceOptions[]): AdminSource {
  return {
    assignment: () => ({ epoch: 1, revision: 1, table_age_ms: 0, buckets: {}, routes: {}, moving: [], nodes: [], applied: [] }),
    health: () => ({ live: 1, down: 0, draining: false, table_age_ms: 0, revision: 1 }),
    drain: () => Promise.reject(new Error('not in this test')),
    rebalance: async (o) => {
      calls.push(o);
      return { plan: { moves: [], before: { max: 1, mean: 1 }, after: { max: 1, mean: 1 } }, applied: !o.dryRun, epoch: 2, monitorId: 'monitor-1' };
    },
  };
}

const protectedRoutes = [
  { method: 'GET', url: '/assignment' },
  { method: 'GET', url: '/metrics' },
  { method: 'POST', url: '/rebalance/' },
  { method: 'POST', url: '/rebalance/?dry_run=1' },
] as const;

const badHeaders: Array<[string, Record<string, string>]> = [
  ['no Authorization header', {}],
  ['a wrong token', { authorization: 'Token wrong-token' }],
  ['the token with one character changed', { authorization: `Token ${TOKEN.slice(0, -1)}X` }],
  ['a prefix of the token', { authorization: `Token ${TOKEN.slice(0, 8)}` }],
  ['the token with a suffix', { authorization: `Token ${TOKEN}x` }],
  ['an unknown scheme', { authorization: `Basic ${TOKEN}` }],
  ['an empty token', { authorization: 'Token ' }],
];

describe('proxy admin API authentication', () => {
  for (const route of protectedRoutes) {
    for (const [what, headers] of badHeaders) {
      it(`answers ${route.method} ${route.url} with ${what} with 401 and calls nothing`, async () => {
        const calls: RebalanceOptions[] = [];
        const app = await createAdminApp({ source: source(calls), metrics: new ProxyMetrics(), adminToken: TOKEN });
        const r = await app.inject({ method: route.method, url: route.url, headers });
        expect(r.statusCode).toBe(401);
        expect(r.json()).toMatchObject({ error: 'unauthorized' });
        expect(calls).toEqual([]);
        await app.close();
      });
    }
  }

  it('serves every admin route to Token and Bearer headers carrying the admin token', async () => {
    const calls: RebalanceOptions[] = [];
    const app = await createAdminApp({ source: source(calls), metrics: new ProxyMetrics(), adminToken: TOKEN });
    for (const route of protectedRoutes) {
      expect((await app.inject({ method: route.method, url: route.url, headers: { authorization: `Token ${TOKEN}` } })).statusCode).toBe(200);
      expect((await app.inject({ method: route.method, url: route.url, headers: { authorization: `bearer ${TOKEN}` } })).statusCode).toBe(200);
    }
    expect(calls).toHaveLength(4);
    await app.close();
  });

  it('answers GET /health without a token so container healthchecks need no secret', async () => {
    const app = await createAdminApp({ source: source([]), metrics: new ProxyMetrics(), adminToken: TOKEN });
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    await app.close();
  });

  it('refuses every protected route when the configured admin token is empty (fail closed)', async () => {
    const calls: RebalanceOptions[] = [];
    const app = await createAdminApp({ source: source(calls), metrics: new ProxyMetrics(), adminToken: '' });
    for (const route of protectedRoutes) {
      expect((await app.inject({ method: route.method, url: route.url, headers: { authorization: 'Token ' } })).statusCode).toBe(401);
    }
    expect(calls).toEqual([]);
    await app.close();
  });

  it('refuses a request for an unknown admin path with 401 rather than revealing it is unknown', async () => {
    const app = await createAdminApp({ source: source([]), metrics: new ProxyMetrics(), adminToken: TOKEN });
    expect((await app.inject({ method: 'GET', url: '/nope' })).statusCode).toBe(401);
    await app.close();
  });
});

describe('adminTokenMatches', () => {
  it('never matches when no token is configured, whatever the header says', () => {
    expect(adminTokenMatches('Token ', '')).toBe(false);
    expect(adminTokenMatches('Token x', undefined)).toBe(false);
    expect(adminTokenMatches(undefined, '')).toBe(false);
  });
});

describe('web base creation authentication', () => {
  it('creates a base with the admin token (the refusals below are not a broken route)', async () => {
    await withWeb(async (app, directory) => {
      expect((await create(app, { authorization: `Token ${TOKEN}` })).statusCode).toBe(201);
      expect(directory.list()).toHaveLength(1);
    });
  });

  const withWeb = async (fn: (app: ReturnType<typeof buildWebApp>, dir: BaseDirectory) => Promise<void>) => {
    const d = mkdtempSync(join(tmpdir(), 'web-auth-'));
    const directory = new BaseDirectory(d);
    const app = buildWebApp({ directory, lookup: { nodeUrlFor: () => 'http://n/' }, privateKey: 'pk', adminToken: TOKEN, accessTokenTtl: 3600 });
    try {
      await app.ready();
      await fn(app, directory);
    } finally {
      await app.close();
      rmSync(d, { recursive: true, force: true });
    }
  };
  const create = (app: ReturnType<typeof buildWebApp>, headers: Record<string, string>) =>
    app.inject({ method: 'POST', url: '/api/v2.1/dtables/', headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'B' }) });

  for (const [what, headers] of badHeaders) {
    it(`answers base creation with ${what} with 401 and creates no base`, async () => {
      await withWeb(async (app, directory) => {
        const r = await create(app, headers);
        expect(r.statusCode).toBe(401);
        expect(directory.list()).toHaveLength(0);
      });
    });
  }
});
