// Generated request byte strings for the differential suite: valid heads first, then mutations of
// names, values, every byte class, CL/TE combinations, Connection lists, whitespace, line ends,
// pipelining and bodies in pieces.
import fc from 'fast-check';

const UUID = '5e5c6ad2-1111-4222-8333-444455556666';
const UUIDS = [UUID, UUID.replaceAll('-', ''), UUID.toUpperCase(), 'a1b2c3d4-0000-4000-8000-000000000001', 'not-a-uuid', '5e5c6ad2'];

const uuid = fc.constantFrom(...UUIDS);
const target = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom('/', '/ping/', '/api/v1/admin/sys-info/', '/api/v1/dtables/') },
  { weight: 4, arbitrary: uuid.map((u) => `/dtables/${u}/`) },
  { weight: 3, arbitrary: uuid.map((u) => `/api/v1/dtables/${u}/rows/?limit=1`) },
  { weight: 2, arbitrary: uuid.map((u) => `/socket.io/?dtable_uuid=${u}&EIO=4&transport=polling`) },
  { weight: 1, arbitrary: uuid.map((u) => `http://proxy.example:5550/dtables/${u}/`) },
  { weight: 1, arbitrary: fc.constantFrom('HTTP://p/x?y=1', 'https://p', 'http://u@p/', '*', 'p:443', '/a/../b', '/%2e%2E/x', '/a\\b', '/x#frag', '/\u00e9', '/a%00b', '//x', '/?dtable_uuid=') },
);
const method = fc.oneof(
  { weight: 30, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS') },
  { weight: 1, arbitrary: fc.constantFrom('PROPFIND', 'TRACE', 'get', 'G\tET', 'GET ', 'POS', 'MKCOL', 'PURGE', 'QUERY') },
);
const version = fc.oneof({ weight: 40, arbitrary: fc.constant('HTTP/1.1') }, { weight: 5, arbitrary: fc.constant('HTTP/1.0') }, { weight: 1, arbitrary: fc.constantFrom('HTTP/2.0', 'HTTP/1.2', 'HTTP/1.10', 'http/1.1', 'HTTP/1.1 ', 'HTTP/1', 'HTTP/0.9') });

/** Bytes of every class a head can hold, the awkward ones over-represented. */
const ODD = ['\t', ' ', '\xa0', '\x7f', '\x00', '\x01', '\x0b', '\x0c', '\r', '\n', ',', ';', '"', ':', '=', '\x80', '\xff', '\xe9', 'a', 'Z', '0', '9', '-', '_', '.', '/', '@', '[', ']', '\\', '%'];
const oddString = fc.array(fc.constantFrom(...ODD), { maxLength: 6 }).map((a) => a.join(''));

const NAMES: Record<string, fc.Arbitrary<string>> = {
  host: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('p', 'p:5550', 'proxy.example') }, { weight: 1, arbitrary: fc.constantFrom('', 'a b', 'x@y', '[::1]:80', 'p:abc', '\xe9', 'p,q', 'p/x', 'p\xa0') }),
  'content-length': fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 12 }).map(String) }, { weight: 2, arbitrary: fc.constantFrom('+5', '-1', '5 ', '\t5', '5\xa0', '\xa05', '0x5', '1e2', '', '5, 5', '5,5', '99999999999', '005', '3 3', '5\t', '5 \t', '5\t ') }),
  'transfer-encoding': fc.constantFrom('chunked', 'Chunked', 'gzip, chunked', 'chunked, gzip', 'identity', 'chunked\xa0', ' chunked', 'chunked,', 'chunked, chunked', 'x', 'chunked\t', 'gzip,\tchunked'),
  connection: fc.constantFrom('close', 'keep-alive', 'Keep-Alive', 'content-length', 'Content-Length', 'host', 'transfer-encoding', 'x-foo', 'keep-alive, x-foo', 'close, te', 'x-dtable-uuid', 'a b', ',', 'x-foo,,close', 'authorization', 'x-forwarded-for', 'te\xa0', 'Close', 'close\t', '\tclose', 'close\t,x-foo', 'x-foo,\tclose'),
  'x-dtable-uuid': uuid,
  'x-forwarded-for': fc.constantFrom('1.1.1.1', '2.2.2.2, 3.3.3.3', ''),
  'x-forwarded-proto': fc.constantFrom('https', 'http'),
  'x-forwarded-host': fc.constantFrom('public.example', ''),
  expect: fc.constantFrom('100-continue', '100-Continue', 'nope'),
  'keep-alive': fc.constantFrom('timeout=5', 'x'),
  te: fc.constantFrom('trailers', 'gzip'),
  trailer: fc.constantFrom('x-t'),
  'proxy-connection': fc.constantFrom('keep-alive', 'close', 'Close', 'x-foo, close', 'close\t', 'upgrade', 'a b'),
  authorization: fc.constantFrom('Token secret-of-this-client', 'Bearer x'),
  'x-foo': fc.oneof({ weight: 8, arbitrary: fc.constantFrom('bar', 'a, b', '') }, { weight: 8, arbitrary: oddString }, { weight: 1, arbitrary: fc.constantFrom(1000, 3000, 5000, 17_000).map((n) => 'v'.repeat(n)) }),
  cookie: fc.constantFrom('a=1; b=2'),
};
const CASINGS = (n: string) => fc.constantFrom(n, n.toUpperCase(), n.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase()));

