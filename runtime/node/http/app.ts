// The node's HTTP API (docs/node.md, HTTP API): SeaTable's REST subset with JWT auth. Every answer,
// errors included, carries X-Dtable-Server-Node; requests for a bucket this node does not serve
// get 421 with the owner the cluster view knows, so the proxy can retry there.
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { InvalidUuidError, normalizeUuid } from '../../cluster/buckets.ts';
import { AuthError, tokenFromHeader, verifyToken, type AccessClaims } from '../auth/jwt.ts';
import { NotOwnedError, WriteOutcomeUnknownError, type BucketGate, type LoadedBases } from '../bases.ts';
import { OperationError, tableByName, type Dtable, type Operation } from '../dtable/model.ts';
import { StorageUnavailableError, StoredDataError } from '../storage/storage.ts';
import { METRICS_CONTENT_TYPE } from '../../metrics/registry.ts';
import {
  addTableOp,
  bodies,
  columnByNameOrKey,
  deleteRowsOp,
  insertColumnOp,
  listRows,
  metadata,
  modifyRowsOp,
  parseBody,
  resolveRow,
  rowById,
  tableMetadata,
} from '../dtable/requests.ts';

export interface NodeAppOptions {
  nodeId: string;
  bases: LoadedBases;
  gate: BucketGate;
  privateKey: string;
  maxBodyBytes: number;
  /** Extra fields for sys-info (sockets...). */
  sysInfo?: () => Record<string, unknown>;
  /** Text exposition of the node's registry for GET /metrics (absent: no /metrics route). */
  metrics?: () => Promise<string>;
  /** False until the node is registered (GET /health answers 503). */
  ready?: () => boolean;
  /** The lease this node's keepalives are acknowledged on and its validity left (ms), null when none is valid (GET /lease). */
  lease?: () => { lease_id: string; valid_for_ms: number } | null;
  logger?: boolean | object;
}

type Req = FastifyRequest<{ Params: { uuid: string; row_id?: string }; Querystring: Record<string, string | undefined>; Body: unknown }>;

