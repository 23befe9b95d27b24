// Fuzz (fast-check) of the node's access-token checks: verifyToken either returns claims that are
// validly signed, unexpired and well-typed, or throws AuthError (never another error); any
// tampering with a signed token is refused; through the HTTP app a token only opens its own base.
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthError, signToken, tokenFromHeader, verifyToken, type AccessClaims } from '../../runtime/node/auth/jwt.ts';
import type { BucketGate, LoadedBases } from '../../runtime/node/bases.ts';
import { buildNodeApp } from '../../runtime/node/http/app.ts';

const KEY = 'fuzz-key';
const NOW = 1_800_000_000;
const RUNS = 2000;
const b64 = (v: string | Buffer) => Buffer.from(v).toString('base64url');
const hex = fc.constantFrom(...'0123456789abcdefABCDEF');
const uuid = fc.array(hex, { minLength: 32, maxLength: 32 }).map((a) => a.join('')).chain((p) =>
  fc.constantFrom(p, `${p.slice(0, 8)}-${p.slice(8, 12)}-${p.slice(12, 16)}-${p.slice(16, 20)}-${p.slice(20)}`),
);
const anyJson = fc.jsonValue({ maxDepth: 2 });
const claimsLike = fc.record(
  {
    dtable_uuid: fc.oneof(uuid, fc.string(), anyJson),
    permission: fc.oneof(fc.constantFrom('rw', 'r', 'RW', 'w', 'admin', ''), anyJson),
    username: fc.oneof(fc.string(), anyJson),
    exp: fc.oneof(fc.integer({ min: NOW - 10_000, max: NOW + 10_000 }), fc.double(), fc.string(), anyJson),
  },
  { requiredKeys: [] },
);
const sign = (header: unknown, payload: unknown, key = KEY) => {
  const body = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}`;
  return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
};
const validClaims = fc.record({ dtable_uuid: uuid, permission: fc.constantFrom('rw' as const, 'r' as const), username: fc.string(), exp: fc.integer({ min: NOW + 1, max: NOW + 10_000 }) });

function verifyOrAuthError(token: string): AccessClaims | AuthError {
  try {
    return verifyToken(token, KEY, NOW);
  } catch (err) {
    if (err instanceof AuthError) return err;
    throw err;
  }
}

describe('node JWT checks (fuzz)', () => {
  it('throws only AuthError for arbitrary strings', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.array(fc.string({ maxLength: 60 }), { maxLength: 5 }).map((a) => a.join('.'))), (t) => {
        verifyOrAuthError(t);
      }),
      { numRuns: RUNS },
    );
  });

  it('accepts a correctly signed token only when its claims are well-typed and unexpired', () => {
    fc.assert(
      fc.property(fc.oneof(claimsLike, anyJson), (claims) => {
        const r = verifyOrAuthError(sign({ alg: 'HS256', typ: 'JWT' }, claims));
        // The token carries the claims as JSON: judge them as they arrive (Infinity and NaN become null).
        const c = JSON.parse(JSON.stringify(claims)) as Record<string, unknown> | null;
        const valid =
          typeof c === 'object' && c !== null && !Array.isArray(c) &&
          typeof c.exp === 'number' && c.exp > NOW && typeof c.dtable_uuid === 'string' && (c.permission === 'rw' || c.permission === 'r');
        expect(r instanceof AuthError).toBe(!valid);
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses tokens signed with another key or another algorithm', () => {
    fc.assert(
      fc.property(validClaims, fc.string({ minLength: 1 }).filter((k) => k !== KEY), fc.constantFrom('none', 'HS384', 'HS512', 'RS256', 'hs256', ''), (claims, otherKey, alg) => {
        expect(verifyOrAuthError(sign({ alg: 'HS256' }, claims, otherKey))).toBeInstanceOf(AuthError);
        expect(verifyOrAuthError(sign({ alg }, claims))).toBeInstanceOf(AuthError);
        const [h, p] = signToken(claims, KEY).split('.');
        expect(verifyOrAuthError(`${h}.${p}.`)).toBeInstanceOf(AuthError);
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses a signed token with any single character of it changed', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';
    fc.assert(
      fc.property(validClaims, fc.nat(), fc.nat(alphabet.length - 1), (claims, at, ci) => {
        const t = signToken(claims, KEY);
        const i = at % t.length;
        const c = alphabet[ci]!;
        fc.pre(t[i] !== c);
        const tampered = t.slice(0, i) + c + t.slice(i + 1);
        const r = verifyOrAuthError(tampered);
        // A change in the last character of the signature may only flip base64url padding bits:
        // then the decoded signature, and so the token's meaning, is unchanged.
        if (!(r instanceof AuthError)) expect(Buffer.from(tampered.split('.')[2]!, 'base64url')).toEqual(Buffer.from(t.split('.')[2]!, 'base64url'));
      }),
      { numRuns: RUNS },
    );
  });

  it('extracts a token from Token and Bearer headers only, else AuthError', () => {
    fc.assert(
      fc.property(fc.option(fc.string({ unit: 'binary', maxLength: 80 }), { nil: undefined }), (h) => {
        try {
          const t = tokenFromHeader(h);
          expect(h).toMatch(/^(Token|Bearer)\s+/i);
          expect(t).not.toMatch(/\s/);
        } catch (err) {
          expect(err).toBeInstanceOf(AuthError);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('node HTTP authorization (fuzz)', () => {
  let reached = 0;
  const bases = {
    read: async () => {
      reached++;
      return {};
    },
    write: async () => {
      reached++;
      return {};
    },
  } as unknown as LoadedBases;
  const gate: BucketGate = { tokenFor: () => 1, ackGuard: () => null, ownerInfo: () => null };
  const app = buildNodeApp({ nodeId: 'dtable-server-01', bases, gate, privateKey: KEY, maxBodyBytes: 4096 });
  beforeAll(async () => app.ready());
  afterAll(async () => app.close());
  const norm = (u: string) => u.replaceAll('-', '').toLowerCase();

  it('lets a request reach a base only with a valid token for that same base (and rw for writes)', async () => {
    await fc.assert(
      fc.asyncProperty(
        uuid,
        fc.record({ dtable_uuid: fc.oneof(uuid, fc.string()), permission: fc.constantFrom('rw', 'r', 'x'), username: fc.string(), exp: fc.integer({ min: -100, max: 10_000 }) }),
        fc.constantFrom('GET', 'POST'),
        fc.constantFrom('Token', 'Bearer', 'Basic'),
        async (pathUuid, raw, method, scheme) => {
          const exp = Math.floor(Date.now() / 1000) + raw.exp;
          const token = sign({ alg: 'HS256', typ: 'JWT' }, { ...raw, exp });
          const before = reached;
          const url = method === 'GET' ? `/api/v1/dtables/${pathUuid}/metadata/` : `/api/v1/dtables/${pathUuid}/batch-append-rows/`;
          const r = await app.inject({ method, url, headers: { authorization: `${scheme} ${token}`, 'content-type': 'application/json' }, payload: method === 'POST' ? '{"table_name":"T","rows":[]}' : undefined });
          const ok =
            scheme !== 'Basic' && raw.exp > 5 && /^[0-9a-fA-F-]+$/.test(raw.dtable_uuid) && norm(raw.dtable_uuid) === norm(pathUuid) &&
            (raw.permission === 'rw' || (raw.permission === 'r' && method === 'GET'));
          if (!ok) {
            expect([401, 403]).toContain(r.statusCode);
            expect(reached).toBe(before);
          } else {
            expect(r.statusCode).not.toBe(401);
            expect(r.statusCode).not.toBe(403);
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});
