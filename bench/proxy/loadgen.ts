// Load generator of bench:proxy (a child process): C keep-alive connections (one undici Client
// each, no pipelining), each sending its next request as soon as the previous answer is read
// (closed loop), or at a fixed total rate (open loop: latency counted from the scheduled send
// time, so a stall is not hidden by coordinated omission). Prints one JSON result line.
import { Client } from 'undici';

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

async function run(spec: LoadSpec): Promise<LoadResult> {
  const body = spec.bodyBytes > 0 ? Buffer.from(JSON.stringify({ data: 'x'.repeat(spec.bodyBytes - 11) })) : null;
  const headers = body ? { 'content-type': 'application/json' } : {};
  const clients = Array.from({ length: spec.connections }, () => new Client(spec.url, { pipelining: 1, keepAliveTimeout: 60_000 }));
  let latencies = new Float64Array(1 << 16);
  let n = 0;
  let non2xx = 0;
  let errors = 0;
  let measuring = false;
  let stop = false;
  const interval = spec.rate > 0 ? (1000 * spec.connections) / spec.rate : 0;

  const loop = async (c: Client, k: number) => {
    let next = performance.now() + (interval * k) / spec.connections;
    while (!stop) {
      // Timers may fire a fraction of a millisecond early: wait until the scheduled time has come.
      while (interval > 0 && performance.now() < next) await new Promise((r) => setTimeout(r, Math.max(1, next - performance.now())));
      const t0 = interval > 0 ? next : performance.now();
      next += interval;
      try {
        const r = await c.request({ path: spec.path, method: spec.method, headers, body });
        for await (const _ of r.body) {
          /* drain */
        }
        if (measuring) {
          if (r.statusCode < 200 || r.statusCode > 299) non2xx++;
          if (n === latencies.length) {
            const bigger = new Float64Array(n * 2);
            bigger.set(latencies);
            latencies = bigger;
          }
          latencies[n++] = performance.now() - t0;
        }
      } catch {
        if (measuring) errors++;
      }
    }
  };
  const loops = clients.map((c, k) => loop(c, k));
  await new Promise((r) => setTimeout(r, spec.warmupMs));
  measuring = true;
  const start = performance.now();
  await new Promise((r) => setTimeout(r, spec.durationMs));
  measuring = false;
  const elapsed = performance.now() - start;
  stop = true;
  await Promise.all(loops);
  await Promise.all(clients.map((c) => c.close()));
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