const header = fc.constantFrom(...Object.keys(NAMES)).chain((n) => fc.tuple(CASINGS(n), NAMES[n]!));
const separator = fc.oneof({ weight: 40, arbitrary: fc.constant(': ') }, { weight: 8, arbitrary: fc.constant(':') }, { weight: 1, arbitrary: fc.constantFrom(':  ', ':\t', ' : ', ' :', '\t:', ': \t') });
const lineEnd = fc.oneof({ weight: 120, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: fc.constantFrom('\n', '\r', '\r\r\n', '\n\r') });
const obsFold = fc.constantFrom('\r\n continued', '\r\n\tmore');

/** A chunked body: well-formed mostly, with the classic framing faults sometimes. */
const chunkedBody = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom('3\r\nabc\r\n0\r\n\r\n', '0\r\n\r\n', '5;ext=1\r\nhello\r\n0\r\n\r\n', '3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n', 'a\r\n0123456789\r\n2\r\nxy\r\n0\r\n\r\n') },
  { weight: 1, arbitrary: fc.constantFrom('3\nabc\n0\n\n', '3 \r\nabc\r\n0\r\n\r\n', '3\r\nabcd\r\n0\r\n\r\n', '-1\r\n', '3\r\nabc', 'g\r\n', '0\r\n', '3\r\nabc\r\n0\r\n\r', 'ffffffffffffffffff\r\n', '3\r\nabc\r\n0\r\nX-T 1\r\n\r\n') },
);

export interface GeneratedCase {
  /** The byte string the client sends. */
  bytes: Buffer;
  /** Where it is cut into writes. */
  cuts: number[];
}

interface Head {
  method: string;
  target: string;
  version: string;
  headers: Array<[string, string]>;
  seps: string[];
  /** Whitespace after each value (llhttp trims SP and HTAB from most values, only SP from framing ones). */
  trails: string[];
  ends: string[];
  fold: number | null;
  bodyKind: 'none' | 'exact' | 'short' | 'long' | 'chunked';
  chunked: string;
  extra: string;
}

const head: fc.Arbitrary<Head> = fc.record({
  method,
  target,
  version,
  headers: fc.array(header, { minLength: 0, maxLength: 6 }),
  seps: fc.array(separator, { minLength: 8, maxLength: 8 }),
  trails: fc.array(fc.oneof({ weight: 12, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom(' ', '\t', ' \t', '\t ') }), { minLength: 8, maxLength: 8 }),
  ends: fc.array(lineEnd, { minLength: 9, maxLength: 9 }),
  fold: fc.oneof({ weight: 20, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat(7) }),
  bodyKind: fc.constantFrom('none', 'exact', 'exact', 'exact', 'short', 'long', 'chunked'),
  chunked: chunkedBody,
  extra: fc.constantFrom('', 'xyz', '\r\n'),
});

function render(h: Head, foldText: string): string {
  // Most requests carry exactly one Host: a head without one is refused before anything else is looked at.
  const headers = h.headers.some(([n]) => n.toLowerCase() === 'host') || h.headers.length > 4 ? h.headers : ([['Host', 'p'], ...h.headers] as Array<[string, string]>);
  let text = `${h.method} ${h.target} ${h.version}${h.ends[0]}`;
  headers.forEach(([n, v], i) => {
    text += `${n}${h.seps[i % 8]}${v}${h.trails[i % 8]}${h.fold === i ? foldText : ''}${h.ends[(i + 1) % 9]}`;
  });
  let body = '';
  const cl = headers.find(([n]) => n.toLowerCase() === 'content-length');
  const te = headers.some(([n]) => n.toLowerCase() === 'transfer-encoding');
  if (h.bodyKind === 'chunked' || (te && h.bodyKind !== 'none')) body = h.chunked;
  else if (cl && /^\d+$/.test(cl[1].trim())) {
    const n = Number(cl[1].trim());
    const len = h.bodyKind === 'short' ? Math.max(0, n - 1) : h.bodyKind === 'long' ? n + 1 : h.bodyKind === 'none' ? 0 : n;
    body = 'b'.repeat(Math.min(len, 64));
  } else if (h.bodyKind === 'long') body = h.extra;
  return `${text}\r\n${body}`;
}

/** A byte-level mutation: insert, replace or delete one byte at a position (taken modulo the length). */
const mutation = fc.record({ at: fc.nat(), op: fc.constantFrom('insert', 'replace', 'delete'), byte: fc.constantFrom(...ODD) });

export const requestCase: fc.Arbitrary<GeneratedCase> = fc
  .record({
    heads: fc.array(fc.tuple(head, obsFold), { minLength: 1, maxLength: 5 }),
    mutations: fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 2 }) }),
    cuts: fc.array(fc.nat(), { maxLength: 4 }),
    leading: fc.constantFrom('', '', '', '\r\n'),
  })
  .map(({ heads, mutations, cuts, leading }) => {
    let text = leading + heads.map(([h, f]) => render(h, f)).join('');
    for (const m of mutations) {
      const at = m.at % (text.length + 1);
      if (m.op === 'insert') text = text.slice(0, at) + m.byte + text.slice(at);
      else if (m.op === 'replace') text = text.slice(0, at) + m.byte + text.slice(at + 1);
      else text = text.slice(0, at) + text.slice(at + 1);
    }
    const bytes = Buffer.from(text, 'latin1');
    return { bytes, cuts: [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b) };
  });

/** The case's bytes cut into writes. */
export function pieces(c: GeneratedCase): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of c.cuts) {
    if (cut > from) out.push(c.bytes.subarray(from, cut));
    from = Math.max(from, cut);
  }
  if (from < c.bytes.length || out.length === 0) out.push(c.bytes.subarray(from));
  return out;
}
