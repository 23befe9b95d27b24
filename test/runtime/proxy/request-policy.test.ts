// headBytesOk against the rule it implements, spelled byte by byte (RFC 9112 section 2.2, RFC 9110
// section 5.5): every string up to 6 characters over an alphabet of each kind of byte, and every
// byte value in every context a CR or LF can be in.
import { describe, expect, it } from 'vitest';
import { headBytesOk, readConnection, REQUEST_HEAD_LINES, RESPONSE_HEAD_LINES, TOKEN } from '../../../runtime/proxy/request-policy.ts';

/** The rule, one byte at a time: controls only HTAB and CRLF pairs, no DEL. */
function reference(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 13) {
      if (text.charCodeAt(i + 1) !== 10) return false;
      i++;
    } else if ((c < 32 && c !== 9) || c === 127) {
      return false;
    }
  }
  return true;
}

describe('headBytesOk', () => {
  it('agrees with the byte rule on every short string over each kind of byte', () => {
    const alphabet = ['a', ' ', '\t', '\r', '\n', '\x00', '\x0b', '\x1f', '\x7f', '\x80', '\xff'];
    let checked = 0;
    const walk = (s: string, depth: number): void => {
      expect.soft(headBytesOk(s), JSON.stringify(s)).toBe(reference(s));
      checked++;
      if (depth > 0) for (const c of alphabet) walk(s + c, depth - 1);
    };
    walk('', 5);
    expect(checked).toBe(177_156);
  });

  it('agrees on every byte value before, after and between line ends', () => {
    for (let b = 0; b < 256; b++) {
      const c = String.fromCharCode(b);
      for (const s of [c, `x${c}y`, `\r${c}`, `${c}\n`, `a\r\n${c}\r\nb`, `${c}\r\n`, `\r\n${c}`]) expect.soft(headBytesOk(s), JSON.stringify(s)).toBe(reference(s));
    }
  });

  it('accepts a real head and refuses one with a bare CR, LF or control byte anywhere', () => {
    const head = 'GET /api/v1/dtables/b2c24cb2-198b-4133-af24-6f94c0cea9b9/rows/ HTTP/1.1\r\nhost: example.com\r\nuser-agent: t\tx';
    expect(headBytesOk(head)).toBe(true);
    for (let at = 0; at <= head.length; at++) {
      for (const bad of ['\r', '\n', '\x00', '\x7f']) expect.soft(headBytesOk(head.slice(0, at) + bad + head.slice(at))).toBe(reference(head.slice(0, at) + bad + head.slice(at)));
    }
  });

  it('stays linear on a long head that fails at its end', () => {
    const lines = `${'x-h: v\r\n'.repeat(20_000)}x-h: v`;
    for (const tail of ['\x01', '\rb', 'a\nb']) {
      const started = performance.now();
      expect(headBytesOk(lines + tail)).toBe(false);
      expect(performance.now() - started).toBeLessThan(500);
    }
  });
});

/** The checks REQUEST_HEAD_LINES replaced: the bytes, then per line after the first a token before its first colon. */
function requestReference(text: string): boolean {
  if (!reference(text)) return false;
  const lines = text.split('\r\n');
  return lines.slice(1).every((line) => {
    const colon = line.indexOf(':');
    return colon > 0 && TOKEN.test(line.slice(0, colon));
  });
}

/** The checks RESPONSE_HEAD_LINES replaced: the status line, the bytes, a token before each field line's first colon. */
function responseReference(text: string): boolean {
  if (!text.endsWith('\r\n')) return false;
  const head = text.slice(0, -2);
  const lineEnd = head.indexOf('\r\n');
  const statusLine = lineEnd < 0 ? head : head.slice(0, lineEnd);
  if (!/^HTTP\/1\.[01] [1-9]\d\d(?: [^\r\n]*)?$/.test(statusLine)) return false;
  return requestReference(head);
}

describe('REQUEST_HEAD_LINES and RESPONSE_HEAD_LINES', () => {
  const alphabet = ['a', ':', ' ', '\t', '\r', '\n', '\r\n', '\x00', '\x7f', '\x80', '"'];
  const each = (depth: number, f: (s: string) => void): number => {
    let n = 0;
    const walk = (s: string, d: number): void => {
      f(s);
      n++;
      if (d > 0) for (const c of alphabet) walk(s + c, d - 1);
    };
    walk('', depth);
    return n;
  };

  it('agree with the byte rule plus a token before each colon on every short request head', () => {
    for (const first of ['GET / HTTP/1.1', 'GET /a HTTP/1.1\r\nhost: x']) {
      const n = each(5, (s) => {
        const text = `${first}\r\n${s}`;
        expect.soft(REQUEST_HEAD_LINES.test(text), JSON.stringify(text)).toBe(requestReference(text));
      });
      expect(n).toBe(177_156);
    }
  });

  it('agree with the status-line rule, the byte rule and the token rule on every short response head', () => {
    for (const first of ['HTTP/1.1 200 OK', 'HTTP/1.0 204', 'HTTP/1.1 200 OK\r\ncontent-length: 0']) {
      each(5, (s) => {
        for (const text of [`${first}\r\n${s}\r\n`, `${first}${s}\r\n`]) expect.soft(RESPONSE_HEAD_LINES.test(text), JSON.stringify(text)).toBe(responseReference(text));
      });
    }
    for (const bad of ['HTTP/1.1 099 x\r\n', 'HTTP/2 200\r\n', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 OK\r\n x: y\r\n', 'HTTP/1.1 200 OK\r\nx : y\r\n']) expect(RESPONSE_HEAD_LINES.test(bad)).toBe(false);
  });
});

describe('readConnection', () => {
  it('reads the common values as the general path does, and their results are frozen', () => {
    for (const v of [' keep-alive', ' Keep-Alive', ' close', ' Close', 'keep-alive', 'close']) {
      const fast = readConnection(v)!;
      expect(fast).toEqual({ close: v.toLowerCase().includes('close'), upgrade: false, listed: [] });
      expect(Object.isFrozen(fast) && Object.isFrozen(fast.listed)).toBe(true);
      // The same value with a list separator goes the general way and reads the same.
      expect(readConnection(`${v},`)).toEqual(fast);
    }
    expect(readConnection(' keep-alive, x-foo')).toEqual({ close: false, upgrade: false, listed: ['x-foo'] });
    expect(readConnection(' close, content-length')).toBeNull();
  });
});
