// The one place an etcd client is built. Everything else in the project receives an `Etcd3`.
import { readFileSync } from 'node:fs';
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, isBrokenCircuitError, retry } from 'cockatiel';
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';

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
  /** Deadline of every unary call in ms (streams have none). Default 5000. */
  callTimeoutMs?: number;
}

/** A backoff for watch-stream reconnects: 100 ms doubling to 1 s, so a restarted member costs ~1 s, not 30. */
function watchBackoff(ms = 100): { duration: number; next(): ReturnType<typeof watchBackoff> } {
  return { duration: ms, next: () => watchBackoff(Math.min(ms * 2, 1000)) };
}

export function hostUrl(host: string, tls: boolean): string {
  if (/^https?:\/\//.test(host)) return host;
  return `${tls ? 'https' : 'http'}://${host}`;
}

export function connectEtcd(opts: ConnectOptions): Etcd3 {
  if (opts.hostList.length === 0) throw new Error('connectEtcd: empty etcd host list');
  const tls = opts.tls;
  const callTimeoutMs = opts.callTimeoutMs ?? 5000;
  const options: IOptions = {
    hosts: opts.hostList.map((h) => hostUrl(h, Boolean(tls))),
    dialTimeout: 3000,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    // etcd3's defaults keep a failed member out for 5 s and give up once every member's breaker
    // is open; after a member restart that turns into seconds of errors. Re-probe after 300 ms
    // and retry with a short backoff instead.
    faultHandling: {
      host: () =>
        circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 300, breaker: new ConsecutiveBreaker(3) }),
      global: retry(
        handleWhen((err) => isRecoverableError(err) || isBrokenCircuitError(err)),
        { maxAttempts: 5, backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }) },
      ),
      watchBackoff: watchBackoff() as never,
    },
  };
  if (tls) {
    options.credentials = {
      rootCertificate: readFileSync(tls.ca_file),
      certChain: readFileSync(tls.cert_file),
      privateKey: readFileSync(tls.key_file),
    };
  }
  return new Etcd3(options);
}
