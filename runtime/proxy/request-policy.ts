// What the proxy accepts of a request head, whichever wire path parsed it (RFC 9110, RFC 9112).
// Both the raw fast path (raw-engine.ts) and the node:http path (forward.ts, websocket.ts) ask
// these functions, so a rule lives once. Pure: no I/O.
import { METHODS } from 'node:http';

/** SP and HTAB only: optional whitespace around field values (RFC 9110 section 5.6.3). */
export function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a += 1;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b -= 1;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/**
 * A Content-Length field value (the bytes after the colon) as llhttp reads it: SP and HTAB before
 * 1*DIGIT, only SP after (a trailing HTAB is HPE_INVALID_CONTENT_LENGTH; RFC 9110 section 8.6 is
 * looser, llhttp is the reference every client and node here parses with). The length, or -1
 * when the value is not of that form or has more than `maxDigits` digits.
 */
export function contentLengthValue(raw: string, maxDigits: number): number {
  let i = 0;
  const n = raw.length;
  while (i < n && (raw.charCodeAt(i) === 32 || raw.charCodeAt(i) === 9)) i += 1;
  const start = i;
  let value = 0;
  while (i < n) {
    const c = raw.charCodeAt(i);
    if (c < 48 || c > 57) break;
    value = value * 10 + (c - 48);
    i += 1;
  }
  const digits = i - start;
  if (digits === 0 || digits > maxDigits) return -1;
  while (i < n && raw.charCodeAt(i) === 32) i += 1;
  return i === n ? value : -1;
}

/**
 * Whether a field value's trailing whitespace holds an HTAB. llhttp trims only SP after a framing
 * value: `chunked<HTAB>` is not chunked to it (the body then runs until the close), and a proxy
 * that trimmed the HTAB would frame the message differently from its client (a desync).
 */
export function tabAtEnd(raw: string): boolean {
  let i = raw.length - 1;
  while (i >= 0 && raw.charCodeAt(i) === 32) i -= 1;
  return i >= 0 && raw.charCodeAt(i) === 9;
}

/** Bytes a field line may hold (field-content, RFC 9110 section 5.5): HTAB, visible ASCII, obs-text. */
const FIELD_BYTES = '\\t\\x20-\\x7e\\x80-\\xff';
/** tchar (RFC 9110 section 5.6.2). */
const TCHARS = "!#$%&'*+\\-.^_`|~0-9A-Za-z";

const HEAD_BYTES = new RegExp(`^(?:[${FIELD_BYTES}]*\\r\\n)*[${FIELD_BYTES}]*$`);

/**
 * Whether a head's text (latin1, without its final empty line) holds only lines of field-content
 * bytes joined by CRLF: no control but HTAB, no DEL, no CR without LF after it, no LF without CR
 * before it (RFC 9112 section 2.2, RFC 9110 section 5.5). One anchored pass: the text either
 * matches whole or not, about 2.5 times faster than searching for a bad byte with lookarounds
 * (a 166-byte response head: 111 against 289 ns), and linear in the worst case (its classes hold
 * no CR, so a failed line is never tried twice).
 */
export function headBytesOk(text: string): boolean {
  return HEAD_BYTES.test(text);
}

/**
 * A request head without its final CRLF CRLF (latin1) whose bytes pass headBytesOk and whose
 * every line after the first is a field line: a token, a colon at once (no whitespace before it,
 * no obs-fold: RFC 9112 section 5.1, 5.2), then field-content bytes. The first line's own grammar
 * is the parser's to check. One pass instead of a byte check plus a token test per field name.
 */
export const REQUEST_HEAD_LINES = new RegExp(`^[${FIELD_BYTES}]*(?:\\r\\n[${TCHARS}]+:[${FIELD_BYTES}]*)*$`);

/**
 * A response head through the CRLF of its last field line (latin1): a status-line (RFC 9112
 * section 4: HTTP/1.0 or HTTP/1.1, three digits, then SP and a reason of field-content bytes, or
 * nothing) and field lines as in REQUEST_HEAD_LINES, each ending in CRLF.
 */
export const RESPONSE_HEAD_LINES = new RegExp(`^HTTP/1\\.[01] [1-9]\\d\\d(?: [${FIELD_BYTES}]*)?\\r\\n(?:[${TCHARS}]+:[${FIELD_BYTES}]*\\r\\n)*$`);

/** tchar (RFC 9110 section 5.6.2). */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Methods a proxy may re-send after the request may have reached the node (RFC 9110 section
 * 9.2.2: safe methods plus PUT and DELETE). Any other request is re-sent only when the node
 * provably did not process it: a failed connect, or a 421 (RFC 9110 section 15.5.20).
 */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}

