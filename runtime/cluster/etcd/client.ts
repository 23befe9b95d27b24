// The one place an etcd client is built. Everything else in the project receives an `Etcd3`.
//
// Beside the pooled client (calls go to a member picked at random, and an idempotent call that
// fails or times out is retried on another member), connectEtcd keeps one single-member client
// per member for the calls that must choose their member: lease keepalives and watch streams
// (memberClients). A member that stops answering without closing its connections (a partition,
// a dropped route) is then left within one deadline instead of being picked again at random.
// The pooled client also skips a member that failed its last health probe (a linearizable read
// every second on its member client, which only a member in the quorum answers), as long as
// another member passed: one bad member costs the calls in flight when it went bad, not one
// deadline in three calls.
import { readFileSync } from 'node:fs';
import { BrokenCircuitError, ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, isBrokenCircuitError, retry } from 'cockatiel';
import { Etcd3, EtcdPermissionDeniedError, isRecoverableError, type IOptions } from 'etcd3';

export type { Etcd3 } from 'etcd3';

export interface EtcdTls {
  ca_file: string;
  cert_file: string;
  key_file: string;
}

export interface ConnectOptions {
  /** `host:port` (SeaTable's etcd_host_list) or full URLs. */
  hostList: string[];
  tls?: EtcdTls | undefined;
  /** Deadline of every unary write (put, txn, lease grant, ...) in ms (streams have none). Default 5000. */
  callTimeoutMs?: number;
  /** Deadline of every unary read (range, lease time-to-live, status) in ms. Default min(2000, callTimeoutMs). */
  readTimeoutMs?: number;
  /** Period of the member health probes in ms (also their deadline); default 1000, 0 disables. */
  healthProbeMs?: number;
}

/** The key the health probes read (absent; the read only proves the member is in the quorum). */
const HEALTH_PROBE_KEY = '\u0000dtable-cluster-health-probe';

/**
 * gRPC HTTP/2 keepalive (grpc-js channel options): while a call or stream is open, a ping every
 * 10 s, and the connection is declared dead when a ping is unanswered for 3 s, so a member that
 * went silent fails its streams instead of looking healthy forever. etcd refuses pings more often
 * than its `--grpc-keepalive-min-time` (default 5 s) and pings without an open stream (GOAWAY
 * "too_many_pings"), hence 10 s and no pings while idle. The faster detection is ours: per-call
 * deadlines, keepalive attempts and watch probes (lease.ts, watch.ts).
 */
export const GRPC_KEEPALIVE = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 3000,
  'grpc.keepalive_permit_without_calls': 0,
} as const;

/**
 * Reconnecting: gRPC's default backoff grows to 120 s, so a connection dropped during a long cut
 * came back seconds after the heal. 100 ms growing to 1 s instead. Each client keeps its own
 * connections (no process-wide subchannel pool): when etcd3 drops a member's clients after a
 * timed-out call, the next call opens a new TCP connection at once instead of reusing one whose
 * retransmissions have backed off.
 */
export const GRPC_RECONNECT = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  'grpc.use_local_subchannel_pool': 1,
} as const;

/** Unary methods that read only: retried on another member after a deadline, like any failure. */
const READ_METHODS = new Set(['range', 'leaseTimeToLive', 'leaseLeases', 'status', 'memberList', 'alarm']);

/**
 * etcd refuses a request authorized against an older auth store than the one it applies with
 * (ErrAuthOldRevision, "etcdserver: revision of auth store is old"): a user or role changed in
 * between, e.g. the access policy re-applied by `up`. Nothing was applied, so the request is sent
 * again, as etcd's Go client does (clientv3 retry interceptor, shouldRefreshToken). With
 * certificate auth there is no token to refresh.
 */
export function isAuthOldRevision(err: unknown): boolean {
  return err instanceof Error && err.message.includes('revision of auth store is old');
}

/** A backoff for watch-stream reconnects: 100 ms doubling to 1 s, so a restarted member costs ~1 s, not 30. */
function watchBackoff(ms = 100): { duration: number; next(): ReturnType<typeof watchBackoff> } {
  return { duration: ms, next: () => watchBackoff(Math.min(ms * 2, 1000)) };
}

