// Admin-token check for the proxy's admin port (5555). Every route except the ones named open
// (GET /health, which container healthchecks call without secrets) needs
// `Authorization: Token <admin token>` (or Bearer). Without a configured token the port fails
// closed: nothing but the open routes answers, so a missing secret never opens the cluster.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';

/**
 * Constant-time comparison of an Authorization header against the admin token. Both sides are
 * hashed first so neither the content nor the length of the token leaks through timing.
 */
export function adminTokenMatches(header: string | undefined, token: string | undefined): boolean {
  if (!token) return false;
  const m = /^(?:Token|Bearer)[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  const given = m ? m[1]! : '';
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  // Hash compare first so an absent header costs the same as a wrong one.
  return timingSafeEqual(a, b) && m !== null;
}

export interface AdminAuthOptions {
  /** The admin token; undefined or empty refuses every protected route. */
  token: string | undefined;
  /** `METHOD path` pairs that need no token, e.g. `GET /health`. */
  open?: readonly string[];
}

/** Adds an onRequest hook: 401 before any handler (or body parsing) runs, so a refused request changes nothing. */
export function requireAdminToken(app: FastifyInstance, opts: AdminAuthOptions): void {
  const open = new Set(opts.open ?? ['GET /health', 'HEAD /health']);
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?', 1)[0]!;
    if (open.has(`${req.method} ${path}`)) return;
    if (adminTokenMatches(req.headers.authorization, opts.token)) return;
    const message = opts.token
      ? 'admin API needs Authorization: Token <admin token>'
      : 'admin API disabled: no admin token configured (set the admin token environment variable)';
    return reply.code(401).header('www-authenticate', 'Token').send({ error: 'unauthorized', message });
  });
}
