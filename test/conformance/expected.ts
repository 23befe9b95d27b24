// What the proxy must do with the requests llhttp frames from a byte string, written from the
// RFCs and the routing rules of docs/proxy.md independently of the proxy's code: which answer each request gets,
// whether the connection stays open, and exactly what reaches the node.
import { METHODS } from 'node:http';
import { isBaseUuid } from '../../runtime/cluster/buckets.ts';
import type { FramedRequest, Framing } from './llhttp.ts';

/** A request as the node must receive it: lowercased names, values as node's parser gives them. */
export interface Forwarded {
  method: string;
  url: string;
  headers: Array<[string, string]>;
  body: Buffer;
}

export interface Expected {
  /** Statuses in order, interim ones included (the proxy's answer or the node's 200). */
  statuses: number[];
  /** The requests that reach the node, in order. */
  forwarded: Forwarded[];
  /** After the answers: the connection stays open (clean end), is closed by the proxy, or waits for more bytes. */
  after: 'open' | 'close' | 'partial';
  /** How many final answers (not 1xx) the client reads before `after` applies; the i-th answers a HEAD when heads[i]. */
  heads: boolean[];
  /** The framing ended in a head llhttp refused: one more 400 or 431 before the close. */
  errorAnswer: number | null;
  /**
   * The bytes end (or break) inside the body of a request whose head was whole: the answers the
   * proxy may give from that head alone before the end (a refusal, or a 100 Continue when it
   * forwards it).
   */
  openHeadAnswers: number[];
  /** That request is a HEAD (its answers carry no body). */
  openHeadIsHead: boolean;
}

type Decision = { answer: number; close: boolean; interim: number[] } | { forward: Forwarded; interim: number[] };

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings']);
const SET_BY_PROXY = new Set(['expect', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);
/** Names the comparison leaves out: framing (bodies are compared instead) and hop-by-hop headers a sender adds. */
export const NOT_COMPARED = new Set(['connection', 'keep-alive', 'content-length', 'transfer-encoding']);
const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?$/;
const CLIENT = '127.0.0.1';

function values(r: FramedRequest, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < r.rawHeaders.length; i += 2) if (r.rawHeaders[i]!.toLowerCase() === name) out.push(r.rawHeaders[i + 1]!);
  return out;
}

/** RFC 9110 section 7.6.1: #token, none of them a framing header (the proxy refuses those). */
function connectionOptions(r: FramedRequest): string[] | null {
  const out: string[] = [];
  for (const v of values(r, 'connection')) {
    for (const part of v.split(',')) {
      const t = part.replace(/^[ \t]+|[ \t]+$/g, '').toLowerCase();
      if (t === '') continue;
      if (!TCHAR.test(t) || t === 'content-length' || t === 'transfer-encoding' || t === 'host') return null;
      out.push(t);
    }
  }
  return out;
}

/** docs/proxy.md, Routing: the bucket key of a request, or 'bad' for a path or uuid the proxy refuses. */
function routable(url: string, uuidHeader: string | undefined): boolean {
  if (!url.startsWith('/')) return false;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (/[^\x21-\x7e]|\\/.test(path)) return false;
  for (const seg of path.split('/')) if (/^(?:\.|%2e){1,2}$/i.test(seg)) return false;
  const m = /\/dtables\/([^/]+)/.exec(path);
  if (m) return isBaseUuid(m[1]!);
  if (q >= 0) {
    for (const kv of url.slice(q + 1).split('&')) {
      if (kv.startsWith('dtable_uuid=')) {
        let v = kv.slice('dtable_uuid='.length);
        try {
          v = decodeURIComponent(v.replaceAll('+', ' '));
        } catch {
          /* kept raw */
        }
        return isBaseUuid(v);
      }
    }
  }
  if (uuidHeader !== undefined) return isBaseUuid(uuidHeader.replace(/^[ \t]+|[ \t]+$/g, ''));
  return true;
}

