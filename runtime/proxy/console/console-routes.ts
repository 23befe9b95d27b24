// The operator console on the proxy admin port (docs/console.md): static page and assets
// under /console/ (public: they hold no data), and two data routes that need the admin token like
// every admin route: GET /console/api/state (one ConsoleState) and GET /console/api/events
// (server-sent events, one `state` event per change). The page sends the token in an
// Authorization header from JavaScript (fetch, also for the event stream), never in a URL or a
// cookie: no CSRF surface, nothing for a log or a browser history to keep.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import type { ConsoleState } from './console-state.ts';

export interface ConsoleSource {
  state(): ConsoleState;
  /** Calls `onChange` after every change the console shows (etcd batches); returns the unsubscribe function. */
  subscribe(onChange: () => void): () => void;
}

export const CONSOLE_ROOT = join(import.meta.dirname, 'public');

/** Strict CSP: scripts, styles and connections from this origin only; no inline script or style. */
export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** `METHOD path` of every public console route (the page and its assets), for requireAdminToken's `open`. */
export function consolePublicRoutes(): string[] {
  const paths = ['/console', '/console/', ...readdirSync(CONSOLE_ROOT).map((f) => `/console/${f}`)];
  return paths.flatMap((p) => [`GET ${p}`, `HEAD ${p}`]);
}

export interface ConsoleRouteOptions {
  source: ConsoleSource;
  /** Coalescing delay between a change and its event, ms (default 50). */
  coalesceMs?: number;
  /** An event is sent at least this often even without changes (routing staleness, table age), ms (default 3000). */
  refreshMs?: number;
}

/** Registers the console routes on the admin app (call before app.ready()). */
export async function registerConsole(app: FastifyInstance, opts: ConsoleRouteOptions): Promise<void> {
  const { source } = opts;
  const coalesceMs = opts.coalesceMs ?? 50;
  const refreshMs = opts.refreshMs ?? 3000;
  const streams = new Set<() => void>();

  await app.register(async (scope) => {
    scope.addHook('onSend', async (_req, reply) => {
      for (const [k, v] of Object.entries(CONSOLE_HEADERS)) reply.header(k, v);
      if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-cache');
    });
    await scope.register(fastifyStatic, {
      root: CONSOLE_ROOT,
      prefix: '/console/',
      // One route per file found at start: exactly the paths consolePublicRoutes() opens.
      wildcard: false,
      index: ['index.html'],
      cacheControl: false,
    });
    scope.get('/console', async (_req, reply) => reply.redirect('/console/', 308));

    scope.get('/console/api/state', async (_req, reply) => reply.header('cache-control', 'no-store').send(source.state()));

    scope.get('/console/api/events', (req, reply) => {
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        ...CONSOLE_HEADERS,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      let blocked = false;
      let pending: NodeJS.Timeout | null = null;
      const send = () => {
        // A reader that does not keep up gets the latest state once it drains, not a backlog.
        if (blocked || res.destroyed) return;
        blocked = !res.write(`event: state\ndata: ${JSON.stringify(source.state())}\n\n`);
      };
      res.on('drain', () => {
        blocked = false;
        send();
      });
      const unsubscribe = source.subscribe(() => {
        pending ??= setTimeout(() => {
          pending = null;
          send();
        }, coalesceMs);
      });
      const refresh = setInterval(send, refreshMs);
      const close = () => {
        if (!streams.delete(close)) return;
        unsubscribe();
        clearInterval(refresh);
        if (pending) clearTimeout(pending);
        res.end();
      };
      streams.add(close);
      req.raw.on('close', close);
      send();
    });
  });

  // Open event streams would keep app.close() waiting for ever.
  app.addHook('preClose', async () => {
    for (const close of [...streams]) close();
  });
}
