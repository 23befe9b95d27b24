// Upgrades (RFC 9110 section 7.8): the protocol switches only once the node has answered 101.
// Bytes the client sends after its upgrade request are held until then (and reach the node as
// tunnel data after the 101, never as requests); any other answer is relayed with
// Connection: close and the bytes behind the request are dropped.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PROXY_ENGINES } from '../../runtime/proxy/server.ts';
import { allTo, startInProcessProxy, type InProcessProxy } from '../runtime/proxy/fixtures/in-process-proxy.ts';

const UUID = '5e5c6ad2-1111-4222-8333-444455556666';
const OTHER = 'a1b2c3d4-0000-4000-8000-000000000001';
const UPGRADE = `GET /socket.io/?dtable_uuid=${UUID}&transport=websocket HTTP/1.1\r\nHost: p\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
const BEHIND = `GET /dtables/${OTHER}/rows/ HTTP/1.1\r\nHost: p\r\n\r\nGET /../admin HTTP/1.1\r\nHost: p\r\n\r\n`;

interface UpgradeNode {
  port: number;
  /** Per connection: the handshake head, bytes received after it before the answer, and after it. */
  conns: Array<{ head: string; before: string; after: string }>;
  answer: (s: Socket) => void;
  close(): Promise<void>;
}

async function startUpgradeNode(): Promise<UpgradeNode> {
  const sockets = new Set<Socket>();
  const node: UpgradeNode = { port: 0, conns: [], answer: () => undefined, close: async () => undefined };
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    const c = { head: '', before: '', after: '' };
    node.conns.push(c);
    let answered = false;
    let buf = '';
    s.on('data', (d) => {
      if (c.head === '') {
        buf += d.toString('latin1');
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        c.head = buf.slice(0, end + 4);
        c.before = buf.slice(end + 4);
        // Answer a little later: anything the proxy passes on meanwhile is counted in `before`.
        setTimeout(() => {
          answered = true;
          node.answer(s);
        }, 100);
        return;
      }
      if (answered) {
        c.after += d.toString('latin1');
        s.write(d); // echo, as tunnel data
      } else c.before += d.toString('latin1');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  node.port = (server.address() as { port: number }).port;
  node.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return node;
}

/** Writes `text` at once and reads until `done(received)` or the close. */
function talk(port: number, text: string, done: (got: string) => boolean): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(text));
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ text: got, closed: false });
    }, 3000);
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (done(got)) {
        clearTimeout(timer);
        s.destroy();
        resolve({ text: got, closed: false });
      }
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text: got, closed: true });
    });
    s.on('error', reject);
  });
}

describe.each(PROXY_ENGINES)('upgrades on the %s engine', (engine) => {
  let proxy: InProcessProxy;
  let node: UpgradeNode;
  beforeAll(async () => {
    node = await startUpgradeNode();
    proxy = await startInProcessProxy({ engine });
    proxy.setRoutes([{ nodeId: 'dtable-server-up', url: `http://127.0.0.1:${node.port}/` }], allTo('dtable-server-up'));
  });
  afterAll(async () => {
    await proxy?.close();
    await node?.close();
  });
  afterEach(() => {
    node.conns.length = 0;
  });

  it('holds the bytes behind an upgrade request until the 101, then passes them as tunnel data', async () => {
    node.answer = (s) => s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nHELLO');
    const r = await talk(proxy.port, UPGRADE + BEHIND, (got) => got.endsWith(BEHIND));
    expect(r.text).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(r.text).toContain('\r\n\r\nHELLO');
    expect(r.text.endsWith(BEHIND)).toBe(true);
    expect(node.conns).toHaveLength(1);
    expect(node.conns[0]!.head).toMatch(/^GET \/socket\.io\/\?dtable_uuid=/);
    expect(node.conns[0]!.head.toLowerCase()).toContain('x-forwarded-for: 127.0.0.1');
    expect(node.conns[0]!.before).toBe('');
    expect(node.conns[0]!.after).toBe(BEHIND);
  });

  it('relays a non-101 answer with Connection: close and never passes the requests behind it', async () => {
    node.answer = (s) => s.write('HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\nX-Dtable-Server-Node: dtable-server-up\r\n\r\nnope');
    const r = await talk(proxy.port, UPGRADE + BEHIND, () => false);
    expect(r.closed).toBe(true);
    expect(r.text).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(r.text.toLowerCase()).toContain('connection: close');
    expect(r.text.endsWith('\r\n\r\nnope')).toBe(true);
    expect(node.conns).toHaveLength(1);
    expect(node.conns[0]!.before).toBe('');
    expect(node.conns[0]!.after).toBe('');
  });

  it('refuses an upgrade request that carries a body', async () => {
    const withBody = UPGRADE.replace('\r\n\r\n', '\r\nContent-Length: 5\r\n\r\n') + 'abcde';
    const r = await talk(proxy.port, withBody, () => false);
    expect(r.text).toMatch(/^HTTP\/1\.1 400 /);
    expect(r.closed).toBe(true);
    expect(node.conns).toHaveLength(0);
  });

  it('refuses an upgrade request whose Connection names Host', async () => {
    const r = await talk(proxy.port, UPGRADE.replace('Connection: Upgrade', 'Connection: Upgrade, Host'), () => false);
    expect(r.text).toMatch(/^HTTP\/1\.1 400 /);
    expect(node.conns).toHaveLength(0);
  });
});
