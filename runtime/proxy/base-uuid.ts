// Where a request's base lives (docs/proxy.md, Routing): a UUID-shaped path segment after
// `/dtables/`, else the `dtable_uuid` query parameter (socket.io), else the `X-Dtable-Uuid`
// header. Pure and allocation-light: it runs once per proxied request, so it answers with a number
// instead of an object.
import { isBaseUuid } from '../cluster/buckets.ts';
import { trimOws } from './request-policy.ts';

/** No base uuid anywhere: the request may go to any live node. */
export const NO_BASE = -1;
/** Not an origin-form path, or one with dot segments, backslashes or control characters. */
export const BAD_PATH = -2;
/** A base uuid was given but is neither the dashed nor the plain form. */
export const BAD_UUID = -3;

export type RouteKey = number;

const DTABLES = '/dtables/';
const QUERY_KEY = 'dtable_uuid=';

/** Bucket index 0..255 of the request's base, or NO_BASE, BAD_PATH, BAD_UUID. */
export function routeKey(url: string, uuidHeader: string | string[] | undefined): RouteKey {
  if (url.charCodeAt(0) !== 47 /* / */) return BAD_PATH;
  const q = url.indexOf('?');
  const pathEnd = q < 0 ? url.length : q;
  if (!isCleanPath(url, pathEnd)) return BAD_PATH;

  // Percent-encoded unreserved characters mean the same as the characters (RFC 3986 section
  // 6.2.2.2), and a node's router decodes them: route by the path as the node will read it.
  const pct = url.indexOf('%');
  const path = pct >= 0 && pct < pathEnd ? decodeUnreserved(url.slice(0, pathEnd)) : url;
  const end0 = path === url ? pathEnd : path.length;
  const d = path.indexOf(DTABLES);
  if (d >= 0 && d < end0) {
    const start = d + DTABLES.length;
    let end = path.indexOf('/', start);
    if (end < 0 || end > end0) end = end0;
    // `/dtables/` with nothing after it is a listing, not a base.
    if (end > start) return bucketOfSegment(path.slice(start, end));
  }
  if (q >= 0) {
    const v = queryValue(url, q, QUERY_KEY);
    if (v !== null) return bucketOfSegment(v);
  }
  if (uuidHeader !== undefined) {
    return bucketOfSegment(typeof uuidHeader === 'string' ? trimOws(uuidHeader) : trimOws(uuidHeader[0] ?? ''));
  }
  return NO_BASE;
}

function bucketOfSegment(s: string): RouteKey {
  if (!isBaseUuid(s)) return BAD_UUID;
  return (hexDigit(s.charCodeAt(0)) << 4) | hexDigit(s.charCodeAt(1));
}

function hexDigit(c: number): number {
  if (c <= 57) return c - 48; // 0-9
  return (c | 0x20) - 87; // a-f, A-F
}

/** The decoded value of `key` (which ends in `=`) in the query string starting at `q` ('?'), or null. */
export function queryValue(url: string, q: number, key: string): string | null {
  let i = q + 1;
  while (i < url.length) {
    let amp = url.indexOf('&', i);
    if (amp < 0) amp = url.length;
    if (url.startsWith(key, i)) {
      const raw = url.slice(i + key.length, amp);
      if (raw.indexOf('%') < 0 && raw.indexOf('+') < 0) return raw;
      try {
        return decodeURIComponent(raw.replaceAll('+', ' '));
      } catch {
        return raw; // malformed escapes: isBaseUuid rejects it
      }
    }
    i = amp + 1;
  }
  return null;
}

/**
 * Rejects paths a well-behaved client never sends and a node must never see: dot segments (also
 * percent-encoded), backslashes, and bytes outside printable ASCII.
 */
function isCleanPath(url: string, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const c = url.charCodeAt(i);
    if (c <= 32 || c >= 127 || c === 92 /* \ */) return false;
    if ((c === 46 /* . */ || c === 37) /* % */ && url.charCodeAt(i - 1) === 47 && isDotSegment(url, i, end)) return false;
  }
  return true;
}

function isDotSegment(url: string, i: number, end: number): boolean {
  // any mix of "." and "%2e" forming "." or ".." as a whole segment
  let dots = 0;
  let j = i;
  while (j < end && url.charCodeAt(j) !== 47) {
    if (url.charCodeAt(j) === 46) j += 1;
    else if (url.charCodeAt(j) === 37 && url.charCodeAt(j + 1) === 50 && (url.charCodeAt(j + 2) | 0x20) === 101) j += 3;
    else return false;
    dots += 1;
    if (dots > 2) return false;
  }
  return dots > 0;
}

/** `path` with every %XX that encodes an unreserved character (ALPHA, DIGIT, -, ., _, ~) decoded. */
function decodeUnreserved(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (m, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return /[A-Za-z0-9\-._~]/.test(c) ? c : m;
  });
}
