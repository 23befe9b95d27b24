// Request field values at llhttp's edges, where trimming whitespace as RFC 9110 allows would differ
// from llhttp (node's own parser, the reference): only SP may follow a Content-Length's digits, an
// HTAB after `close` is not the close option, and Proxy-Connection: close ends the connection as
// Connection: close does. Each case was once a difference between the raw engine and llhttp.
import { describe, expect, it } from 'vitest';
import { checkEngine } from './differential.ts';
import { readUntilClose, useEngines } from './harness.ts';
import { allTo, startInProcessProxy } from '../runtime/proxy/fixtures/in-process-proxy.ts';
import { startScriptedNode } from '../runtime/proxy/fixtures/scripted-node.ts';
import { frameRequests } from './llhttp.ts';
import { parseRequestHead } from '../../runtime/proxy/raw-engine.ts';

const FROM = { remoteAddress: '127.0.0.1', proto: 'http' };

describe('raw engine against llhttp: field values at the edges', () => {
  const engines = useEngines();

  // llhttp: HPE_INVALID_CONTENT_LENGTH (only SP may follow the digits). The fast path trims HTAB
  // (trimOws) and accepts, forwarding the line verbatim to the node.
  it.each([
    'POST / HTTP/1.1\r\nHost: p\r\nContent-Length: 5\t\r\n\r\nhello',
    'POST / HTTP/1.1\r\nHost: p\r\nContent-Length: 5 \t\r\n\r\nhello',
    'POST / HTTP/1.1\r\nHost: p\r\nContent-Length: 5\t \r\n\r\nhello',
  ])('parseRequestHead refuses what llhttp refuses: %j', (text) => {
    const ll = frameRequests(Buffer.from(text, 'latin1'));
    expect(ll.end).toMatchObject({ kind: 'error', code: 'HPE_INVALID_CONTENT_LENGTH' });
    expect(parseRequestHead(text.slice(0, text.indexOf('\r\n\r\n')), 1 << 20, FROM)).toBeNull();
  });

  // End to end, with a node that is not llhttp (a scripted node that takes Content-Length as the
  // proxy does): llhttp stops at the bad head (400, close, nothing forwarded); the raw engine
  // forwards the head, the body and the pipelined request. (Against a node:http node the node's
  // own 400 hides it: the differential harness passes.)
  it('Content-Length with a trailing HTAB is refused with 400, nothing forwarded (non-llhttp node)', async () => {
    const scripted = await startScriptedNode((_head, s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    const proxy = await startInProcessProxy({ engine: 'raw' });
    proxy.setRoutes([{ nodeId: 's', url: scripted.url }], allTo('s'));
    try {
      const got = await readUntilClose(proxy.port, 'POST / HTTP/1.1\r\nHost: p\r\nContent-Length: 5\t\r\n\r\nhelloGET /second HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n');
      expect({ status: got.slice(9, 12), forwarded: scripted.heads.length }).toEqual({ status: '400', forwarded: 0 });
    } finally {
      await proxy.close();
      await scripted.close();
    }
  });

  // llhttp: Proxy-Connection: close makes should_keep_alive false: node's server answers with
  // Connection: close and serves no further request. The raw engine drops the header (hop-by-hop),
  // keeps the connection and serves the pipelined request.
  it('Proxy-Connection: close ends the connection as llhttp says', async () => {
    const bytes = Buffer.from('GET / HTTP/1.1\r\nHost: p\r\nProxy-Connection: close\r\n\r\nGET /second HTTP/1.1\r\nHost: p\r\n\r\n', 'latin1');
    const ll = frameRequests(bytes);
    expect(ll.requests[0]!.keepAlive).toBe(false);
    const r = await checkEngine(engines.proxies.get('raw')!.port, engines.node, bytes, [bytes]);
    expect(r.problems).toEqual([]);
  });

  // llhttp does not read `close<HTAB>` as the close option: the connection stays open (the raw
  // engine leaves such a value to node's path rather than close where llhttp keeps alive).
  it('Connection: close<HTAB> keeps the connection open, as llhttp says', async () => {
    const bytes = Buffer.from('GET / HTTP/1.1\r\nHost: p\r\nConnection: close\t\r\n\r\n', 'latin1');
    expect(frameRequests(bytes).requests[0]!.keepAlive).toBe(true);
    const r = await checkEngine(engines.proxies.get('raw')!.port, engines.node, bytes, [bytes]);
    expect(r.problems).toEqual([]);
  });
});
