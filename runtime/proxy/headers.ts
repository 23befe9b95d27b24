// Header handling at the proxy boundary: hop-by-hop headers (RFC 9110 section 7.6.1 plus the
// classic RFC 2616 list and any header the Connection header names) never cross it; the upstream
// request gets X-Forwarded-For/-Proto/-Host. Works on node's flat rawHeaders arrays so the hot
// path never builds header objects.
import { trimOws } from './request-policy.ts';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** Request headers the proxy sets itself (or undici cannot forward). */
const REPLACED_ON_REQUEST = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'expect']);

export function isHopByHop(lowerName: string): boolean {
  return HOP_BY_HOP.has(lowerName);
}

/** Lowercased header names listed in a Connection header value, or null when there are none beyond the usual. */
function connectionListed(value: string | undefined): Set<string> | null {
  if (!value) return null;
  let out: Set<string> | null = null;
  for (const token of value.split(',')) {
    const t = trimOws(token).toLowerCase();
    if (t === '' || t === 'close' || t === 'keep-alive' || t === 'upgrade') continue;
    (out ??= new Set()).add(t);
  }
  return out;
}

export interface ForwardedFrom {
  /** The client's address as the proxy saw it. */
  remoteAddress: string | undefined;
  /** `https` when the proxy's own listener is TLS. */
  proto: string;
}

/**
 * The flat header list to send upstream for a request with `raw` (node's rawHeaders).
 * `keepUpgrade` keeps Connection/Upgrade, for WebSocket handshakes piped at the socket level.
 * `hostOverride` replaces the Host value (the authority of an absolute-form target).
 */
export function upstreamRequestHeaders(raw: readonly string[], from: ForwardedFrom, keepUpgrade = false, hostOverride: string | null = null): string[] {
  const out: string[] = [];
  let xff: string | undefined;
  let proto: string | undefined;
  let fwdHost: string | undefined;
  let host: string | undefined;
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    // Every Connection field counts (RFC 9110 section 5.3: repeated fields form one list).
    if (lower === 'connection') connection = connection === undefined ? raw[i + 1] : `${connection}, ${raw[i + 1]}`;
  }
  const listed = connectionListed(connection);
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (REPLACED_ON_REQUEST.has(lower)) {
      if (lower === 'x-forwarded-for') xff = xff === undefined ? value : `${xff}, ${value}`;
      else if (lower === 'x-forwarded-proto') proto ??= value;
      else if (lower === 'x-forwarded-host') fwdHost ??= value;
      continue;
    }
    if (HOP_BY_HOP.has(lower)) {
      if (keepUpgrade && (lower === 'connection' || lower === 'upgrade')) out.push(name, value);
      continue;
    }
    if (listed?.has(lower)) continue;
    if (lower === 'host') {
      host = hostOverride ?? value;
      out.push(name, host);
      continue;
    }
    out.push(name, value);
  }
  if (hostOverride !== null && host === undefined) {
    host = hostOverride;
    out.push('host', host);
  }
  const client = from.remoteAddress ?? 'unknown';
  out.push('x-forwarded-for', xff === undefined ? client : `${xff}, ${client}`);
  out.push('x-forwarded-proto', proto ?? from.proto);
  if (fwdHost !== undefined || host !== undefined) out.push('x-forwarded-host', (fwdHost ?? host)!);
  return out;
}

/**
 * The flat header list to send to the client for an upstream response (undici's raw Buffer[] pairs).
 * Node's ServerResponse adds its own framing (content-length is kept, chunked encoding is redone).
 * `noContent` (1xx, 204) also drops Content-Length, which those may not carry (RFC 9110 section 8.6).
 */
export function clientResponseHeaders(raw: readonly Buffer[] | readonly string[], noContent = false): string[] {
  const out: string[] = [];
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && latin1(raw[i]!).toLowerCase() === 'connection') connection = connection === undefined ? latin1(raw[i + 1]!) : `${connection}, ${latin1(raw[i + 1]!)}`;
  }
  const listed = connectionListed(connection);
  for (let i = 0; i < raw.length; i += 2) {
    const name = latin1(raw[i]!);
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed?.has(lower) || (noContent && lower === 'content-length')) continue;
    out.push(name, latin1(raw[i + 1]!));
  }
  return out;
}

function latin1(b: Buffer | string): string {
  return typeof b === 'string' ? b : b.toString('latin1');
}

/**
 * `lines` (CRLF-terminated header lines) without the headers named in `listed` (lowercase).
 * Linear in lines plus names: a Connection header listing thousands of names costs what the same
 * bytes cost in any other field (a list searched per line made a 14 KB head cost 10 ms).
 */
export function dropListed(lines: string, listed: readonly string[]): string {
  const names = new Set(listed);
  let out = '';
  for (const line of lines.split('\r\n')) {
    if (line === '') continue;
    if (!names.has(line.slice(0, line.indexOf(':')).toLowerCase())) out += `${line}\r\n`;
  }
  return out;
}

/**
 * Interim (1xx) responses a node may send before its final response to one request; past this it
 * is broken or hostile and the request fails as a bad gateway (502). RFC 9110 section 15.2 sets no
 * limit; a proxy that relays them must, or an endless stream of them (each resetting the response
 * timer) fills its memory for a client that does not read. Real servers send one or two (100, 103).
 */
export const MAX_INTERIM_RESPONSES = 32;
