// The generated JSON Schema: committed copy is current, accepts valid files, rejects shape errors.
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { clusterJsonSchema, clusterJsonSchemaText } from '../../../infra/model/index.ts';
import { BASE, INVALID_CASES } from './invalid-cases.ts';

const root = new URL('../../../', import.meta.url);
const ajv = new Ajv2020({ allErrors: true, strict: false });
const validate = ajv.compile(clusterJsonSchema());

it('the committed schema/cluster.schema.json equals the generated schema', () => {
  expect(readFileSync(new URL('schema/cluster.schema.json', root), 'utf8')).toBe(clusterJsonSchemaText());
});

it("the repository's cluster.yaml points its yaml-language-server modeline at the committed schema", () => {
  const first = readFileSync(new URL('cluster.yaml', root), 'utf8').split('\n')[0];
  expect(first).toBe('# yaml-language-server: $schema=./schema/cluster.schema.json');
});

it("the schema accepts the repository's cluster.yaml", () => {
  const ok = validate(parse(readFileSync(new URL('cluster.yaml', root), 'utf8')));
  expect(validate.errors ?? []).toEqual([]);
  expect(ok).toBe(true);
});

it('the schema accepts the base test fixture', () => {
  expect(validate(parse(BASE))).toBe(true);
});

describe.each(INVALID_CASES.filter((c) => c.shape))('the schema on $name', (c) => {
  it('rejects it', () => {
    expect(validate(parse(c.text))).toBe(false);
  });
});
