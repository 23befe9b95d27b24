import { describe, expect, it } from 'vitest';
import { AuthError, signToken, tokenFromHeader, verifyToken } from '../../../runtime/node/auth/jwt.ts';

const claims = { dtable_uuid: 'abc', permission: 'rw' as const, username: 'u', exp: Math.floor(Date.now() / 1000) + 60 };

describe('jwt', () => {
  it('verifies a token it signed and returns its claims', () => {
    expect(verifyToken(signToken(claims, 'k'), 'k')).toMatchObject(claims);
  });
  it('rejects a token signed with another key', () => {
    expect(() => verifyToken(signToken(claims, 'other'), 'k')).toThrow(AuthError);
  });
  it('rejects an expired token', () => {
    expect(() => verifyToken(signToken({ ...claims, exp: 1 }, 'k'), 'k')).toThrow('token expired');
  });
  it('rejects a token whose payload was altered', () => {
    const [h, , s] = signToken(claims, 'k').split('.');
    const p = Buffer.from(JSON.stringify({ ...claims, permission: 'rw', dtable_uuid: 'other' })).toString('base64url');
    expect(() => verifyToken(`${h}.${p}.${s}`, 'k')).toThrow('invalid token signature');
  });
  it('accepts both Token and Bearer authorization schemes', () => {
    expect(tokenFromHeader('Token a.b.c')).toBe('a.b.c');
    expect(tokenFromHeader('Bearer a.b.c')).toBe('a.b.c');
    expect(() => tokenFromHeader(undefined)).toThrow(AuthError);
  });
});
