// Test helper: synthesize the cluster stack of a cluster.yaml in memory, as cdktf would.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Testing } from 'cdktf';
import { loadClusterText } from '../../../infra/model/load.ts';
import { resolvePlan } from '../../../infra/plan/resolve.ts';
import type { Plan, RenderedFile } from '../../../infra/plan/types.ts';
import { renderPlan } from '../../../infra/render/render.ts';
import { ClusterStack } from '../../../infra/stacks/cluster-stack.ts';

export const FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), 'fixtures');

export function fixturePath(name: string): string {
  return resolve(FIXTURES, name);
}

export function fixtureText(name: string): string {
  return readFileSync(fixturePath(name), 'utf8');
}

/** A synthesized stack: the JSON text (what `cdk.tf.json` holds) and parsed. */
export interface Synthesized {
  readonly plan: Plan;
  readonly files: RenderedFile[];
  readonly text: string;
  readonly json: TerraformJson;
}

export interface TerraformJson {
  provider: { docker: Array<Record<string, unknown>> };
  resource: Record<string, Record<string, Record<string, unknown>>>;
  variable: Record<string, Record<string, unknown>>;
}

export type ContainerJson = {
  name: string;
  provider: string;
  image: string;
  command?: string[];
  env: string[];
  ports: Array<{ internal: number; external: number }>;
  healthcheck: { test: string[] };
  upload: Array<{ file: string; content: string }>;
  volumes?: Array<{ volume_name: string; container_path: string }>;
  networks_advanced: Array<{ name: string; aliases: string[] }>;
  depends_on: string[];
  restart: string;
  wait: boolean;
};

/** Synthesizes cluster.yaml text (named `file` for messages) the way infra/main.ts does. */
export function synthText(
  text: string,
  file = 'cluster.yaml',
  mapFiles: (files: RenderedFile[]) => RenderedFile[] = (f) => f,
): Synthesized {
  const { model } = loadClusterText(text, file);
  const plan = resolvePlan(model, { target: 'docker', configDir: FIXTURES });
  const files = mapFiles(renderPlan(plan));
  // Testing.app() makes a temp outdir it never removes: give it one and remove it after.
  const outdir = mkdtempSync(join(tmpdir(), 'stacks-synth-'));
  let out: string;
  try {
    const stack = new ClusterStack(Testing.app({ outdir }), plan.name, {
      plan,
      files,
      buildContext: '../../..',
      sourceHash: 'test-source-hash',
    });
    out = Testing.synth(stack);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
  return { plan, files, text: out, json: JSON.parse(out) as TerraformJson };
}

export function synthFixture(name: string): Synthesized {
  return synthText(fixtureText(name), name);
}

export function containers(s: Synthesized): Record<string, ContainerJson> {
  return (s.json.resource['docker_container'] ?? {}) as unknown as Record<string, ContainerJson>;
}

export function container(s: Synthesized, instance: string): ContainerJson {
  const c = containers(s)[instance];
  if (!c) throw new Error(`no docker_container.${instance}; have ${Object.keys(containers(s)).join(', ')}`);
  return c;
}

/** The JSON with uploaded file contents replaced by a marker: contents are checked by equality. */
export function snapshotJson(s: Synthesized): unknown {
  return JSON.parse(s.text, (key, value: unknown) =>
    key === 'content' && typeof value === 'string' ? '<rendered file, compared with renderPlan output>' : value,
  );
}
