import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketIndex, bucketOf, dashedUuid } from '../../../runtime/cluster/buckets.ts';
import { BAD_PATH, BAD_UUID, NO_BASE, routeKey } from '../../../runtime/proxy/base-uuid.ts';

const hex32 = fc.stringMatching(/^[0-9a-fA-F]{32}$/);

describe('routeKey', () => {
  it('gives the bucket of a plain or dashed uuid in any of the node API paths, in either case', () => {
    fc.assert(
      fc.property(hex32, fc.boolean(), fc.constantFrom('/dtables/%s/', '/api/v1/dtables/%s/rows/', '/api/v1/internal/dtables/%s/x', '/dtable-server/api/v1/dtables/%s/metadata/?a=1'), (u, dashed, tpl) => {
        const uuid = dashed ? dashedUuid(u) : u;
        expect(routeKey(tpl.replace('%s', uuid), undefined)).toBe(bucketIndex(bucketOf(u)));
      }),
    );
  });

  it('gives the bucket of the dtable_uuid query parameter anywhere in the query', () => {
    fc.assert(
      fc.property(hex32, (u) => {
        expect(routeKey(`/socket.io/?EIO=4&dtable_uuid=${u}&transport=polling`, undefined)).toBe(bucketIndex(bucketOf(u)));
        expect(routeKey(`/socket.io/?dtable_uuid=${encodeURIComponent(dashedUuid(u))}`, undefined)).toBe(bucketIndex(bucketOf(u)));
      }),
    );
  });

  it('uses the X-Dtable-Uuid header when neither path nor query names a base', () => {
    expect(routeKey('/api/v1/internal/x/', 'ff5c6ad2-1111-4222-8333-444455556666')).toBe(255);
  });

  it('prefers the path over the query and the query over the header', () => {
    const a = '0a'.padEnd(32, '0');
    const b = '0b'.padEnd(32, '0');
    const c = '0c'.padEnd(32, '0');
    expect(routeKey(`/dtables/${a}/?dtable_uuid=${b}`, c)).toBe(0x0a);
    expect(routeKey(`/socket.io/?dtable_uuid=${b}`, c)).toBe(0x0b);
  });

  it('finds no base in paths without a uuid, including the dtables listing', () => {
    for (const p of ['/ping/', '/api/v1/admin/sys-info/', '/api/v1/dtables/', '/', '/dtables']) expect(routeKey(p, undefined)).toBe(NO_BASE);
  });

  it('rejects a malformed uuid in the path, the query or the header', () => {
    expect(routeKey('/dtables/5e5c6ad2/', undefined)).toBe(BAD_UUID);
    expect(routeKey(`/dtables/${'g'.repeat(32)}/`, undefined)).toBe(BAD_UUID);
    expect(routeKey('/dtables/5e5c6ad2-1111-4222-8333-4444555566667/', undefined)).toBe(BAD_UUID);
    expect(routeKey('/socket.io/?dtable_uuid=', undefined)).toBe(BAD_UUID);
    expect(routeKey('/x/', 'nope')).toBe(BAD_UUID);
  });

  it('rejects non-origin-form targets, dot segments, backslashes and control bytes', () => {
    for (const p of ['*', 'http://evil/', '/a/../b', '/a/..', '/./a', '/a/%2e%2E/b', '/a/.%2e', '/a\\b', '/a\u0001', '/a b']) {
      expect(routeKey(p, undefined), p).toBe(BAD_PATH);
    }
  });

  it('accepts dots that are not whole segments', () => {
    expect(routeKey('/static/app.min.js', undefined)).toBe(NO_BASE);
    expect(routeKey('/a/.well-known/x', undefined)).toBe(NO_BASE);
    expect(routeKey('/a/...', undefined)).toBe(NO_BASE);
  });
});
