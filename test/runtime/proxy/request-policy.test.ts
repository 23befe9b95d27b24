// headBytesOk against the rule it implements, spelled byte by byte (RFC 9112 section 2.2, RFC 9110
// section 5.5): every string up to 6 characters over an alphabet of each kind of byte, and every
// byte value in every context a CR or LF can be in.
import { describe, expect, it } from 'vitest';
import { headBytesOk } from '../../../runtime/proxy/request-policy.ts';

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
