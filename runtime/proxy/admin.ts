// The proxy's admin API (port 5555): GET /health, GET /assignment, GET /metrics, POST /rebalance/,
// POST /drain/, and the operator console under /console/ (console/console-routes.ts).
// GET /health answers {status: "ok"|"degraded"|"draining"|"no_nodes", routing_stale, ...}: 200 for
// ok and degraded (still routing, by a table that may be stale), 503 otherwise.
// A small fastify app over an AdminSource, so tests can drive it with inject() and no etcd.
import Fastify, { type FastifyInstance } from 'fastify';
import type { RebalanceOptions, RebalanceResult } from '../cluster/etcd/requests.ts';
import type { AssignmentReport } from './cluster-routes.ts';
import { requireAdminToken } from './admin-auth.ts';
import { consolePublicRoutes, registerConsole, type ConsoleSource } from './console/console-routes.ts';
import type { ProxyMetrics } from './metrics.ts';
import { UnknownNodeError, type DrainOptions, type DrainResult } from '../cluster/etcd/drain.ts';
import { METRICS_CONTENT_TYPE } from '../metrics/registry.ts';

export interface AdminSource {
  assignment(): AssignmentReport;
  /** Ask the monitor leader for a rebalance; rejects with a message when it refuses or is absent. */
  rebalance(opts: RebalanceOptions): Promise<RebalanceResult>;
  /** Drain or undrain a node (or preview it); rejects with UnknownNodeError, writing nothing, for an unknown node. */
  drain(opts: DrainOptions): Promise<DrainResult>;
  health(): { live: number; down: number; draining: boolean; table_age_ms: number; revision: number; routing_stale?: boolean; unconfirmed_ms?: number };
}

export interface AdminOptions {
  source: AdminSource;
  metrics: ProxyMetrics;
  /**
   * When defined, every route but GET /health needs `Authorization: Token <adminToken>` (or
   * Bearer); an empty string refuses them all (fail closed). Undefined leaves the app open (unit tests).
   */
  adminToken?: string | undefined;
  /** Serves the operator console at /console/ when given. */
  console?: ConsoleSource;
}

const rebalanceQuery = {
  type: 'object',
  properties: {
    dry_run: { type: 'string', enum: ['0', '1', 'true', 'false'] },
    // 0..256 in decimal, as the query gives it (no coercion, see createAdminApp).
    budget: { type: 'string', pattern: '^(?:0|[1-9][0-9]?|1[0-9][0-9]|2[0-4][0-9]|25[0-6])$' },
  },
  additionalProperties: false,
} as const;

const drainBody = {
  type: 'object',
  required: ['node_id'],
  properties: {
    node_id: { type: 'string', minLength: 1, maxLength: 200 },
    undo: { type: 'boolean' },
    dry_run: { type: 'boolean' },
  },
  // A misspelt `undo` must not drain: unknown names are refused (the app's ajv strips nothing).
  additionalProperties: false,
} as const;

export async function createAdminApp(opts: AdminOptions): Promise<FastifyInstance> {
  // Inputs are refused, never repaired: fastify's default ajv coerces types (null → false for
  // dry_run: a preview became a drain; ["id"] → "id") and drops unknown properties (a misspelt
  // `dry-run` became a real rebalance).
  const app = Fastify({ logger: false, ajv: { customOptions: { coerceTypes: false, removeAdditional: false } } });
  const { source, metrics } = opts;
  if (opts.adminToken !== undefined) {
    requireAdminToken(app, { token: opts.adminToken, open: ['GET /health', 'HEAD /health', ...(opts.console ? consolePublicRoutes() : [])] });
  }
  if (opts.console) await registerConsole(app, { source: opts.console });

  app.get('/health', async (_req, reply) => {
    const h = source.health();
    const stale = h.routing_stale ?? false;
    // "degraded": still routing, by a table that may be out of date (docs/proxy.md, Routing staleness).
    const status = h.draining ? 'draining' : h.live <= h.down ? 'no_nodes' : stale ? 'degraded' : 'ok';
    return reply.code(status === 'ok' || status === 'degraded' ? 200 : 503).send({
      status,
      routing_stale: stale,
      unconfirmed_ms: h.unconfirmed_ms ?? 0,
      nodes_live: h.live - h.down,
      nodes_down: h.down,
      table_age_ms: h.table_age_ms,
      revision: h.revision,
      in_flight: metrics.inFlight,
    });
  });

  app.get('/assignment', async () => source.assignment());

  app.get('/metrics', async (_req, reply) => reply.type(METRICS_CONTENT_TYPE).send(await metrics.render()));

  app.post<{ Querystring: { dry_run?: string; budget?: string } }>('/rebalance/', { schema: { querystring: rebalanceQuery } }, async (req, reply) => {
    const dryRun = req.query.dry_run === '1' || req.query.dry_run === 'true';
    try {
      const r = await source.rebalance({ dryRun, ...(req.query.budget === undefined ? {} : { budget: Number(req.query.budget) }), requestedBy: 'dtable-proxy' });
      return { dry_run: dryRun, applied: r.applied, epoch: r.epoch, monitor_id: r.monitorId, moves: r.plan.moves, before: r.plan.before, after: r.plan.after };
    } catch (err) {
      return reply.code(503).send({ error: 'rebalance_failed', message: (err as Error).message });
    }
  });

  // {node_id, undo?, dry_run?} → DrainResult; 404 unknown_node (nothing written); 503 when etcd refused.
  app.post<{ Body: { node_id: string; undo?: boolean; dry_run?: boolean } }>('/drain/', { schema: { body: drainBody } }, async (req, reply) => {
    const { node_id: nodeId, undo = false, dry_run: dryRun = false } = req.body;
    try {
      return await source.drain({ nodeId, undo, dryRun });
    } catch (err) {
      if (err instanceof UnknownNodeError) return reply.code(404).send({ error: 'unknown_node', message: err.message, known: err.known });
      return reply.code(503).send({ error: 'drain_failed', message: (err as Error).message });
    }
  });

  await app.ready();
  return app;
}
