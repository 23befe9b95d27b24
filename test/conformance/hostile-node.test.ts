// A hostile node's responses at llhttp's edges: whatever the raw engine relays, the client's
// llhttp must frame as the proxy did (no desync of a kept-alive client connection) and never
// refuse. Each case was once relayed although llhttp frames it differently or refuses it.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allTo, startInProcessProxy, type InProcessProxy } from '../runtime/proxy/fixtures/in-process-proxy.ts';
import { startScriptedNode, type ScriptedNode } from '../runtime/proxy/fixtures/scripted-node.ts';
import { frameResponse } from './llhttp.ts';

/** Sends each request on one client connection, the next after `gapMs`; everything read until the close or `waitMs`. */
function converse(port: number, requests: string[], gapMs = 300, waitMs = 1500): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('error', () => undefined);
    const timer = setTimeout(() => {
      s.destroy();
      resolve(got);
    }, waitMs);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    s.on('connect', () => {
      requests.forEach((r, i) => setTimeout(() => !s.destroyed && s.write(r), i * gapMs));
    });
  });
}

describe('raw engine, hostile node responses against llhttp', () => {
  let proxy: InProcessProxy;
  let node: ScriptedNode;
  let answers: Record<string, (s: Socket) => void> = {};
  beforeAll(async () => {
    node = await startScriptedNode((head, s) => {
      const path = head.slice(head.indexOf(' ') + 1, head.indexOf(' ', head.indexOf(' ') + 1));
      const a = answers[path];
      if (a) a(s);
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond');
    });
    proxy = await startInProcessProxy({ engine: 'raw', retryDeadlineMs: 300 });
    proxy.setRoutes([{ nodeId: 'scripted', url: node.url }], allTo('scripted'));
  });
  afterAll(async () => {
    await proxy?.close();
    await node?.close();
  });

  // `Transfer-Encoding: chunked<HTAB>`: llhttp does not read `chunked<HTAB>` as chunked (only SP may
  // follow the token), so the body runs until the close. Framed as chunked and relayed on a kept-alive
  // client connection, the client would read the next response as part of this body (a desync).
  it('Transfer-Encoding: chunked<HTAB> is not relayed as a chunked keep-alive response', async () => {
    const bad = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\t\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
    answers = { '/te-htab': (s) => s.end(bad) }; // the node closes: llhttp's framing of it ends there
    const ll = frameResponse(Buffer.from(bad, 'latin1'), false, true);
    expect(ll.ok === true && ll.body.toString('latin1')).toBe('3\r\nabc\r\n0\r\n\r\n');
    const got = await converse(proxy.port, ['GET /te-htab HTTP/1.1\r\nHost: p\r\n\r\n', 'GET /next HTTP/1.1\r\nHost: p\r\n\r\n']);
    // What the client's llhttp makes of the bytes it received.
    const client = frameResponse(Buffer.from(got, 'latin1'), false, true);
    expect(client.ok === true ? client.body.toString('latin1') : client).not.toContain('second');
  });

  // `Content-Length: 5<HTAB>`: llhttp refuses it (HPE_INVALID_CONTENT_LENGTH), so the proxy does.
  it('Content-Length: 5<HTAB> from the node is refused (502), as llhttp refuses it', async () => {
    answers = { '/cl-htab': (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\t\r\n\r\nhello') };
    expect(frameResponse(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\t\r\n\r\nhello', 'latin1'))).toEqual({ ok: false, code: 'HPE_INVALID_CONTENT_LENGTH' });
    const got = await converse(proxy.port, ['GET /cl-htab HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n']);
    expect(got.slice(0, 12)).toBe('HTTP/1.1 502');
  });

  // A Content-Length trailer field: llhttp refuses the message (HPE_INVALID_CONTENT_LENGTH); the
  // proxy cuts the response before the trailer rather than relay it.
  it('a chunked response with a Content-Length trailer is cut, as llhttp refuses it', async () => {
    const bad = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nContent-Length: 5\r\n\r\n';
    answers = { '/cl-trailer': (s) => s.write(bad) };
    expect(frameResponse(Buffer.from(bad, 'latin1'))).toEqual({ ok: false, code: 'HPE_INVALID_CONTENT_LENGTH' });
    const got = await converse(proxy.port, ['GET /cl-trailer HTTP/1.1\r\nHost: p\r\n\r\n']);
    // Whatever the proxy sent, the client's llhttp must not be made to fail on it: a refusal is a
    // cut before the end of the message (partial), not the invalid trailer.
    const client = frameResponse(Buffer.from(got, 'latin1'), false, true);
    expect(client).not.toEqual({ ok: false, code: 'HPE_INVALID_CONTENT_LENGTH' });
  });
});
