// The reference docs keep up with the model and the command list.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../infra/cli/main.ts';
import { clusterJsonSchema } from '../../infra/model/index.ts';

const doc = (p: string) => readFileSync(new URL(`../../${p}`, import.meta.url), 'utf8');

/** Every property name of the schema, with the object it sits in (`etcd.members[].host` → `host`). */
function propertyNames(schema: unknown, out = new Set<string>()): Set<string> {
  if (schema && typeof schema === 'object') {
    const s = schema as Record<string, unknown>;
    if (s.properties && typeof s.properties === 'object') {
      for (const [k, v] of Object.entries(s.properties)) {
        out.add(k);
        propertyNames(v, out);
      }
    }
    for (const key of ['items', 'additionalProperties', 'anyOf', 'oneOf', 'allOf']) {
      const v = s[key];
      if (Array.isArray(v)) v.forEach((x) => propertyNames(x, out));
      else if (v) propertyNames(v, out);
    }
  }
  return out;
}

describe('docs/cluster-yaml.md', () => {
  it.each([...propertyNames(clusterJsonSchema())])('documents the key %s', (key) => {
    expect(doc('docs/cluster-yaml.md')).toMatch(new RegExp('`([a-z_]+\\.)*' + key + '`'));
  });
});

describe('docs/cli.md', () => {
  it.each(COMMANDS.map((c) => c.name))('documents the %s command', (name) => {
    expect(doc('docs/cli.md')).toContain(`## ${name}\n`);
  });
});