interface ConnectionOptions {
  readonly close: boolean;
  readonly upgrade: boolean;
  readonly listed: readonly string[];
}

/** Connection values nearly every message carries, read once (the results are shared: read only). */
const COMMON_CONNECTION = new Map<string, ConnectionOptions>(
  [' keep-alive', ' Keep-Alive', ' close', ' Close', 'keep-alive', 'close'].map((v) => {
    const close = v.trim().toLowerCase() === 'close';
    return [v, Object.freeze({ close, upgrade: false, listed: Object.freeze([]) as readonly string[] })];
  }),
);

/** Header names a Connection header may not list: dropping them would change the message's framing or routing. */
const NOT_HOP_BY_HOP = new Set(['content-length', 'transfer-encoding', 'host']);

/**
 * Reads a Connection header value (RFC 9110 section 7.6.1: `#token`): `close` set when it asks
 * for the connection to close; `listed` the other option names, lowercased (`keep-alive` and
 * `upgrade` left out); null when the value is not a token list or names a framing header
 * (Content-Length, Transfer-Encoding, Host), which the proxy refuses rather than drop.
 */
export function readConnection(value: string): ConnectionOptions | null {
  const common = COMMON_CONNECTION.get(value);
  if (common !== undefined) return common;
  let close = false;
  let upgrade = false;
  const listed: string[] = [];
  for (const part of value.split(',')) {
    const t = trimOws(part).toLowerCase();
    if (t === '') continue;
    if (!TOKEN.test(t) || NOT_HOP_BY_HOP.has(t)) return null;
    if (t === 'close') close = true;
    else if (t === 'upgrade') upgrade = true;
    else if (t !== 'keep-alive') listed.push(t);
  }
  return { close, upgrade, listed };
}

/**
 * A valid Host field value: `uri-host [ ":" port ]` (RFC 9112 section 3.2, RFC 3986 section
 * 3.2.2), possibly empty. A server answers 400 to anything else.
 */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|\[v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?$/;

export function isValidHost(value: string): boolean {
  return HOST.test(value);
}

/**
 * The origin-form of an absolute-form request target (RFC 9112 section 3.2.2): `path` (with its
 * query, `/` when empty) and `authority`, which replaces Host. Null when `target` is not an
 * http(s) absolute URI with an authority.
 */
export function absoluteForm(target: string): { path: string; authority: string } | null {
  const m = /^https?:\/\/([^/?#]*)([^#]*)$/i.exec(target);
  if (m === null) return null;
  const authority = m[1]!;
  const rest = m[2]!;
  if (authority.includes('@') || !isValidHost(authority)) return null;
  return { authority, path: rest === '' ? '/' : rest.startsWith('?') ? `/${rest}` : rest };
}

/** Why a request head is refused with 400 before routing (the connection is closed after the answer). */
export type Refusal = 'bad_host' | 'bad_connection' | 'bad_method';

/** HTTP methods llhttp knows; the rest it accepts only in RTSP requests, which the proxy does not serve. */
const HTTP_METHODS = new Set(METHODS);

/** An admitted head: the origin-form target to route and forward, and the Host to send (null: as received). */
export interface Admitted {
  url: string;
  host: string | null;
}

/**
 * Checks a head node's parser (llhttp) has framed: an HTTP method (not RTSP); one valid Host (none allowed for HTTP/1.0),
 * RFC 9112 section 3.2; a Connection list of tokens that names no framing header; an
 * absolute-form target turned into origin-form with its authority as Host (section 3.2.2).
 * `rawHeaders` is node's flat [name, value, ...] list.
 */
export function admitHead(method: string, url: string, httpVersion: string, rawHeaders: readonly string[]): Admitted | Refusal {
  if (!HTTP_METHODS.has(method)) return 'bad_method';
  let hosts = 0;
  let host = '';
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') {
      hosts += 1;
      host = rawHeaders[i + 1]!;
    } else if (name.length === 10 && name.toLowerCase() === 'connection' && readConnection(rawHeaders[i + 1]!) === null) {
      return 'bad_connection';
    }
  }
  if (hosts > 1 || (hosts === 0 && httpVersion !== '1.0') || !isValidHost(host)) return 'bad_host';
  const abs = url.charCodeAt(0) === 47 /* / */ ? null : absoluteForm(url);
  if (abs === null) return { url, host: null };
  return { url: abs.path, host: abs.authority };
}
