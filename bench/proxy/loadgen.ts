// Load generator of bench:proxy (a child process): C keep-alive connections on raw sockets, each
// with its next request as soon as the previous answer is read (closed loop), or at a fixed total
// rate (open loop: latency counted from the scheduled send time, so a stall is not hidden by
// coordinated omission). Requests are pre-serialized bytes and answers are framed by their
// Content-Length, so the generator costs a fraction of what any proxy under test costs and the
// 2-core machine's second core is left to the variant being measured. Prints one JSON result line.
import { connect, type Socket } from 'node:net';

export interface LoadSpec {
  url: string;
  path: string;
  method: 'GET' | 'POST';
  bodyBytes: number;
  connections: number;
  durationMs: number;
  warmupMs: number;
  /** Total requests per second over all connections; 0 = as fast as possible. */
  rate: number;
}

export interface LoadResult {
  requests: number;
  non2xx: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
}

const CRLF2 = Buffer.from('\r\n\r\n');

/** One keep-alive connection: send() a request, `done(status)` when its whole answer is read. */
class Conn {
  private socket: Socket | null = null;
  private buf: Buffer | null = null;
  private left = -1;
  private status = 0;
  private close = false;
  private waiting: ((status: number) => void) | null = null;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly request: Buffer,
  ) {}

  send(): Promise<number> {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.left = -1;
      this.buf = null;
      (this.socket ?? this.open()).write(this.request);
    });
  }

  end(): void {
    this.socket?.destroy();
  }

  private open(): Socket {
    const s = connect({ host: this.host, port: this.port, noDelay: true });
    this.socket = s;
    s.on('data', (d: Buffer) => this.onData(d));
    s.on('error', () => undefined);
    s.on('close', () => {
      // A socket closed after its last answer (Connection: close) concerns no request.
      if (this.socket !== s) return;
      this.socket = null;
      this.finish(-1);
    });
    return s;
  }

  private onData(d: Buffer): void {
    if (this.left < 0) {
      const b = this.buf === null ? d : Buffer.concat([this.buf, d]);
      const end = b.indexOf(CRLF2);
      if (end < 0) {
        this.buf = b;
        return;
      }
      const head = b.toString('latin1', 0, end);
      this.status = Number(head.slice(9, 12));
      const m = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (!m) {
        // Only Content-Length answers are expected; anything else counts as an error.
        this.socket?.destroy();
        return;
      }
      this.close = /\r\nconnection: *close/i.test(head);
      this.left = Number(m[1]) - (b.length - end - 4);
    } else {
      this.left -= d.length;
    }
    if (this.left <= 0) {
      if (this.close) {
        this.socket?.destroy();
        this.socket = null;
      }
      this.finish(this.status);
    }
  }

  private finish(status: number): void {
    const w = this.waiting;
    this.waiting = null;
    if (w) w(status);
  }
}

async function run(spec: LoadSpec): Promise<LoadResult> {
  const url = new URL(spec.url);
  const body = spec.bodyBytes > 0 ? Buffer.from(JSON.stringify({ data: 'x'.repeat(spec.bodyBytes - 11) })) : null;
  const head = `${spec.method} ${spec.path} HTTP/1.1\r\nHost: ${url.host}\r\n${body ? `content-type: application/json\r\ncontent-length: ${body.length}\r\n` : ''}\r\n`;
  const request = body ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : Buffer.from(head, 'latin1');
  const conns = Array.from({ length: spec.connections }, () => new Conn(url.hostname, Number(url.port), request));
  let latencies = new Float64Array(1 << 16);
  let n = 0;
  let non2xx = 0;
  let errors = 0;
  let measuring = false;
  let stop = false;
  const interval = spec.rate > 0 ? (1000 * spec.connections) / spec.rate : 0;

  const loop = async (c: Conn, k: number) => {
    let next = performance.now() + (interval * k) / spec.connections;
    while (!stop) {
      // Timers may fire a fraction of a millisecond early: wait until the scheduled time has come.
      while (interval > 0 && performance.now() < next) await new Promise((r) => setTimeout(r, Math.max(1, next - performance.now())));
      const t0 = interval > 0 ? next : performance.now();
      next += interval;
      const status = await c.send();
      if (!measuring) continue;
      if (status < 0) {
        errors++;
        continue;
      }
      if (status < 200 || status > 299) non2xx++;
      if (n === latencies.length) {
        const bigger = new Float64Array(n * 2);
        bigger.set(latencies);
        latencies = bigger;
      }
      latencies[n++] = performance.now() - t0;
    }
  };
  const loops = conns.map((c, k) => loop(c, k));
  await new Promise((r) => setTimeout(r, spec.warmupMs));
  measuring = true;
  const start = performance.now();
  await new Promise((r) => setTimeout(r, spec.durationMs));
  measuring = false;
  const elapsed = performance.now() - start;
  stop = true;
  await Promise.all(loops);
  for (const c of conns) c.end();
  const sorted = latencies.subarray(0, n).sort();
  const pct = (p: number) => (n === 0 ? NaN : sorted[Math.min(n - 1, Math.floor((p / 100) * n))]!);
  return { requests: n, non2xx, errors, rps: (n * 1000) / elapsed, p50: pct(50), p99: pct(99) };
}

if (process.argv[2]) {
  const spec = JSON.parse(process.argv[2]) as LoadSpec;
  run(spec).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (err) => {
      process.stderr.write(`${(err as Error).stack}\n`);
      process.exit(1);
    },
  );
}
