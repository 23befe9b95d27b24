// The JSON Schema of cluster.yaml, generated from the zod model (editor completion and
// validation through the yaml-language-server modeline). Pure.
import { z } from 'zod';
import { clusterFileSchema } from './schema.ts';

export const SCHEMA_ID = 'https://dtable-cluster.dev/schema/cluster.schema.json';

export function clusterJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(clusterFileSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    $id: SCHEMA_ID,
    title: 'dtable-cluster cluster.yaml',
    description: 'One file describing a dtable-server cluster: etcd, nodes, proxy, monitor, web. See docs/cluster-yaml.md.',
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$schema')),
  };
}

/** The schema as committed in schema/cluster.schema.json (stable formatting). */
export function clusterJsonSchemaText(): string {
  return `${JSON.stringify(clusterJsonSchema(), null, 2)}\n`;
}
