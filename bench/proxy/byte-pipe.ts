// Variant (c) of bench:proxy, the ceiling: a TCP pass-through that pipes each client connection
// to its own upstream connection without parsing a byte of HTTP.
import { closeTogether } from './pair.ts';
import { connect, createServer, type AddressInfo } from 'node:net';

const [host, port] = (process.argv[2] ?? '127.0.0.1:5000').split(':') as [string, string];
const server = createServer({ noDelay: true }, (client) => {
  const up = connect({ host, port: Number(port), noDelay: true });
  client.pipe(up);
  up.pipe(client);
  closeTogether(client, up);
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`));
process.on('SIGTERM', () => process.exit(0));
