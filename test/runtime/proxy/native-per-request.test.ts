// What the fast path asks of node per socket, not per request. node's `useUserBuffer` (the call
// behind net.Socket's `onread`) adds a native listener to the socket's handle at every call, for the
// socket's life: called per request, a busy kept-alive socket grows without bound (about 48 B per
// request). Requests of every size class the proxy reads differently (small, over 64 KiB into lent
// buffers, request bodies read in place) go over one kept-alive connection; the calls and the
// sockets' JS listeners must not grow with them.
import { Agent, request } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeNode, type FakeNode } from './fixtures/fake-node.ts';
import { allTo, startInProcessProxy, type InProcessProxy } from './fixtures/in-process-proxy.ts';

const UUID = '7a7c6ad2-1111-4222-8333-444455556666';
let node: FakeNode;
let proxy: InProcessProxy;
let calls = 0;
const accepted: Socket[] = [];
let restore: () => void;

beforeAll(async () => {
  node = await startFakeNode('n1');
  proxy = await startInProcessProxy({ engine: 'raw' });
  proxy.setRoutes([{ nodeId: 'n1', url: node.url }], allTo('n1'));
  proxy.server.server.on('connection', (s: Socket) => accepted.push(s));
});

afterAll(async () => {
  restore?.();
  await proxy?.close();
  await node?.close();
});

function send(agent: Agent, method: string, path: string, body: Buffer | null): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request(`${proxy.url}${path}`, { method, agent, headers: body ? { 'content-length': body.length } : {} }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode!, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

describe('per request, the fast path adds nothing native to its sockets', () => {
  it('useUserBuffer is called per socket, not per request; listeners stay as they were', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const sizes = [11, 100_000, 300_000, 1_100_000];
    const post = Buffer.alloc(100 * 1024, 97);
    // Warm up: the sockets (client to proxy, proxy to node) exist before counting.
    await send(agent, 'GET', `/download?bytes=11`, null);
    expect(accepted.length).toBe(1);
    const clientSocket = accepted[0]!;
    const proto = Object.getPrototypeOf((clientSocket as unknown as { _handle: object })._handle) as { useUserBuffer: (b: Buffer) => void };
    const original = proto.useUserBuffer;
    proto.useUserBuffer = function (this: unknown, b: Buffer) {
      calls += 1;
      return original.call(this, b);
    };
    restore = () => (proto.useUserBuffer = original);
    const listeners = (s: NodeJS.EventEmitter) => s.eventNames().reduce((n, e) => n + s.listenerCount(e), 0);
    const before = listeners(clientSocket);
    const socketsBefore = node.openSockets();
    let requests = 0;
    for (let round = 0; round < 30; round++) {
      for (const n of sizes) {
        const r = await send(agent, 'GET', `/download?bytes=${n}`, null);
        expect(r).toEqual({ status: 200, bytes: n });
        requests += 1;
      }
      const r = await send(agent, 'POST', `/dtables/${UUID}/echo`, post);
      expect(r.status).toBe(200);
      requests += 1;
    }
    restore();
    // Still the same connection, and no new node connections that would explain calls.
    expect(accepted).toEqual([clientSocket]);
    expect(clientSocket.destroyed).toBe(false);
    expect(node.openSockets()).toBe(socketsBefore);
    expect(requests).toBe(150);
    expect(calls).toBe(0);
    expect(listeners(clientSocket)).toBe(before);
    agent.destroy();
  }, 60_000);
});
