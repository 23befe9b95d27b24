import { describe, expect, it } from 'vitest';
import { BUCKETS, InvalidUuidError, bucketOf, dashedUuid, normalizeUuid } from '../../../runtime/cluster/buckets.ts';

describe('bucketOf', () => {
  it('takes the first two hex digits, lowercased, of a dashed uuid', () => {
    expect(bucketOf('5E5C6AD2-0000-4000-8000-000000000000')).toBe('5e');
  });
  it('accepts the 32-char plain form', () => {
    expect(bucketOf('ab' + '0'.repeat(30))).toBe('ab');
  });
  it.each(['', 'xyz', '5e5c6ad2', 'g'.repeat(32), '5e5c6ad2-0000-4000-8000-00000000000', `${'0'.repeat(32)}\n`])(
    'rejects %j with InvalidUuidError',
    (bad) => {
      expect(() => bucketOf(bad)).toThrow(InvalidUuidError);
    },
  );
  it('lists 256 buckets 00..ff', () => {
    expect(BUCKETS).toHaveLength(256);
    expect(BUCKETS[0]).toBe('00');
    expect(BUCKETS[255]).toBe('ff');
  });
  it('round-trips plain and dashed forms', () => {
    const plain = 'A1B2C3D4E5F60718293A4B5C6D7E8F90';
    expect(normalizeUuid(dashedUuid(plain))).toBe(plain.toLowerCase());
  });
});