export function buildNodeApp(opts: NodeAppOptions): FastifyInstance {
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: opts.maxBodyBytes,
    rewriteUrl: (req) => (req.url?.startsWith('/dtable-server/') ? req.url.slice('/dtable-server'.length) : (req.url ?? '/')),
  });
  const { bases } = opts;

  app.addHook('onRequest', async (_req, reply) => {
    reply.header('X-Dtable-Server-Node', opts.nodeId);
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof NotOwnedError) {
      const owner = opts.gate.ownerInfo(err.bucket);
      return reply.code(421).send({ error_type: 'wrong_node', error_msg: err.message, bucket: err.bucket, node_id: owner?.node_id ?? null, node_url: owner?.node_url ?? null, local_node_url: owner?.local_node_url ?? null });
    }
    if (err instanceof WriteOutcomeUnknownError) {
      const owner = opts.gate.ownerInfo(err.bucket);
      return reply.code(503).header('Retry-After', '1').send({ error_type: 'write_outcome_unknown', error_msg: err.message, bucket: err.bucket, node_id: owner?.node_id ?? null, node_url: owner?.node_url ?? null, local_node_url: owner?.local_node_url ?? null });
    }
    if (err instanceof StorageUnavailableError) {
      return reply.code(503).header('Retry-After', '1').send({ error_type: 'storage_unavailable', error_msg: err.message });
    }
    if (err instanceof StoredDataError) {
      req.log.error({ base: err.uuid, where: err.where }, err.message);
      return reply.code(500).send({ error_type: 'storage_data_error', error_msg: err.message });
    }
    if (err instanceof AuthError) return reply.code(err.status).send({ error_type: 'auth', error_msg: err.message });
    if (err instanceof InvalidUuidError) return reply.code(400).send({ error_type: 'invalid_uuid', error_msg: err.message });
    if (err instanceof OperationError) return reply.code(err.status).send({ error_type: 'invalid_request', error_msg: err.message });
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) return reply.code(status).send({ error_type: err.code ?? 'bad_request', error_msg: err.message });
    req.log.error({ err }, 'request failed');
    return reply.code(500).send({ error_type: 'internal', error_msg: 'internal server error' });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error_type: 'not_found', error_msg: `no route ${req.method} ${req.url}` }));

  // Authorization runs before the body is read: a bad token is refused whatever the body.
  app.addHook('onRequest', async (req) => {
    const uuid = (req.params as { uuid?: string }).uuid;
    if (uuid !== undefined) authorized.set(req, authorize(uuid, req.headers.authorization, req.method !== 'GET' && req.method !== 'HEAD'));
  });
  const authorized = new WeakMap<FastifyRequest, { uuid: string; claims: AccessClaims }>();

  /** The uuid of the path, checked against the token: returns the normalized uuid. */
  function authorize(pathUuid: string, header: string | undefined, write: boolean): { uuid: string; claims: AccessClaims } {
    const uuid = normalizeUuid(pathUuid);
    const claims = verifyToken(tokenFromHeader(header), opts.privateKey);
    let claimUuid: string;
    try {
      claimUuid = normalizeUuid(claims.dtable_uuid);
    } catch {
      throw new AuthError('token dtable_uuid is not a base UUID', 403);
    }
    if (claimUuid !== uuid) throw new AuthError('token is for another base', 403);
    if (write && claims.permission !== 'rw') throw new AuthError('token is read-only', 403);
    return { uuid, claims };
  }

  const uuidOf = (req: Req) => {
    const a = authorized.get(req);
    if (!a) throw new AuthError('not authorized');
    return a.uuid;
  };
  const read = <T>(req: Req, fn: (d: Dtable) => T) => bases.read(uuidOf(req), fn);
  const write = async (req: Req, build: (d: Dtable) => Operation | null) => bases.write(uuidOf(req), build);
  const now = () => new Date().toISOString();

  app.get('/health', async (_req, reply) => {
    const ok = opts.ready?.() ?? true;
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'starting', node_id: opts.nodeId });
  });
  app.get('/ping/', async () => 'pong');
  // Asked by the monitor before it revokes a lease its TTL readings suspect (runtime/monitor/lease-expiry.ts).
  app.get('/lease', async (_req, reply) => {
    const lease = opts.lease?.() ?? null;
    if (!lease) return reply.code(503).send({ node_id: opts.nodeId, lease_id: null });
    return { node_id: opts.nodeId, ...lease };
  });
  const metrics = opts.metrics;
  if (metrics) app.get('/metrics', async (_req, reply) => reply.type(METRICS_CONTENT_TYPE).send(await metrics()));
  app.get('/api/v1/admin/sys-info/', async () => ({
    node_id: opts.nodeId,
    loaded_dtables_count: bases.loadedCount(),
    loaded_dtables: bases.loadedUuids(),
    operations: bases.operations,
    ...opts.sysInfo?.(),
  }));

  app.get('/dtables/:uuid/', async (req: Req) => read(req, (d) => d));

  const api = '/api/v1/dtables/:uuid';
  app.get(`${api}/metadata/`, async (req: Req) => read(req, (d) => ({ metadata: metadata(d) })));

  app.get(`${api}/tables/`, async (req: Req) => read(req, (d) => ({ tables: d.tables.map(tableMetadata) })));
  app.post(`${api}/tables/`, async (req: Req) => {
    const b = parseBody(bodies.addTable, req.body);
    const { op } = await write(req, (d) => addTableOp(d, b));
    const t = op as Extract<Operation, { op_type: 'insert_table' }>;
    return { _id: t.table_id, name: t.table_name, columns: t.columns, views: [{ _id: t.view_id, name: 'Default View', type: 'table' }] };
  });
  app.put(`${api}/tables/`, async (req: Req) => {
    const b = parseBody(bodies.renameTable, req.body);
    await write(req, (d) => ({ op_type: 'rename_table', table_id: tableByName(d, b.table_name)._id, table_name: b.new_table_name }));
    return { success: true };
  });
  app.delete(`${api}/tables/`, async (req: Req) => {
    const b = parseBody(bodies.deleteTable, req.body);
    await write(req, (d) => ({ op_type: 'delete_table', table_id: tableByName(d, b.table_name)._id }));
    return { success: true };
  });

  app.get(`${api}/columns/`, async (req: Req) => read(req, (d) => ({ columns: tableByName(d, req.query.table_name).columns })));
  app.post(`${api}/columns/`, async (req: Req) => {
    const b = parseBody(bodies.insertColumn, req.body);
    const { op } = await write(req, (d) => insertColumnOp(d, b));
    return (op as Extract<Operation, { op_type: 'insert_column' }>).column;
  });
  app.put(`${api}/columns/`, async (req: Req) => {
    const b = parseBody(bodies.columnPut, req.body);
    await write(req, (d) => {
      const t = tableByName(d, b.table_name);
      return { op_type: 'rename_column', table_id: t._id, column_key: columnByNameOrKey(t, b.column).key, new_column_name: b.new_column_name };
    });
    return { success: true };
  });
  app.delete(`${api}/columns/`, async (req: Req) => {
    const b = parseBody(bodies.deleteColumn, req.body);
    await write(req, (d) => {
      const t = tableByName(d, b.table_name);
      return { op_type: 'delete_column', table_id: t._id, column_key: columnByNameOrKey(t, b.column).key };
    });
    return { success: true };
  });

  app.get(`${api}/rows/`, async (req: Req) => read(req, (d) => ({ rows: listRows(tableByName(d, req.query.table_name), req.query) })));
  app.get(`${api}/rows/:row_id/`, async (req: Req) => read(req, (d) => rowById(tableByName(d, req.query.table_name), req.params.row_id!)));
  app.post(`${api}/rows/`, async (req: Req) => {
    const b = parseBody(bodies.appendRow, req.body);
    let row: Record<string, unknown> = {};
    await write(req, (d) => {
      const t = tableByName(d, b.table_name);
      const r = resolveRow(t, b.row, now());
      const existing = t.rows.find((x) => x._id === r._id);
      // A retried append with a client-chosen _id: answer the stored row, add nothing.
      if (existing) {
        row = existing;
        return null;
      }
      row = r;
      return { op_type: 'insert_rows', table_id: t._id, rows: [r] };
    });
    return row;
  });
  app.put(`${api}/rows/`, async (req: Req) => {
    const b = parseBody(bodies.updateRow, req.body);
    await write(req, (d) => modifyRowsOp(tableByName(d, b.table_name), [{ row_id: b.row_id, row: b.row }], now()));
    return { success: true };
  });
  app.delete(`${api}/rows/`, async (req: Req) => {
    const b = parseBody(bodies.deleteRow, req.body);
    await write(req, (d) => deleteRowsOp(tableByName(d, b.table_name), [b.row_id]));
    return { deleted_rows: 1 };
  });

  app.post(`${api}/batch-append-rows/`, async (req: Req) => {
    const b = parseBody(bodies.batchAppend, req.body);
    let ids: string[] = [];
    let first: Record<string, unknown> | null = null;
    await write(req, (d) => {
      const t = tableByName(d, b.table_name);
      const stamp = now();
      const rows = b.rows.map((r) => resolveRow(t, r, stamp));
      if (new Set(rows.map((r) => r._id)).size !== rows.length) throw new OperationError('duplicate _id in rows');
      ids = rows.map((r) => r._id);
      first = rows[0] ?? null;
      const fresh = rows.filter((r) => !t.rows.some((x) => x._id === r._id));
      return fresh.length === 0 ? null : { op_type: 'insert_rows', table_id: t._id, rows: fresh };
    });
    return { inserted_row_count: ids.length, row_ids: ids.map((_id) => ({ _id })), first_row: first };
  });
  app.put(`${api}/batch-update-rows/`, async (req: Req) => {
    const b = parseBody(bodies.batchUpdate, req.body);
    await write(req, (d) => modifyRowsOp(tableByName(d, b.table_name), b.updates, now()));
    return { success: true };
  });
  app.delete(`${api}/batch-delete-rows/`, async (req: Req) => {
    const b = parseBody(bodies.batchDelete, req.body);
    await write(req, (d) => deleteRowsOp(tableByName(d, b.table_name), b.row_ids));
    return { deleted_rows: new Set(b.row_ids).size };
  });

  return app;
}
