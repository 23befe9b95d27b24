// Fuzz (fast-check) of the cluster.yaml loader: for any text, and for valid files with one value
// replaced, removed or duplicated, loadClusterText either returns a model that keeps the
// invariants everything downstream relies on, or throws ClusterConfigError with a position —
// never another error, never a model that breaks an invariant.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { ClusterConfigError, loadClusterText, MIN_LEASE_TTL, type ClusterModel } from '../../infra/model/index.ts';

const BASE = readFileSync(new URL('../fixtures/cluster/base.yaml', import.meta.url), 'utf8');
const RUNS = 300;

function load(text: string): ClusterModel | ClusterConfigError {
  try {
    return loadClusterText(text, 'cluster.yaml').model;
  } catch (err) {
    if (err instanceof ClusterConfigError) return err;
    throw err;
  }
}

const port = (p: number) => Number.isInteger(p) && p >= 1 && p <= 65535;
const unique = (xs: string[]) => new Set(xs).size === xs.length;

/** What every consumer of a loaded model assumes. */
function expectInvariants(m: ClusterModel): void {
  expect(m.nodes.length).toBeGreaterThan(0);
  expect(m.etcd.members.length).toBeGreaterThan(0);
  for (const n of m.nodes) {
    expect(n.node_id).toMatch(/^dtable-server-[a-z0-9-]*$/);
    expect(n.node_url).toMatch(/^https?:\/\//);
    expect(n.local_node_url).toMatch(/^https?:\/\//);
    expect(port(n.port)).toBe(true);
    expect(n.weight).toBeGreaterThanOrEqual(0);
  }
  expect(unique(m.nodes.map((n) => n.node_id))).toBe(true);
  expect(unique(m.etcd.members.map((e) => e.name))).toBe(true);
  for (const e of m.etcd.members) expect(port(e.client_port) && port(e.peer_port)).toBe(true);
  expect(port(m.proxy.port) && port(m.proxy.admin_port)).toBe(true);
  expect(Number.isInteger(m.lease_ttl) && m.lease_ttl >= MIN_LEASE_TTL).toBe(true);
  expect(m.key_prefix).toMatch(/^[A-Za-z0-9_./-]*$/);
  // Nothing we own may live under a SeaTable-reserved prefix.
  expect(m.key_prefix.startsWith('dtable-server-') || m.key_prefix.startsWith('assign-')).toBe(false);
  for (const env of [m.secrets.private_key_env, m.secrets.admin_token_env]) expect(env).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
}

function expectPositioned(e: ClusterConfigError): void {
  expect(e.issues.length).toBeGreaterThan(0);
  for (const i of e.issues) {
    expect(i.line).toBeGreaterThanOrEqual(1);
    expect(i.col).toBeGreaterThanOrEqual(1);
    expect(i.message.length).toBeGreaterThan(0);
  }
}

function check(text: string): void {
  const r = load(text);
  if (r instanceof ClusterConfigError) expectPositioned(r);
  else expectInvariants(r);
}

/** Paths (as key/index lists) of every scalar and collection in the base file. */
function paths(node: Node | null, at: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [at];
  if (isMap(node)) for (const p of node.items) out.push(...paths(p.value as Node, [...at, String((p.key as { value: unknown }).value)]));
  else if (isSeq(node)) node.items.forEach((v, i) => out.push(...paths(v as Node, [...at, i])));
  else if (isScalar(node)) return out;
  return out;
}
const BASE_PATHS = paths(parseDocument(BASE).contents as Node).filter((p) => p.length > 0);

const hostile = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', '~', 'null', '0', '-1', '65536', '1e309', 'NaN', '.inf', 'true', 'dtable-server-', 'assign-00', '../../etc/passwd', '${HOME}', '{{x}}', '\u0000', 'http://', 'https://[::1', '\n- x'),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
);

describe('cluster.yaml loader (fuzz)', () => {
  it('loads the base file (the mutations below start from a valid cluster)', () => {
    expectInvariants(loadClusterText(BASE, 'cluster.yaml').model);
  });

  it('throws only ClusterConfigError for arbitrary text', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 400 }), check), { numRuns: RUNS });
  });

  it('throws only ClusterConfigError for arbitrary YAML-shaped values', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => check(JSON.stringify(v))),
      { numRuns: RUNS },
    );
  });

  it('keeps every invariant or refuses with a position when one value is replaced by a hostile one', () => {
    fc.assert(
      fc.property(fc.constantFrom(...BASE_PATHS), hostile, (path, value) => {
        const doc = parseDocument(BASE);
        doc.setIn(path, value);
        check(doc.toString());
      }),
      { numRuns: RUNS },
    );
  });

  it('keeps every invariant or refuses with a position when a key is removed or a list entry duplicated', () => {
    fc.assert(
      fc.property(fc.constantFrom(...BASE_PATHS), fc.boolean(), (path, remove) => {
        const doc = parseDocument(BASE);
        if (remove) doc.deleteIn(path);
        else {
          const parent = path.slice(0, -1);
          const seq = doc.getIn(parent, true);
          if (isSeq(seq)) seq.items.push(doc.createNode(doc.getIn(path)));
          else doc.setIn([...parent, 'extra_key'], 1);
        }
        check(doc.toString());
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses a file whose text is the base file cut at any point, or loads an equally valid model', () => {
    fc.assert(fc.property(fc.nat(BASE.length), (n) => check(BASE.slice(0, n))), { numRuns: 300 });
  });
});
