// The dtable-web lookup role (docs/web.md): base creation behind the admin token, and the
// app-access-token endpoint that sends a client to the node owning the base's bucket, found the
// way SeaTable's dtable-web does: assign-<hh> → node id → the dtable-server- registration.
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { bucketOf, dashedUuid } from '../cluster/buckets.ts';
import { signToken } from '../node/auth/jwt.ts';
import type { BaseDirectory } from './base-directory.ts';
import { registerWebMetrics } from './metrics.ts';
import { METRICS_CONTENT_TYPE } from '../metrics/registry.ts';
import { Registry } from 'prom-client';

export interface NodeLookup {
  /** node_url of the node assigned the bucket, null when none is live. */
  nodeUrlFor(bucket: string): string | null;
}

export interface WebAppOptions {
  directory: BaseDirectory;
  lookup: NodeLookup;
  privateKey: string;
  adminToken: string;
  accessTokenTtl: number;
  dtableDbUrl?: string;
  ready?: () => boolean;
  /** Registry GET /metrics answers from (the process registry in the web role); default one of the role's own families. */
  registry?: Registry;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const createBody = z.object({ name: z.string().trim().min(1).max(255), workspace_id: z.number().int().min(1).optional() });

/** The token of `Authorization: Token <token>`; `needs` names the one the endpoint wants. */
function bearerToken(header: string | undefined, needs: 'admin token' | 'api token'): string {
  const m = /^(?:Token|Bearer)\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) throw new HttpError(401, `missing Authorization: Token <${needs}>`);
  return m[1]!;
}

/** `error_type` of the errors this role answers itself, by status. */
const ERROR_TYPES: Record<number, string> = { 400: 'bad_request', 401: 'unauthorized', 403: 'forbidden' };

function sameSecret(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}

export function buildWebApp(opts: WebAppOptions): FastifyInstance {
  // ignoreDuplicateSlashes: `seatable-api` joins its server URL and `/api/...`, so the web URL as
  // `up` and `status` print it (with a trailing slash) gave `//api/...` and a 404.
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024, routerOptions: { ignoreDuplicateSlashes: true } });
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    const status = err instanceof HttpError ? err.status : (err.statusCode ?? 500);
    if (status >= 500) return reply.code(status).send({ error_msg: status === 503 ? err.message : 'internal server error' });
    const type = err instanceof HttpError ? (ERROR_TYPES[status] ?? 'bad_request') : (err.code ?? ERROR_TYPES[status] ?? 'bad_request');
    return reply.code(status).send({ error_type: type, error_msg: err.message });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error_msg: `no route ${req.method} ${req.url}` }));

  app.get('/health', async (_req, reply) => {
    const ok = opts.ready?.() ?? true;
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'starting' });
  });
  const registry = opts.registry ?? new Registry();
  const metrics = registerWebMetrics(registry, () => opts.directory.list().length);
  app.get('/metrics', async (_req, reply) => reply.type(METRICS_CONTENT_TYPE).send(await registry.metrics()));

  // The admin token is checked in onRequest, before the body is read or parsed: a caller without
  // it gets 401, never a 400 or 415 that tells it about the body.
  const adminOnly = async (req: FastifyRequest): Promise<void> => {
    if (!sameSecret(bearerToken(req.headers.authorization, 'admin token'), opts.adminToken)) throw new HttpError(401, 'admin token required');
  };
  app.post('/api/v2.1/dtables/', { onRequest: adminOnly }, async (req, reply) => {
    const r = createBody.safeParse(req.body ?? {});
    if (!r.success) throw new HttpError(400, `invalid request body: ${r.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
    const { entry, apiToken: token } = opts.directory.create(r.data.name, r.data.workspace_id);
    metrics.basesCreated.inc();
    return reply.code(201).send({ dtable_uuid: entry.dtable_uuid, dtable_name: entry.dtable_name, workspace_id: entry.workspace_id, api_token: token });
  });

  app.get('/api/v2.1/dtable/app-access-token/', async (req) => {
    let token: string;
    try {
      token = bearerToken(req.headers.authorization, 'api token');
    } catch (err) {
      metrics.accessTokens.inc({ result: 'unauthorized' });
      throw err;
    }
    const base = opts.directory.byApiToken(token);
    if (!base) {
      metrics.accessTokens.inc({ result: 'invalid_token' });
      throw new HttpError(403, 'invalid api token');
    }
    const bucket = bucketOf(base.dtable_uuid);
    const url = opts.lookup.nodeUrlFor(bucket);
    if (!url) {
      metrics.accessTokens.inc({ result: 'no_node' });
      throw new HttpError(503, `no live dtable-server is assigned bucket ${bucket} yet`);
    }
    metrics.accessTokens.inc({ result: 'issued' });
    const exp = Math.floor(Date.now() / 1000) + opts.accessTokenTtl;
    const claims = { dtable_uuid: base.dtable_uuid, permission: 'rw' as const, username: `api-token@${base.dtable_uuid.slice(0, 8)}`, exp, app_name: 'dtable-cluster' };
    return {
      app_name: 'dtable-cluster',
      access_token: signToken(claims, opts.privateKey),
      dtable_uuid: dashedUuid(base.dtable_uuid),
      dtable_server: url,
      dtable_socket: url,
      dtable_db: opts.dtableDbUrl ?? '',
      workspace_id: base.workspace_id,
      dtable_name: base.dtable_name,
      use_api_gateway: false,
    };
  });
  return app;
}
