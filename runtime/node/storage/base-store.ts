// The filesystem backend of base storage (storage.ts): fencing and group commit on a directory
// every node shares, so all nodes must run on one host (cluster.yaml `storage: {kind: filesystem}`).
// One directory per base:
//
//   fence/<token>          empty marker: owner <token> has taken the base over
//   seal-<token>           byte length at which a later owner sealed <token>'s log
//   log-<token>.jsonl      append-only operations written while <token> owned the base
//   snapshot-<token>.json  the base as <token> found it at takeover (covers sealed logs only)
//
// Takeover by T: create fence/T, then seal every older log at the length read, pick the newest
// snapshot, replay the sealed logs and T's own log, write snapshot-T. A write by T is
// acknowledged only after it is fsynced AND no fence newer than T exists: a stale owner whose
// record lands after a newer owner read the log finds that newer fence and acknowledges nothing,
// and anything it appended beyond the seal is never read again. Tokens are etcd owner-key
// create_revisions, so they only grow.
import { closeSync, constants, fsyncSync, openSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { applyOperation, emptyDtable, type Dtable } from '../dtable/model.ts';
import { FencedError, OpenBase, type AckGuard, type BaseStorage, type LogRecord, type LogSink } from './storage.ts';

export { FencedError, OpenBase, type AckGuard, type LogRecord } from './storage.ts';

const pad = (t: number) => String(t).padStart(20, '0');
const LOG = /^log-(\d{20})\.jsonl$/;
const SNAP = /^snapshot-(\d{20})\.json$/;

interface Snapshot {
  format: 1;
  token: number;
  version: number;
  /** Bytes of each older log the snapshot already contains. */
  covers: Record<string, number>;
  dtable: Dtable;
}

/** The filesystem backend: a directory shared by every node (one host). */
export class BaseStore implements BaseStorage {
  readonly kind = 'filesystem';
  constructor(readonly root: string) {}

  async close(): Promise<void> {}

  dir(uuid: string): string {
    return join(this.root, uuid);
  }

  /** Take a base over (or reopen it) as owner `token`; resolves with the replayed base and its writer. */
  async open(uuid: string, token: number, guard: AckGuard = () => null): Promise<OpenBase> {
    const dir = this.dir(uuid);
    await mkdir(join(dir, 'fence'), { recursive: true });
    await writeFile(join(dir, 'fence', pad(token)), '');
    await fsyncDir(join(dir, 'fence'));
    const newer = await newestFence(dir);
    if (newer > token) throw new FencedError(uuid, token, newer);

    const names = await readdir(dir);
    const logs = names.flatMap((n) => (LOG.test(n) ? [Number(LOG.exec(n)![1])] : [])).sort((a, b) => a - b);
    const seals = new Map<number, number>();
    for (const t of logs) if (t < token) seals.set(t, await sealLog(dir, t));

    const snap = await newestSnapshot(dir, names, seals, token);
    const d: Dtable = snap ? snap.dtable : emptyDtable();
    let version = snap ? snap.version : 0;
    for (const t of logs) {
      if (t > token) continue;
      // Created after the snapshot's owner sealed the older logs: a stale owner's, never acknowledged.
      if (snap && t < snap.token && !(pad(t) in snap.covers)) continue;
      const from = snap?.covers[pad(t)] ?? 0;
      const upTo = t === token ? Infinity : seals.get(t)!;
      for (const rec of await readLog(join(dir, `log-${pad(t)}.jsonl`), from, upTo)) {
        if (rec.v <= version) continue;
        try {
          applyOperation(d, rec.op);
        } catch {
          // An operation that was refused when written is never logged; skipping keeps replay total.
        }
        version = rec.v;
      }
    }
    d.version = version;

    const ownLog = join(dir, `log-${pad(token)}.jsonl`);
    const ownLen = await fileSize(ownLog);
    if (!names.includes(`snapshot-${pad(token)}.json`) && ownLen === 0) {
      const covers: Record<string, number> = {};
      for (const [t, len] of seals) covers[pad(t)] = len;
      await writeSnapshot(dir, { format: 1, token, version, covers, dtable: d });
      if (snap) await collectGarbage(dir, snap.token);
    }
    // Drop a torn tail of our own log (a crash mid-append): it was never acknowledged.
    const validLen = await completeLength(ownLog);
    const fh = await open(ownLog, constants.O_CREAT | constants.O_WRONLY);
    if (validLen !== ownLen) await fh.truncate(validLen);
    return new OpenBase(uuid, token, d, new FileLogSink(uuid, token, dir, fh, validLen), guard);
  }
}

/**
 * Appends to the owner's log: fsynced, then acknowledged only while no newer fence exists (a
 * stale owner whose record lands after a newer owner read the log finds that newer fence).
 */
class FileLogSink implements LogSink {
  constructor(
    private readonly uuid: string,
    private readonly token: number,
    private readonly dir: string,
    private readonly fh: FileHandle,
    private offset: number,
  ) {}

  async write(_records: readonly LogRecord[], lines: string): Promise<void> {
    const buf = Buffer.from(lines);
    await this.fh.write(buf, 0, buf.length, this.offset);
    await this.fh.datasync();
    this.offset += buf.length;
    const newer = await newestFence(this.dir);
    if (newer > this.token) throw new FencedError(this.uuid, this.token, newer);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

async function newestFence(dir: string): Promise<number> {
  const names = await readdir(join(dir, 'fence')).catch(() => [] as string[]);
  let max = 0;
  for (const n of names) if (/^\d{20}$/.test(n)) max = Math.max(max, Number(n));
  return max;
}

/** The seal of an older log: created once (O_EXCL), so every later reader agrees on it. */
async function sealLog(dir: string, t: number): Promise<number> {
  const file = join(dir, `seal-${pad(t)}`);
  try {
    return Number((await readFile(file, 'utf8')).trim());
  } catch {
    /* not sealed yet */
  }
  const len = await completeLength(join(dir, `log-${pad(t)}.jsonl`));
  try {
    const fd = openSync(file, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY);
    writeSync(fd, String(len));
    fsyncSync(fd);
    closeSync(fd);
    await fsyncDir(dir);
    return len;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return Number((await readFile(file, 'utf8')).trim());
  }
}

async function newestSnapshot(dir: string, names: string[], seals: Map<number, number>, token: number): Promise<Snapshot | null> {
  const snaps = names.flatMap((n) => (SNAP.test(n) ? [Number(SNAP.exec(n)![1])] : [])).filter((t) => t <= token);
  snaps.sort((a, b) => b - a);
  for (const t of snaps) {
    try {
      const s = JSON.parse(await readFile(join(dir, `snapshot-${pad(t)}.json`), 'utf8')) as Snapshot;
      // A snapshot must not contain more of a log than its seal (defence against a stale writer).
      const ok = Object.entries(s.covers).every(([tok, len]) => len <= (seals.get(Number(tok)) ?? Infinity));
      if (ok) return s;
    } catch {
      /* unreadable: try an older one */
    }
  }
  return null;
}

async function writeSnapshot(dir: string, s: Snapshot): Promise<void> {
  const file = join(dir, `snapshot-${pad(s.token)}.json`);
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(JSON.stringify(s));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  await fsyncDir(dir);
}

/** Files of owners older than the snapshot we loaded from are contained in it and in ours. */
async function collectGarbage(dir: string, below: number): Promise<void> {
  for (const n of await readdir(dir)) {
    const m = /^(?:log|seal|snapshot)-(\d{20})/.exec(n);
    if (m && Number(m[1]) < below) await rm(join(dir, n), { force: true });
  }
}

async function readLog(file: string, from: number, upTo: number): Promise<LogRecord[]> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch {
    return [];
  }
  const end = Math.min(buf.length, upTo);
  const text = buf.subarray(from, end).toString('utf8');
  const out: LogRecord[] = [];
  const lines = text.split('\n');
  lines.pop(); // a torn or empty tail
  for (const l of lines) {
    try {
      out.push(JSON.parse(l) as LogRecord);
    } catch {
      break;
    }
  }
  return out;
}

/** Length of the file up to and including its last newline. */
async function completeLength(file: string): Promise<number> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch {
    return 0;
  }
  return buf.lastIndexOf(0x0a) + 1;
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch {
    /* some filesystems refuse fsync on directories */
  } finally {
    await fh.close();
  }
}
