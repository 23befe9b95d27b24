// socket.io on the node's root (docs/node.md, socket.io): a client joins a base's room with its access
// token; every acknowledged operation (REST or socket) is broadcast to the room as
// `update-dtable(operation, version)` in version order; the sender of a socket operation gets the
// version in its callback instead. Sockets of a bucket that leaves the node are told why
// (`dtable-moved`) and disconnected, so clients resolve the base's node again.
import type { Server as HttpServer } from 'node:http';
import { Server, type Socket } from 'socket.io';
import { bucketOf, normalizeUuid } from '../cluster/buckets.ts';
import type { Log } from '../cluster/etcd/log.ts';
import { verifyToken } from './auth/jwt.ts';
import { NotOwnedError, WriteOutcomeUnknownError, type AppliedEvent, type LoadedBases } from './bases.ts';
import { StorageUnavailableError, StoredDataError } from './storage/storage.ts';
import { OperationError, type Operation } from './dtable/model.ts';
import { operationSchema } from './dtable/requests.ts';

type Ack = (res: Record<string, unknown>) => void;

interface SocketData {
  uuid?: string;
  permission?: 'rw' | 'r';
}

export class BaseSockets {
  readonly io: Server;

  constructor(
    server: HttpServer,
    private readonly opts: { bases: LoadedBases; privateKey: string; log: Log },
  ) {
    this.io = new Server(server, { serveClient: false, cors: { origin: true }, maxHttpBufferSize: 10 * 1024 * 1024 });
    this.io.on('connection', (s) => this.connected(s));
    opts.bases.on('applied', (e: AppliedEvent) => {
      const room = this.io.to(e.uuid);
      (e.origin ? room.except(e.origin) : room).emit('update-dtable', e.op, e.version);
    });
  }

  count(): number {
    return this.io.engine.clientsCount;
  }

  /** Tell the sockets of a bucket's bases why they are closed, then close them. */
  closeBucket(bucket: string, reason: string): void {
    for (const [room] of this.io.sockets.adapter.rooms) {
      if (!/^[0-9a-f]{32}$/.test(room) || room.slice(0, 2) !== bucket) continue;
      this.io.to(room).emit('dtable-moved', { dtable_uuid: room, reason });
      this.io.in(room).disconnectSockets(true);
    }
  }

  async close(): Promise<void> {
    this.io.disconnectSockets(true);
    await new Promise<void>((r) => this.io.close(() => r()));
  }

  private connected(s: Socket): void {
    const data = s.data as SocketData;
    s.on('join-room', (uuidArg: unknown, token: unknown, cb?: Ack) => {
      const ack: Ack = typeof cb === 'function' ? cb : () => undefined;
      try {
        const uuid = normalizeUuid(String(uuidArg));
        const claims = verifyToken(String(token), this.opts.privateKey);
        if (normalizeUuid(String(claims.dtable_uuid)) !== uuid) throw new OperationError('token is for another base', 403);
        if (data.uuid && data.uuid !== uuid) void s.leave(data.uuid);
        data.uuid = uuid;
        data.permission = claims.permission;
        void s.join(uuid);
        ack({ success: true });
      } catch (err) {
        ack({ success: false, error_msg: (err as Error).message });
      }
    });
    s.on('update-dtable', async (opArg: unknown, cb?: Ack) => {
      const ack: Ack = typeof cb === 'function' ? cb : () => undefined;
      try {
        if (!data.uuid) throw new OperationError('join a room first', 403);
        if (data.permission !== 'rw') throw new OperationError('read-only access', 403);
        const parsed = operationSchema.safeParse(opArg);
        if (!parsed.success) throw new OperationError(`invalid operation: ${parsed.error.issues[0]?.message ?? ''}`);
        const { version } = await this.opts.bases.write(data.uuid, () => parsed.data as Operation, s.id);
        ack({ success: true, version });
      } catch (err) {
        const moved = err instanceof NotOwnedError;
        const unknown = err instanceof WriteOutcomeUnknownError;
        const storage = err instanceof StorageUnavailableError ? 'storage_unavailable' : err instanceof StoredDataError ? 'storage_data_error' : null;
        if (!(err instanceof OperationError) && !moved && !unknown && !storage) this.opts.log.error({ err: (err as Error).message }, 'socket operation failed');
        const type = moved ? 'wrong_node' : unknown ? 'write_outcome_unknown' : (storage ?? 'invalid_request');
        ack({ success: false, error_type: type, error_msg: (err as Error).message, bucket: data.uuid ? bucketOf(data.uuid) : null });
      }
    });
  }
}
