// The reference the proxy's own parsing is held to: llhttp, exactly as node's HTTP server runs it
// (the same binding, strict mode, the same header size limit). `frameRequests` tells how llhttp
// frames a byte string into requests; `frameResponse` how it frames one response.


interface ParserBinding {
  methods: string[];
  allMethods: string[];
  HTTPParser: {
    new (): Record<number, unknown> & { initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void; execute(b: Buffer): number | (Error & { code: string; bytesParsed: number }); finish(): number | (Error & { code: string }) };
    REQUEST: number;
    RESPONSE: number;
    kOnMessageBegin: number;
    kOnHeaders: number;
    kOnHeadersComplete: number;
    kOnBody: number;
    kOnMessageComplete: number;
    kOnExecute: number;
  };
}

// process.binding warns once (DEP0111); the binding is what node:http itself uses.
const quiet = process.noDeprecation;
process.noDeprecation = true;
const binding = (process as unknown as { binding(name: string): ParserBinding }).binding('http_parser');
process.noDeprecation = quiet;
const { HTTPParser } = binding;

/** One request as llhttp framed it. */
export interface FramedRequest {
  method: string;
  url: string;
  version: string;
  /** node's flat [name, value, ...] list, values without surrounding SP/HTAB. */
  rawHeaders: string[];
  body: Buffer;
  /** The connection stays open after this request's response (llhttp's should_keep_alive). */
  keepAlive: boolean;
  upgrade: boolean;
}

/** How a byte string ends: after a whole request, inside one (head or body), or in a parse error. */
export type FrameEnd =
  | { kind: 'clean' }
  | { kind: 'partial'; inBody: boolean; head: FramedRequest | null }
  | { kind: 'error'; code: string; inBody: boolean; head: FramedRequest | null }
  | { kind: 'upgrade' };

export interface Framing {
  requests: FramedRequest[];
  end: FrameEnd;
}

/** Frames `bytes` as node's HTTP server would (maxHeaderSize as given, no lenient flags). */
export function frameRequests(bytes: Buffer, maxHeaderSize = 16 * 1024): Framing {
  const p = new HTTPParser();
  const requests: FramedRequest[] = [];
  let current: FramedRequest | null = null;
  let pendingHeaders: string[] = [];
  let pendingUrl = '';
  let inMessage = false;
  let headersDone = false;
  let bodyParts: Buffer[] = [];
  let upgrade = false;
  p[HTTPParser.kOnMessageBegin] = () => {
    inMessage = true;
    headersDone = false;
    pendingHeaders = [];
    pendingUrl = '';
    bodyParts = [];
  };
  p[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
    if (!headersDone) {
      pendingHeaders.push(...headers);
      pendingUrl += url;
    }
  };
  p[HTTPParser.kOnHeadersComplete] = (major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined, _s: number, _m: string, up: boolean, keepAlive: boolean) => {
    headersDone = true;
    current = {
      method: binding.allMethods[method] ?? String(method),
      url: pendingUrl + (url ?? ''),
      version: `${major}.${minor}`,
      rawHeaders: [...pendingHeaders, ...(headers ?? [])],
      body: Buffer.alloc(0),
      keepAlive,
      upgrade: up,
    };
    if (up) upgrade = true;
    return 0;
  };
  p[HTTPParser.kOnBody] = (b: Buffer) => {
    bodyParts.push(Buffer.from(b));
  };
  p[HTTPParser.kOnMessageComplete] = () => {
    inMessage = false;
    current!.body = Buffer.concat(bodyParts);
    requests.push(current!);
    current = null;
  };
  p[HTTPParser.kOnExecute] = () => undefined;
  p.initialize(HTTPParser.REQUEST, {}, maxHeaderSize, 0);
  const r = p.execute(bytes);
  if (upgrade) return { requests, end: { kind: 'upgrade' } };
  // The request whose body the bytes end in (or break in): its head was whole.
  const open: FramedRequest | null = headersDone && inMessage ? current : null;
  if (r instanceof Error) return { requests, end: { kind: 'error', code: r.code, inBody: open !== null, head: open } };
  if (inMessage) return { requests, end: { kind: 'partial', inBody: open !== null, head: open } };
  return { requests, end: { kind: 'clean' } };
}

/** One response as llhttp frames it: where it ends, or that it is malformed. */
export type FramedResponse =
  | { ok: true; status: number; rawHeaders: string[]; body: Buffer; end: number; keepAlive: boolean }
  | { ok: false; code: string }
  | { ok: 'partial' };

/**
 * Frames the first final response in `bytes` (1xx skipped) as node's HTTP client would; `head`
 * for a response to HEAD; `eof` when the connection closes after `bytes` (ending a response
 * read until the close).
 */
export function frameResponse(bytes: Buffer, head = false, eof = false): FramedResponse {
  const p = new HTTPParser();
  let status = 0;
  let rawHeaders: string[] = [];
  let keepAlive = false;
  const body: Buffer[] = [];
  let done = false;
  p[HTTPParser.kOnHeaders] = (headers: string[]) => rawHeaders.push(...headers);
  p[HTTPParser.kOnHeadersComplete] = (_ma: number, _mi: number, headers: string[] | undefined, _m: number, _u: string, s: number, _sm: string, _up: boolean, ka: boolean) => {
    status = s;
    rawHeaders = [...rawHeaders, ...(headers ?? [])];
    keepAlive = ka;
    return head || s < 200 ? 1 : 0;
  };
  p[HTTPParser.kOnBody] = (b: Buffer) => {
    if (status >= 200) body.push(Buffer.from(b));
  };
  p[HTTPParser.kOnMessageComplete] = () => {
    if (status >= 200) done = true;
    else rawHeaders = [];
  };
  p[HTTPParser.kOnExecute] = () => undefined;
  p.initialize(HTTPParser.RESPONSE, {}, 64 * 1024, 0);
  // Feed byte by byte until the final response completes, to learn where it ends.
  for (let i = 0; i < bytes.length; i++) {
    const r = p.execute(bytes.subarray(i, i + 1));
    if (r instanceof Error) return { ok: false, code: r.code };
    if (done) return { ok: true, status, rawHeaders, body: Buffer.concat(body), end: i + 1, keepAlive };
  }
  if (eof) {
    const r = p.finish();
    if (r instanceof Error) return { ok: false, code: r.code };
    if (done) return { ok: true, status, rawHeaders, body: Buffer.concat(body), end: bytes.length, keepAlive };
  }
  return { ok: 'partial' };
}
