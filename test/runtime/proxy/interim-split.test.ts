// A 1xx interim response followed, in the same read, by only the start of the final head (a reviewer's
// attack). raw-upstream.ts keeps the rest of the read until the head is whole; after an interim head
// that rest is a view of part of the read, and it was kept as a view of the node connection's read
// buffer, which the next read overwrites from offset 0: the client got a final head built from later
// bytes (a 502, or a node's body bytes as response headers). It must be kept as a copy.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedNode, type ScriptedNode } from './fixtures/scripted-node.ts';
import { allTo, startInProcessProxy, type InProcessProxy } from './fixtures/in-process-proxy.ts';

let proxy: InProcessProxy;
let node: ScriptedNode;
let script: (head: string, s: Socket) => void;

beforeAll(async () => {
  node = await startScriptedNode((h, s) => script(h, s));
  proxy = await startInProcessProxy({ engine: 'raw', retryDeadlineMs: 1000 });
  proxy.setRoutes([{ nodeId: 'scripted', url: node.url }], allTo('scripted'));
});
afterAll(async () => {
  await proxy?.close();
  await node?.close();
});

function get(port: number, path: string, until: (got: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    const t = setTimeout(() => { s.destroy(); resolve(got); }, 3000);
    s.on('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`));
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (until(got)) { clearTimeout(t); s.destroy(); resolve(got); }
    });
    s.on('close', () => { clearTimeout(t); resolve(got); });
    s.on('error', reject);
  });
}

describe('interim response then a final head split across reads', () => {
  it.each([40, 200, 1000])('relays the final head intact (103 + %i bytes of the final head in the first read)', async (partLen) => {
    const pad = 'p'.repeat(3000);
    const finalHead = `HTTP/1.1 200 OK\r\nX-Secret-A: ${'A'.repeat(partLen)}\r\nX-Pad: ${pad}\r\nContent-Length: 4\r\n\r\n`;
    const cut = `HTTP/1.1 200 OK\r\nX-Secret-A: `.length + partLen;
    script = (_h, s) => {
      // one write: the interim head and the first part of the final head (no CRLFCRLF yet)
      s.write(`HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n${finalHead.slice(0, cut)}`, () =>
        setTimeout(() => s.write(`${finalHead.slice(cut)}body`), 50),
      );
    };
    const got = await get(proxy.port, '/hints', (g) => g.endsWith('body'));
    expect(got).toContain('HTTP/1.1 103 Early Hints');
    const final = got.slice(got.indexOf('HTTP/1.1 200'));
    // the head the node sent (plus the proxy's keep-alive lines), byte for byte
    expect(final.slice(0, final.indexOf('Content-Length'))).toBe(finalHead.slice(0, finalHead.indexOf('Content-Length')));
    expect(final.endsWith('body')).toBe(true);
  });

  // The stale view is filled by the next read of the same node socket: bytes of the response BODY
  // (content the node serves, possibly uploaded by a user) become the final head the client gets.
  it('never turns body bytes into response headers', async () => {
    const interim = 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n';
    const headPart = `HTTP/1.1 200 OK\r\nX-Pad: ${'b'.repeat(40)}`;
    const rest = '\r\nContent-Length: 120\r\n\r\n';
    const injected = `HTTP/1.1 200 OK\r\nSet-Cookie: sid=EVIL\r\nX-Pad: `.padEnd(headPart.length, 'a');
    // the second read lands at offset 0 of the node socket's read buffer; headBuf is its bytes at
    // [interim.length, interim.length + headPart.length): make the body put `injected` there
    const lead = interim.length - rest.length;
    const body = `${'.'.repeat(lead)}${injected}`.padEnd(120, '.');
    script = (_h, s) => {
      s.write(interim + headPart, () => setTimeout(() => s.write(rest + body), 50));
    };
    const got = await get(proxy.port, '/inject', (g) => g.endsWith('.'.repeat(10)));
    if (process.env.SHOW) console.log(JSON.stringify(got));
    const final = got.slice(got.indexOf('HTTP/1.1 200'));
    // The body is relayed as the node sent it; its bytes never become headers.
    expect(final.slice(final.indexOf('\r\n\r\n') + 4)).toBe(body);
    expect(final.slice(0, final.indexOf('\r\n\r\n'))).not.toContain('Set-Cookie');
    expect(final).toMatch(/^HTTP\/1\.1 200 OK\r\nX-Pad: b{40}\r\nContent-Length: 120\r\n/);
  });
});
