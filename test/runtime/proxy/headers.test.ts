import { describe, expect, it } from 'vitest';
import { clientResponseHeaders, upstreamRequestHeaders } from '../../../runtime/proxy/headers.ts';

const names = (flat: string[]) => flat.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
const get = (flat: string[], name: string) => flat[flat.findIndex((n, i) => i % 2 === 0 && n.toLowerCase() === name) + 1];

describe('upstreamRequestHeaders', () => {
  it('drops hop-by-hop headers and the ones Connection names, keeping the rest in order', () => {
    const out = upstreamRequestHeaders(
      ['Host', 'p:5550', 'Connection', 'keep-alive, X-Hop', 'X-Hop', '1', 'Transfer-Encoding', 'chunked', 'Upgrade', 'websocket', 'Authorization', 'Token t', 'Expect', '100-continue'],
      { remoteAddress: '10.1.1.1', proto: 'http' },
    );
    expect(names(out)).toEqual(['host', 'authorization', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);
  });

  it('appends the client address to an existing X-Forwarded-For and keeps an existing proto and host', () => {
    const out = upstreamRequestHeaders(['Host', 'p', 'X-Forwarded-For', '1.1.1.1', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'public.example'], { remoteAddress: '10.1.1.1', proto: 'http' });
    expect(get(out, 'x-forwarded-for')).toBe('1.1.1.1, 10.1.1.1');
    expect(get(out, 'x-forwarded-proto')).toBe('https');
    expect(get(out, 'x-forwarded-host')).toBe('public.example');
  });

  it('keeps Connection and Upgrade for a WebSocket handshake', () => {
    const out = upstreamRequestHeaders(['Host', 'p', 'Connection', 'Upgrade', 'Upgrade', 'websocket'], { remoteAddress: '::1', proto: 'http' }, true);
    expect(get(out, 'connection')).toBe('Upgrade');
    expect(get(out, 'upgrade')).toBe('websocket');
  });
});

describe('clientResponseHeaders', () => {
  it('drops hop-by-hop response headers and keeps content-length and repeated set-cookie', () => {
    const raw = ['Content-Length', '2', 'Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'Transfer-Encoding', 'chunked', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'].map((s) => Buffer.from(s));
    expect(clientResponseHeaders(raw)).toEqual(['Content-Length', '2', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2']);
  });
});
