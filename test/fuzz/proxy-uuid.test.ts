// Fuzz (fast-check) of the proxy's base-uuid extraction: for any URL and header, routeKey answers
// a bucket 0..255 or one of its three refusal codes, never throws, and never routes a request
// whose uuid source is not a real base UUID or whose path a node must never see.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isBaseUuid } from '../../runtime/cluster/buckets.ts';
import { BAD_PATH, BAD_UUID, NO_BASE, routeKey } from '../../runtime/proxy/base-uuid.ts';

const RUNS = 3000;
const hex = fc.constantFrom(...'0123456789abcdefABCDEF');
const plainUuid = fc.array(hex, { minLength: 32, maxLength: 32 }).map((a) => a.join(''));
const dashedUuid = plainUuid.map((p) => `${p.slice(0, 8)}-${p.slice(8, 12)}-${p.slice(12, 16)}-${p.slice(16, 20)}-${p.slice(20)}`);
const uuid = fc.oneof(plainUuid, dashedUuid);
/** Almost-uuids: the classic near misses (length ±1, bad digit, wrong dash positions, spaces, encodings). */
const nearMiss = fc.oneof(
  uuid.map((u) => u.slice(1)),
  uuid.map((u) => `${u}0`),
  fc.tuple(uuid, fc.nat(31), fc.constantFrom('g', 'G', 'z', ' ', '-', '%', '.', '/', '\u00e9', '\u0660')).map(([u, i, c]) => u.slice(0, i) + c + u.slice(i + 1)),
  plainUuid.map((p) => `${p.slice(0, 7)}-${p.slice(7)}`),
  dashedUuid.map((d) => `{${d}}`),
);
const segmentChar = fc.constantFrom(...'abcXYZ019-_.~%2e/\\?&=#:; \t'.split(''), '\u0000', '\u007f', '\u00ff', '\u2028');
const junk = fc.array(segmentChar, { maxLength: 40 }).map((a) => a.join(''));
const prefix = fc.constantFrom('/dtables/', '/api/v1/dtables/', '/api/v1/internal/dtables/', '/dtable-server/api/v1/dtables/', '/', '/ping/', '');
const suffix = fc.constantFrom('', '/', '/rows/', '/rows/abc/', '/../x', '?x=1', '/%2e%2e/');
const url = fc.oneof(
  fc.tuple(prefix, fc.oneof(uuid, nearMiss, junk), suffix, fc.option(fc.tuple(fc.constantFrom('?', '&'), fc.oneof(uuid, nearMiss, junk)))).map(
    ([p, s, suf, q]) => `${p}${s}${suf}${q ? `${suf.includes('?') ? '&' : '?'}dtable_uuid=${q[1]}` : ''}`,
  ),
  fc.string({ unit: 'binary', maxLength: 120 }),
  fc.webUrl({ withQueryParameters: true, withFragments: true }).map((u) => u.replace(/^[a-z]+:\/\/[^/]*/, '')),
);
const header = fc.option(fc.oneof(uuid, nearMiss, junk, fc.array(fc.oneof(uuid, junk), { maxLength: 3 })), { nil: undefined });

const isCode = (k: number) => k === NO_BASE || k === BAD_PATH || k === BAD_UUID || (Number.isInteger(k) && k >= 0 && k <= 255);

describe('proxy uuid extraction (fuzz)', () => {
  it('answers a bucket or a refusal code for any url and header, never throwing', () => {
    fc.assert(
      fc.property(url, header, (u, h) => {
        expect(isCode(routeKey(u, h))).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('routes /dtables/<uuid>/ to the bucket of the first two hex digits, whatever the case or dashes', () => {
    fc.assert(
      fc.property(prefix.filter((p) => p.endsWith('dtables/')), uuid, suffix.filter((s) => !s.includes('..') && !s.includes('%2e')), header, (p, id, s, h) => {
        expect(routeKey(`${p}${id}${s}`, h)).toBe(parseInt(id.slice(0, 2), 16));
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses a /dtables/ segment that is not a base UUID instead of routing it', () => {
    fc.assert(
      fc.property(prefix.filter((p) => p.endsWith('dtables/')), nearMiss.filter((s) => s.length > 0 && !s.includes('/') && !isBaseUuid(s)), (p, s) => {
        const k = routeKey(`${p}${s}/`, undefined);
        expect(k === BAD_UUID || k === BAD_PATH).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('routes the dtable_uuid query parameter only when it is a base UUID', () => {
    fc.assert(
      fc.property(fc.oneof(uuid, nearMiss, junk.filter((j) => !/[&#]/.test(j))), (v) => {
        const k = routeKey(`/socket.io/?EIO=4&dtable_uuid=${encodeURIComponent(v)}&transport=websocket`, undefined);
        if (isBaseUuid(v)) expect(k).toBe(parseInt(v.slice(0, 2), 16));
        else expect(k).toBe(BAD_UUID);
      }),
      { numRuns: RUNS },
    );
  });

  it('never routes a path with a dot segment, a backslash or a control character', () => {
    const bad = fc.constantFrom('/..', '/.', '/%2e%2e', '/%2E.', '\\', '\u0000', '\n', ' ', '\u007f', '\u00e9');
    fc.assert(
      fc.property(prefix.filter((p) => p.length > 0), uuid, bad, fc.constantFrom('/', '/rows/'), (p, id, b, s) => {
        expect(routeKey(`${p}${id}${b}${s}`, undefined)).toBe(BAD_PATH);
      }),
      { numRuns: RUNS },
    );
  });

  it('routes a request with no uuid in path or query by the X-Dtable-Uuid header only when it is a base UUID', () => {
    fc.assert(
      fc.property(fc.oneof(uuid, nearMiss), (h) => {
        const k = routeKey('/api/v1/admin/sys-info/', h);
        if (isBaseUuid(h.trim())) expect(k).toBe(parseInt(h.trim().slice(0, 2), 16));
        else expect(k).toBe(BAD_UUID);
      }),
      { numRuns: RUNS },
    );
  });
});
