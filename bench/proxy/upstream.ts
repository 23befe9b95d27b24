// Stub dtable-server for bench:proxy: the cheapest node:http server that answers like a node
// (X-Dtable-Server-Node on every response), so the benchmark measures the proxy, not base work.
//   GET  .../small  → 11 B JSON        GET .../large → ~100 KB JSON
//   GET  .../large-1m → ~1 MB JSON     GET .../large-10m → ~10 MB JSON
//   POST .../echo   → reads the body, answers 11 B JSON
// Prints {"port":N} on stdout once listening.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const nodeId = process.argv[2] ?? 'dtable-server-bench';
const SMALL = Buffer.from('{"ok":true}');
const rows = [];
for (let i = 0; rows.length < 1000; i++) rows.push({ _id: `row${i.toString().padStart(6, '0')}`, Name: `name ${i}`, Count: i, Note: 'x'.repeat(40) });
const LARGE = Buffer.from(JSON.stringify({ rows }));
/** A JSON document of about `rowCount` × 100 B, like a base of that many rows. */
function document(rowCount: number): Buffer {
  const many = [];
  for (let i = 0; i < rowCount; i++) many.push({ _id: `row${i.toString().padStart(7, '0')}`, Name: `name ${i}`, Count: i, Note: 'x'.repeat(40) });
  return Buffer.from(JSON.stringify({ rows: many }));
}
const smallHeaders = { 'content-type': 'application/json', 'content-length': SMALL.length, 'x-dtable-server-node': nodeId };
const bodies = new Map<string, { body: Buffer; headers: Record<string, string | number> }>();
for (const [suffix, body] of [['/large', LARGE], ['/large-1m', document(10_000)], ['/large-10m', document(100_000)]] as const) {
  bodies.set(suffix, { body, headers: { 'content-type': 'application/json', 'content-length': body.length, 'x-dtable-server-node': nodeId } });
}

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  if (req.method === 'POST') {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => {
      res.writeHead(n > 0 ? 200 : 400, smallHeaders);
      res.end(SMALL);
    });
    return;
  }
  const large = bodies.get(req.url!.slice(req.url!.lastIndexOf('/')));
  if (large !== undefined) {
    res.writeHead(200, large.headers);
    res.end(large.body);
    return;
  }
  res.writeHead(200, smallHeaders);
  res.end(SMALL);
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.argv[3] ?? 0), '127.0.0.1', () => {
  const sizes = Object.fromEntries([...bodies].map(([suffix, b]) => [suffix.slice(1), b.body.length]));
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port, sizes })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
