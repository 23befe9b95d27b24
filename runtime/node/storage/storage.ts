// The one interface of base storage (docs/node.md, Ownership and Storage) and the group commit both
// backends share. A backend opens a base for an owner token (taking it over: raising the base's
// fence to the token, then reading everything stored before) and stores batches of operations,
// each batch refused in the same step that would store it when a newer token holds the fence.
// Backends: filesystem (base-store.ts, one host) and MariaDB (mariadb-store.ts, any host).
import { applyOperation, checkNewIds, OperationError, type Dtable, type Operation } from '../dtable/model.ts';

export interface LogRecord {
  v: number;
  op: Operation;
}

/** A newer owner has taken the base over: this node must not serve it any more. */
export class FencedError extends Error {
  override name = 'FencedError';
  constructor(
    readonly uuid: string,
    readonly token: number,
    readonly newer: number,
  ) {
    super(`base ${uuid}: owner token ${token} fenced by newer token ${newer}`);
  }
}

/**
 * The storage cannot be reached or did not answer (MariaDB down, a timeout). Transient: the node
 * answers 503 and nothing that was not acknowledged is assumed stored or lost.
 */
export class StorageUnavailableError extends Error {
  override name = 'StorageUnavailableError';
  constructor(
    readonly backend: string,
    reason: string,
  ) {
    super(`${backend} storage unavailable: ${reason}`);
  }
}

/**
 * A stored value that cannot be what this node wrote (not JSON, wrong shape, a version gap). The
 * base is not served until an operator repairs it; the node keeps serving every other base.
 */
export class StoredDataError extends Error {
  override name = 'StoredDataError';
  constructor(
    readonly uuid: string,
    /** Where: a table and key, e.g. `dtable_operations version 12`. */
    readonly where: string,
    reason: string,
  ) {
    super(`base ${uuid}: bad stored value in ${where}: ${reason}`);
  }
}

/** Extra check before acknowledging (the node's lease must still be valid). */
export type AckGuard = () => Error | null;

/** Base storage: one instance per node process. */
export interface BaseStorage {
  /** `filesystem` or `mariadb`, for logs and sys-info. */
  readonly kind: string;
  /**
   * Take a base over (or reopen it) as owner `token`: raise its fence to `token`, read every
   * stored operation, resolve with the replayed base and its writer. Throws FencedError when a
   * newer token holds the fence, StorageUnavailableError, StoredDataError.
   */
  open(uuid: string, token: number, guard?: AckGuard): Promise<OpenBase>;
  /**
   * Raise the fence of every base of `bucket` to `token` at once (a new owner took the bucket),
   * so a stale owner stores nothing more even for bases the new owner has not opened yet.
   * Optional: the filesystem backend fences per base, at open.
   */
  fenceBucket?(bucket: string, token: number): Promise<void>;
  /** Prepare the storage (create or migrate a schema); open() does it too when needed. */
  ready?(): Promise<void>;
  /** Release connections; open bases must be closed first. */
  close(): Promise<void>;
}

/** Where a backend stores a batch: resolves once durable, rejects (FencedError, ...) when not stored or not known to be. */
export interface LogSink {
  /** Store `records` (contiguous versions, `lines` their JSON encoding, newline-terminated). */
  write(records: readonly LogRecord[], lines: string): Promise<void>;
  /** After a batch is acknowledged with nothing else queued: the in-memory base equals what is stored. */
  committed?(dtable: Dtable): void;
  close(): Promise<void>;
}

/**
 * Deepest nesting of objects and arrays an operation may carry (a cell value of a link, a
 * collaborator list or a geolocation is a few levels). Far past any real base, far short of the
 * depth at which copying or serializing a value overflows the stack (about 5,000 to 20,000 here).
 */
export const MAX_VALUE_DEPTH = 64;

/** Whether `value` nests objects or arrays deeper than `limit`; iterative, so any depth is safe to ask about. */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}

/** A base loaded by its owner: the in-memory dtable and the group-committing writer. */
export class OpenBase {
  private queue: Array<{ rec: LogRecord; line: string; resolve: () => void; reject: (e: Error) => void }> = [];
  private flushing: Promise<void> | null = null;
  private closed = false;
  private fenced: Error | null = null;

  constructor(
    readonly uuid: string,
    readonly token: number,
    readonly dtable: Dtable,
    private readonly sink: LogSink,
    private readonly guard: AckGuard,
  ) {}

  get version(): number {
    return this.dtable.version;
  }

  /** Once set, every later append is refused: the in-memory base may hold unacknowledged changes. */
  get failure(): Error | null {
    return this.fenced;
  }

  /**
   * Apply `op` in memory and queue it; resolves with its version once durable and still owned.
   * Throws OperationError synchronously, before logging, when the op does not fit.
   */
  append(op: Operation): { version: number; durable: Promise<void> } {
    if (this.fenced) throw this.fenced;
    if (this.closed) throw new Error(`base ${this.uuid} is closed`);
    // Checked and serialized before the base changes: a value nested past MAX_VALUE_DEPTH (which
    // overflowed the stack in applyOperation's copy or in JSON.stringify, after the base had
    // changed in memory but before the log had the op) is refused whole, as a bad operation.
    if (nestedDeeperThan(op, MAX_VALUE_DEPTH)) throw new OperationError(`operation nested deeper than ${MAX_VALUE_DEPTH} levels`);
    let opJson: string;
    try {
      opJson = JSON.stringify(op);
    } catch (err) {
      throw new OperationError(`operation cannot be stored: ${(err as Error).message}`);
    }
    checkNewIds(this.dtable, op);
    try {
      applyOperation(this.dtable, op);
    } catch (err) {
      if (err instanceof OperationError) throw err;
      // Failed part way: the base may have changed in memory without the log. Nothing more is
      // acknowledged from it (the next request loads it again from the log), and the client is
      // told 500, not 421: another node would load the same log and fail the same way.
      this.fenced ??= new Error(`base ${this.uuid} discarded after a failed operation: ${(err as Error).message}`);
      throw new OperationError(`operation failed while applied (the base is reloaded from its log): ${(err as Error).message}`, 500);
    }
    const version = ++this.dtable.version;
    const rec: LogRecord = { v: version, op };
    // JSON.stringify(rec), from the op's JSON.
    const line = `{"v":${version},"op":${opJson}}\n`;
    const durable = new Promise<void>((resolve, reject) => this.queue.push({ rec, line, resolve, reject }));
    if (!this.flushing) this.flushing = this.flushLoop();
    return { version, durable };
  }

  /** Wait until every queued write is acknowledged or refused. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** Refuse new appends at once, finish (acknowledge or refuse) the queued ones, close the writer. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    await this.sink.close().catch(() => undefined);
  }

  // Group commit: everything queued while one batch is being stored goes out as the next batch.
  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        let err: Error | null = this.fenced;
        if (!err) {
          try {
            await this.sink.write(
              batch.map((b) => b.rec),
              batch.map((b) => b.line).join(''),
            );
            err = this.guard();
          } catch (e) {
            err = e as Error;
          }
        }
        if (err) {
          this.fenced ??= err;
          for (const b of batch) b.reject(err);
        } else {
          for (const b of batch) b.resolve();
          if (this.queue.length === 0) this.sink.committed?.(this.dtable);
        }
      }
    } finally {
      this.flushing = null;
    }
  }
}
