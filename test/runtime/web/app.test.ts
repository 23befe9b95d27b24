import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyToken } from '../../../runtime/node/auth/jwt.ts';
import { buildWebApp } from '../../../runtime/web/app.ts';
import { BaseDirectory } from '../../../runtime/web/base-directory.ts';

let dir: string;
let app: ReturnType<typeof buildWebApp>;
const build = () =>
  buildWebApp({ directory: new BaseDirectory(dir), lookup: { nodeUrlFor: (b) => (b === 'ff' ? null : `http://node-for-${b}/`) }, privateKey: 'pk', adminToken: 'admin', accessTokenTtl: 3600 });
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'web-'));
  app = build();
  await app.ready();
});
afterEach(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

const create = (auth = 'Token admin', body: unknown = { name: 'Base' }) =>
  app.inject({ method: 'POST', url: '/api/v2.1/dtables/', headers: { authorization: auth, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
const accessToken = (a: typeof app, token: string) => a.inject({ method: 'GET', url: '/api/v2.1/dtable/app-access-token/', headers: { authorization: `Token ${token}` } });

describe('web lookup role', () => {
  it('creates a base whose api token yields an access token and the owning node url', async () => {
    const created = (await create()).json();
    const res = await accessToken(app, created.api_token);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    const bucket = created.dtable_uuid.slice(0, 2);
    expect(body).toMatchObject({ dtable_uuid: created.dtable_uuid, dtable_server: `http://node-for-${bucket}/`, dtable_socket: `http://node-for-${bucket}/`, dtable_name: 'Base' });
    expect(verifyToken(body.access_token, 'pk')).toMatchObject({ dtable_uuid: created.dtable_uuid, permission: 'rw' });
  });

  it('answers a client whose server URL ends in a slash (seatable-api then asks for //api/...)', async () => {
    const created = (await create()).json();
    const res = await app.inject({ method: 'GET', url: '//api/v2.1/dtable/app-access-token/', headers: { authorization: `Token ${created.api_token}` } });
    expect(res.statusCode).toBe(200);
    expect(res.json().dtable_uuid).toBe(created.dtable_uuid);
  });

  it('keeps bases and api tokens across a restart', async () => {
    const created = (await create()).json();
    await app.close();
    app = build();
    expect((await accessToken(app, created.api_token)).statusCode).toBe(200);
  });

  it('refuses base creation without the admin token', async () => {
    const res = await create('Token nope');
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error_msg: expect.any(String) });
  });

  it('asks for the admin token when base creation comes without Authorization, error_type unauthorized', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/v2.1/dtables/', headers: { 'content-type': 'application/json' }, payload: '{"name":"x"}' });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error_type: 'unauthorized', error_msg: 'missing Authorization: Token <admin token>' });
  });

  it('checks the admin token before the body: no token and a malformed or foreign body is 401, not 400 or 415', async () => {
    for (const [type, payload] of [['application/json', '{"name":'], ['text/plain', 'x'], ['application/json', '[1]']] as const) {
      const res = await app.inject({ method: 'POST', url: '/api/v2.1/dtables/', headers: { 'content-type': type, authorization: 'Token nope' }, payload });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toEqual({ error_type: 'unauthorized', error_msg: 'admin token required' });
    }
  });

  it('answers a wrong admin token with error_type unauthorized, an unknown api token with forbidden, a bad body with bad_request', async () => {
    expect((await create('Token nope')).json()).toEqual({ error_type: 'unauthorized', error_msg: 'admin token required' });
    expect((await accessToken(app, 'f'.repeat(40))).json()).toEqual({ error_type: 'forbidden', error_msg: 'invalid api token' });
    expect((await create('Token admin', { title: 'x' })).json()).toMatchObject({ error_type: 'bad_request' });
    const none = await app.inject({ method: 'GET', url: '/api/v2.1/dtable/app-access-token/' });
    expect(none.json()).toEqual({ error_type: 'unauthorized', error_msg: 'missing Authorization: Token <api token>' });
  });

  it('refuses base creation with a body that has no name', async () => {
    expect((await create('Token admin', { title: 'x' })).statusCode).toBe(400);
  });

  it('refuses an unknown api token with 403', async () => {
    expect((await accessToken(app, 'f'.repeat(40))).statusCode).toBe(403);
  });

  it('counts bases created and app-access-token requests by result in GET /metrics', async () => {
    const created = (await create()).json();
    await accessToken(app, created.api_token);
    await accessToken(app, 'not-a-token');
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.body).toContain('dtable_web_bases_created_total 1\n');
    expect(res.body).toContain('dtable_web_access_tokens_total{result="issued"} 1\n');
    expect(res.body).toContain('dtable_web_access_tokens_total{result="invalid_token"} 1\n');
    expect(res.body).toContain('dtable_web_access_tokens_total{result="no_node"} 0\n');
    expect(res.body).toContain('dtable_web_bases 1\n');
  });
});
