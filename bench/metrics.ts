// `npm run bench:metrics`: what counting one proxied request costs, the proxy's typed arrays
// (runtime/proxy/metrics.ts: a status counter and a latency histogram per node) against
// prom-client's labelled Counter and Histogram (label objects hashed on every call) and its
// bound children (`labels(...)` looked up once). Not a test: prints ns per request and ratios.
//   BENCH_ITERATIONS (default 2,000,000) per round.
import { Counter, Histogram, Registry } from 'prom-client';
import { ProxyMetrics } from '../runtime/proxy/metrics.ts';

const N = Number(process.env.BENCH_ITERATIONS ?? 2_000_000);
const NODES = ['dtable-server-01', 'dtable-server-02', 'dtable-server-03'];
const BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function nsPerOp(count: (i: number) => void): number {
  for (let i = 0; i < 100_000; i++) count(i); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) count(i);
  return Number(process.hrtime.bigint() - t0) / N;
}

const typed = new ProxyMetrics();
const stats = NODES.map((n) => typed.node(n));
const typedNs = nsPerOp((i) => {
  const s = stats[i % 3]!;
  s.countStatus(200);
  s.observeLatency(0.002);
});

const registry = new Registry();
const requests = new Counter({ name: 'bench_requests_total', help: 'x', labelNames: ['node', 'status'], registers: [registry] });
const latency = new Histogram({ name: 'bench_latency_seconds', help: 'x', labelNames: ['node'], buckets: BOUNDS, registers: [registry] });
const labelledNs = nsPerOp((i) => {
  const node = NODES[i % 3]!;
  requests.inc({ node, status: 200 });
  latency.observe({ node }, 0.002);
});

const children = NODES.map((node) => ({ requests: requests.labels({ node, status: 200 }), latency: latency.labels({ node }) }));
const childNs = nsPerOp((i) => {
  const c = children[i % 3]!;
  c.requests.inc();
  c.latency.observe(0.002);
});

console.log(`counting one request (status counter + latency histogram), ${N.toLocaleString('en')} iterations:`);
console.log(`  typed arrays (the proxy)         ${typedNs.toFixed(1).padStart(7)} ns`);
console.log(`  prom-client, labels per call     ${labelledNs.toFixed(1).padStart(7)} ns  (${(labelledNs / typedNs).toFixed(1)}× typed arrays)`);
console.log(`  prom-client, bound children      ${childNs.toFixed(1).padStart(7)} ns  (${(childNs / typedNs).toFixed(1)}× typed arrays)`);
const t0 = process.hrtime.bigint();
const text = await typed.render();
console.log(`one scrape of the proxy's families: ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(2)} ms, ${text.length} bytes`);