export function hostUrl(host: string, tls: boolean): string {
  if (/^https?:\/\//.test(host)) return host;
  return `${tls ? 'https' : 'http'}://${host}`;
}

const members = new WeakMap<Etcd3, () => Etcd3[]>();
const health = new WeakMap<Etcd3, readonly boolean[]>();

/**
 * Per member (host-list order): true unless it failed its last health probe. All true for a
 * client not built by connectEtcd or with a single host.
 */
export function memberHealth(client: Etcd3): readonly boolean[] {
  return health.get(client) ?? memberClients(client).map(() => true);
}

/** The member to move to from `from`: the next one that passed its last probe, else simply the next. */
export function nextMember(client: Etcd3, from: number): number {
  const ok = memberHealth(client);
  const n = ok.length;
  for (let k = 1; k < n; k++) if (ok[(from + k) % n]) return (from + k) % n;
  return (from + 1) % Math.max(1, n);
}

/**
 * One client per etcd member, in host-list order, each talking to that member only and never
 * retrying on its own (the caller picks the next member). A client not built by connectEtcd, or
 * one with a single host, gives `[client]`. Closed with the pooled client.
 */
export function memberClients(client: Etcd3): Etcd3[] {
  return members.get(client)?.() ?? [client];
}

export function connectEtcd(opts: ConnectOptions): Etcd3 {
  if (opts.hostList.length === 0) throw new Error('connectEtcd: empty etcd host list');
  const tls = opts.tls;
  const callTimeoutMs = opts.callTimeoutMs ?? 5000;
  const readTimeoutMs = opts.readTimeoutMs ?? Math.min(2000, callTimeoutMs);
  const credentials = tls
    ? { rootCertificate: readFileSync(tls.ca_file), certChain: readFileSync(tls.cert_file), privateKey: readFileSync(tls.key_file) }
    : undefined;
  const healthy: boolean[] = opts.hostList.map(() => true);
  // A member that failed its last probe is skipped (as if its breaker were open) while another
  // member passed its own; with none passing, every member is tried as before.
  const gate = (i: number) => {
    const breaker = circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 300, breaker: new ConsecutiveBreaker(3) });
    return {
      execute<T>(fn: (ctx: never) => PromiseLike<T> | T): Promise<T> {
        if (!healthy[i] && healthy.some(Boolean)) return Promise.reject(new BrokenCircuitError());
        return breaker.execute(fn as never);
      },
    };
  };
  const optionsFor = (hosts: string[], pooled: boolean): IOptions => ({
    hosts: hosts.map((h) => hostUrl(h, Boolean(tls))),
    dialTimeout: 3000,
    grpcOptions: { ...GRPC_KEEPALIVE, ...GRPC_RECONNECT },
    defaultCallOptions: (ctx) =>
      ctx.isStream ? {} : { deadline: Date.now() + (READ_METHODS.has(ctx.method) ? readTimeoutMs : callTimeoutMs) },
    // etcd3's defaults keep a failed member out for 5 s and give up once every member's breaker
    // is open; after a member restart that turns into seconds of errors. Re-probe after 300 ms
    // and retry with a short backoff instead. The pool's shuffled host order sends each retry to
    // another member.
    faultHandling: {
      host: (host: string) =>
        pooled
          ? (gate(hosts.findIndex((h) => hostUrl(h, Boolean(tls)) === host || h === host)) as never)
          : circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 300, breaker: new ConsecutiveBreaker(3) }),
      global: pooled
        ? retry(
            handleWhen((err) => isRecoverableError(err) || isBrokenCircuitError(err) || isAuthOldRevision(err)),
            { maxAttempts: 5, backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }) },
          )
        : // A member client leaves member faults to its caller, but not an auth store change.
          retry(handleWhen(isAuthOldRevision), { maxAttempts: 5, backoff: new ExponentialBackoff({ initialDelay: 20, maxDelay: 200 }) }),
      watchBackoff: watchBackoff() as never,
    },
    ...(credentials ? { credentials } : {}),
  });
  const client = new Etcd3(optionsFor(opts.hostList, true));
  if (opts.hostList.length > 1) {
    const perMember = opts.hostList.map((h) => new Etcd3(optionsFor([h], false)));
    let closed = false;
    members.set(client, () => (closed ? [client] : perMember));
    health.set(client, healthy);
    const probeMs = opts.healthProbeMs ?? 1000;
    let timer: NodeJS.Timeout | null = null;
    if (probeMs > 0) {
      const probing = perMember.map(() => false);
      timer = setInterval(() => {
        perMember.forEach((m, i) => {
          if (probing[i]) return;
          probing[i] = true;
          m.get(HEALTH_PROBE_KEY)
            .options({ deadline: Date.now() + probeMs })
            .exec()
            .then(
              () => (healthy[i] = true),
              // etcd checks permissions after the linearizable read: a refusal proves the quorum too.
              (err: unknown) => (healthy[i] = err instanceof EtcdPermissionDeniedError),
            )
            .finally(() => (probing[i] = false));
        });
      }, probeMs);
      timer.unref();
    }
    const close = client.close.bind(client);
    client.close = () => {
      closed = true;
      if (timer) clearInterval(timer);
      for (const m of perMember) m.close();
      close();
    };
  }
  return client;
}
