// HS256 JSON Web Tokens for base access (docs/node.md, HTTP API), with node:crypto only: the claims
// SeaTable's dtable-server reads are `dtable_uuid`, `permission` (`rw`/`r`), `username`, `exp`.
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface AccessClaims {
  dtable_uuid: string;
  permission: 'rw' | 'r';
  username: string;
  /** Seconds since the epoch. */
  exp: number;
  [extra: string]: unknown;
}

/** A token that is missing, malformed, badly signed or expired (401), or not for this base (403). */
export class AuthError extends Error {
  override name = 'AuthError';
  constructor(
    message: string,
    readonly status: 401 | 403 = 401,
  ) {
    super(message);
  }
}

const b64 = (v: Buffer | string) => Buffer.from(v).toString('base64url');
const HEADER = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));

export function signToken(claims: AccessClaims, key: string): string {
  const body = `${HEADER}.${b64(JSON.stringify(claims))}`;
  return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
}

/** Verify signature, algorithm and expiry; returns the claims. Throws AuthError. */
export function verifyToken(token: string, key: string, nowSeconds = Date.now() / 1000): AccessClaims {
  const parts = token.split('.');
  if (parts.length !== 3) throw new AuthError('malformed token');
  const [h, p, s] = parts as [string, string, string];
  let header: { alg?: unknown };
  let claims: Partial<AccessClaims>;
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
    claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  } catch {
    throw new AuthError('malformed token');
  }
  // JSON.parse gives any JSON value: `null` or a number is a malformed header, not a TypeError (500).
  if (typeof header !== 'object' || header === null) throw new AuthError('malformed token');
  if (header.alg !== 'HS256') throw new AuthError('unsupported token algorithm');
  const want = createHmac('sha256', key).update(`${h}.${p}`).digest();
  const got = Buffer.from(s, 'base64url');
  if (got.length !== want.length || !timingSafeEqual(got, want)) throw new AuthError('invalid token signature');
  if (typeof claims !== 'object' || claims === null) throw new AuthError('malformed token');
  if (typeof claims.exp !== 'number' || claims.exp <= nowSeconds) throw new AuthError('token expired');
  if (typeof claims.dtable_uuid !== 'string') throw new AuthError('token has no dtable_uuid');
  if (claims.permission !== 'rw' && claims.permission !== 'r') throw new AuthError('token has no valid permission');
  return claims as AccessClaims;
}

/** The token of an `Authorization: Token <jwt>` or `Bearer <jwt>` header. */
export function tokenFromHeader(header: string | undefined): string {
  const m = /^(?:Token|Bearer)\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) throw new AuthError('missing Authorization: Token <access token>');
  return m[1]!;
}