/** What the proxy does with one request from its head (node's server first, then the proxy's own rules). */
function decide(r: FramedRequest): Decision {
  const hosts = values(r, 'host');
  const interim: number[] = [];
  // node's server: an expectation other than 100-continue (RFC 9110 section 10.1.1), HTTP/1.1 only.
  const expect = values(r, 'expect');
  const expectsContinue = r.version === '1.1' && expect.length > 0;
  if (expectsContinue && !/(?:^|\W)100-continue(?:$|\W)/i.test(expect.join(', '))) return { answer: 417, close: false, interim };
  // the proxy: one valid Host, none needed in HTTP/1.0 (RFC 9112 section 3.2); a Connection list
  // of tokens naming no framing header.
  const options = connectionOptions(r);
  // llhttp also frames RTSP requests; the proxy serves HTTP methods only.
  if (!METHODS.includes(r.method)) return { answer: 400, close: true, interim };
  if (hosts.length > 1 || (hosts.length === 0 && r.version !== '1.0') || (hosts.length === 1 && !HOST.test(hosts[0]!)) || options === null) return { answer: 400, close: true, interim };
  let url = r.url;
  let host: string | undefined = hosts[0];
  const abs = /^https?:\/\/([^/?#]*)([^#]*)$/i.exec(url);
  if (abs && !abs[1]!.includes('@') && HOST.test(abs[1]!)) {
    host = abs[1]!;
    url = abs[2] === '' ? '/' : abs[2]!.startsWith('?') ? `/${abs[2]}` : abs[2]!;
  }
  const uuidHeader = values(r, 'x-dtable-uuid');
  // A request that expected 100 Continue and is refused without it: node closes the connection, the
  // client may be sending the body or not (RFC 9110 section 10.1.1).
  if (!routable(url, uuidHeader.length > 0 ? uuidHeader.join(', ') : undefined)) return { answer: 400, close: expectsContinue, interim };
  // 100 Continue only for a request that is forwarded.
  if (expectsContinue) interim.push(100);
  const listed = new Set(options);
  const headers: Array<[string, string]> = [];
  for (let i = 0; i < r.rawHeaders.length; i += 2) {
    const name = r.rawHeaders[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name) || listed.has(name) || SET_BY_PROXY.has(name) || NOT_COMPARED.has(name)) continue;
    headers.push([name, name === 'host' ? host! : r.rawHeaders[i + 1]!]);
  }
  if (hosts.length === 0 && host !== undefined) headers.push(['host', host]);
  const xff = values(r, 'x-forwarded-for');
  headers.push(['x-forwarded-for', xff.length > 0 ? `${xff.join(', ')}, ${CLIENT}` : CLIENT]);
  headers.push(['x-forwarded-proto', values(r, 'x-forwarded-proto')[0] ?? 'http']);
  const xfh = values(r, 'x-forwarded-host')[0] ?? host;
  if (xfh !== undefined) headers.push(['x-forwarded-host', xfh]);
  return { forward: { method: r.method, url, headers, body: r.body }, interim };
}

export function expectedOutcome(f: Framing): Expected {
  const e: Expected = { statuses: [], forwarded: [], after: 'open', heads: [], errorAnswer: null, openHeadAnswers: [], openHeadIsHead: false };
  for (const r of f.requests) {
    const d = decide(r);
    e.statuses.push(...d.interim);
    e.heads.push(r.method === 'HEAD');
    if ('forward' in d) {
      e.forwarded.push(d.forward);
      e.statuses.push(200);
    } else e.statuses.push(d.answer);
    if (('close' in d && d.close) || !r.keepAlive) {
      e.after = 'close';
      return e;
    }
  }
  switch (f.end.kind) {
    case 'clean':
      e.after = 'open';
      break;
    case 'partial':
    case 'error': {
      e.after = f.end.kind === 'partial' ? 'partial' : 'close';
      // A malformed head is answered; a body that breaks after its head was read cuts the connection.
      if (f.end.kind === 'error' && !f.end.inBody) e.errorAnswer = f.end.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
      if (f.end.head !== null) {
        const d = decide(f.end.head);
        e.openHeadAnswers = 'answer' in d ? [...d.interim, d.answer] : d.interim;
        e.openHeadIsHead = f.end.head.method === 'HEAD';
      }
      break;
    }
    case 'upgrade':
      throw new Error('upgrades are not framed here');
  }
  return e;
}

/** A recorded request in the form `Forwarded` uses, for comparison. */
export function asForwarded(r: { method: string; url: string; rawHeaders: string[]; body: Buffer }, keepHost: boolean): Forwarded {
  const headers: Array<[string, string]> = [];
  for (let i = 0; i < r.rawHeaders.length; i += 2) {
    const name = r.rawHeaders[i]!.toLowerCase();
    if (NOT_COMPARED.has(name) || (name === 'host' && !keepHost)) continue;
    headers.push([name, r.rawHeaders[i + 1]!]);
  }
  return { method: r.method, url: r.url, headers, body: r.body };
}
