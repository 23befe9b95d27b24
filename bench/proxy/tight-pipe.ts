// Variant (c2) of bench:proxy, node's floor: a TCP pass-through like (c), but each direction reads
// into one buffer of its own, reused for every read (net.connect's `onread`, socket-reads.ts for
// the accepted socket), and writes views of it, so no read allocates. A write the kernel did not
// take at once holds the view: its source is paused until that write is done. What (b) costs
// above this is the proxy's own work per request (parsing, routing, framing), not node's.
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { closeTogether } from './pair.ts';
import { readInto } from '../../runtime/proxy/socket-reads.ts';

const [host, port] = (process.argv[2] ?? '127.0.0.1:5000').split(':') as [string, string];
/** Bytes one read may take, per direction and connection. */
const READ_BYTES = 256 * 1024;

/** Writes `view` (valid during the read's callback only) to `to`; false: the source must pause. */
function relay(to: Socket, view: Buffer, done: () => void, held: { now: boolean }): boolean {
  if (to.connecting) {
    to.write(Buffer.from(view));
    return true;
  }
  to.write(view, done);
  if (to.writableLength === 0) return true;
  held.now = true;
  return false;
}

const server = createServer({ noDelay: true }, (client) => {
  const fromClient = Buffer.allocUnsafeSlow(READ_BYTES);
  const fromNode = Buffer.allocUnsafeSlow(READ_BYTES);
  const clientHeld = { now: false };
  const nodeHeld = { now: false };
  const resumeClient = (): void => {
    if (!clientHeld.now) return;
    clientHeld.now = false;
    client.resume();
  };
  const resumeNode = (): void => {
    if (!nodeHeld.now) return;
    nodeHeld.now = false;
    up.resume();
  };
  const up: Socket = connect({
    host,
    port: Number(port),
    noDelay: true,
    onread: { buffer: fromNode, callback: (n: number, b: Uint8Array) => relay(client, Buffer.from(b.buffer, b.byteOffset, n), resumeNode, nodeHeld) },
  });
  if (!readInto(client, { next: () => fromClient, read: (view) => relay(up, view, resumeClient, clientHeld) })) {
    client.destroy();
    up.destroy();
    return;
  }
  closeTogether(client, up);
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`));
process.on('SIGTERM', () => process.exit(0));
