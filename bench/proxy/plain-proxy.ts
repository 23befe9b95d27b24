// Variant (d) of bench:proxy, the floor: the textbook node:http reverse proxy (http.request with a
// keep-alive Agent, bodies piped both ways) to one upstream, no routing.
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

const [host, port] = (process.argv[2] ?? '127.0.0.1:5000').split(':') as [string, string];
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const up = request({ host, port: Number(port), method: req.method, path: req.url, headers: req.headers, agent }, (ur) => {
    res.writeHead(ur.statusCode!, ur.headers);
    ur.pipe(res);
  });
  up.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(up);
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`));
process.on('SIGTERM', () => process.exit(0));
