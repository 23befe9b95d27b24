// Hostile values in cluster.yaml itself: any string field set to quotes, backslashes, line
// breaks, non-ASCII or format syntax is either rejected by the validator or renders files that
// every consumer parses to exactly the intended keys (no injected code, keys or sections).
import fc from 'fast-check';
import { parse as parseIni } from 'ini';
import { expect, it } from 'vitest';
import { parse as parseYaml, parseDocument } from 'yaml';
import { ClusterConfigError, loadClusterText } from '../../../infra/model/index.ts';
import { resolvePlan } from '../../../infra/plan/resolve.ts';
import { renderPlan } from '../../../infra/render/render.ts';
import type { RenderedFile } from '../../../infra/plan/types.ts';
import { BASE } from '../model/invalid-cases.ts';
import { pythonEval } from './python.ts';

const STRING_FIELDS: ReadonlyArray<readonly (string | number)[]> = [
  ['name'],
  ['key_prefix'],
  ['runtime_image'],
  ['docker_hosts', 'default'],
  ['secrets', 'private_key_env'],
  ['etcd', 'cluster_token'],
  ['etcd', 'members', 0, 'name'],
  ['etcd', 'members', 0, 'host'],
  ['nodes', 0, 'node_url'],
  ['nodes', 0, 'local_node_url'],
  ['proxy', 'name'],
  ['proxy', 'host'],
  ['proxy', 'time_zone'],
  ['proxy', 'image'],
  ['web', 'url'],
];

const PIECES = ["'", '"', '\\', '\n', '\r', 'ü', '🚀', ';', '#', '[x]', '=', ' ', ':', '{{ a }}', '${X}', 'import os', 'a', 'http://a.example/', '\u0000'];
const hostile = fc.oneof(
  fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 6 }).map((p) => p.join('')),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 8 }).map((s) => `http://proxy.example.com:5550/${s}`),
);

function withValue(path: readonly (string | number)[], value: string): string {
  const doc = parseDocument(BASE);
  doc.setIn(path, value);
  return doc.toString();
}

function checkParses(files: RenderedFile[], proxyUrl: string): void {
  for (const f of files) {
    if (f.format === 'json') JSON.parse(f.contents);
    if (f.format === 'yaml') {
      const doc = parseYaml(f.contents) as Record<string, unknown>;
      if (f.path.endsWith('docker-compose.yml')) expect(Object.keys(doc)).toEqual(['services']);
    }
    if (f.format === 'ini') expect(parseIni(f.contents)).toEqual({ 'dtable cache': { dtable_server_url: proxyUrl } });
  }
}

it('every hostile string field is rejected or renders files that parse to exactly the intended keys', () => {
  const samples = fc.sample(fc.tuple(fc.constantFrom(...STRING_FIELDS), hostile), { numRuns: 300, seed: 42 });
  const fragments: Array<{ source: string; url: string }> = [];
  let rejected = 0;
  for (const [path, value] of samples) {
    let model;
    try {
      model = loadClusterText(withValue(path, value), 'cluster.yaml').model;
    } catch (err) {
      if (!(err instanceof ClusterConfigError)) throw err;
      rejected++;
      continue;
    }
    const plan = resolvePlan(model, { target: 'docker', configDir: '/cfg' });
    const files = renderPlan(plan);
    checkParses(files, plan.proxy.url);
    fragments.push({ source: files.find((f) => f.format === 'python')!.contents, url: plan.proxy.url });
  }
  // Both branches must be exercised for the property to mean anything.
  expect(rejected).toBeGreaterThan(0);
  expect(fragments.length).toBeGreaterThan(0);
  const program = fragments.map((f) => f.source);
  const result = pythonEval(
    `FRAGMENTS = ${JSON.stringify(program)}\n`,
    '[(lambda d: (exec(src, d), sorted(k for k in d if k != "__builtins__"), d["DTABLE_PROXY_SERVER_URL"])[1:])({}) for src in ns["FRAGMENTS"]]',
  ) as Array<[string[], string]>;
  expect(result).toEqual(
    fragments.map((f) => [['DTABLE_PROXY_SERVER_URL', 'ENABLE_DTABLE_SERVER_CLUSTER', 'ETCD_SERVER_HOST_LIST'], f.url]),
  );
});
