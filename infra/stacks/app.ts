// The CDKTF app for one cluster file: load cluster.yaml, resolve the docker plan, render every
// config file, build the stack. Shared by infra/main.ts (`cdktf synth`) and `dtable-cluster synth`.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'cdktf';
import type { ClusterIssue } from '../model/errors.ts';
import { loadClusterFile } from '../model/load.ts';
import { resolvePlan } from '../plan/resolve.ts';
import type { Plan } from '../plan/types.ts';
import { renderPlan } from '../render/render.ts';
import { PartialBackend } from './backend.ts';
import { ClusterStack } from './cluster-stack.ts';

/** The repository root: build context of the runtime image. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Environment variable naming the cluster file for `cdktf synth` (which passes no arguments). */
export const CONFIG_ENV = 'DTABLE_CLUSTER_CONFIG';

export interface ClusterAppOptions {
  readonly configFile: string;
  /** Terraform backend type configured outside the JSON (see backend.ts); default: local. */
  readonly backend?: string;
  /** Where cdktf writes `stacks/<name>/cdk.tf.json`; default: cdktf's own (CDKTF_OUTDIR or cdktf.out). */
  readonly outdir?: string;
}

export interface ClusterApp {
  readonly app: App;
  readonly stack: ClusterStack;
  readonly plan: Plan;
  readonly warnings: readonly ClusterIssue[];
  /** Folder the stack is synthesized into. */
  readonly stackDir: string;
}

export function clusterApp(options: ClusterAppOptions): ClusterApp {
  const { model, warnings } = loadClusterFile(options.configFile);
  const plan = resolvePlan(model, { target: 'docker', configDir: dirname(resolve(options.configFile)) });
  const app = new App(options.outdir ? { outdir: options.outdir } : {});
  const stackDir = resolve(app.outdir, 'stacks', plan.name);
  const stack = new ClusterStack(app, plan.name, {
    plan,
    files: renderPlan(plan),
    // Terraform runs inside the stack's folder, so the context is relative to it; the synthesized
    // JSON then holds no machine-specific absolute path.
    buildContext: relative(stackDir, REPO_ROOT) || '.',
    sourceHash: runtimeSourceHash(),
  });
  if (options.backend) new PartialBackend(stack, options.backend);
  return { app, stack, plan, warnings, stackDir };
}

/** The files the Dockerfile copies into the runtime image. */
const IMAGE_SOURCES = ['Dockerfile', '.dockerignore', 'package.json', 'package-lock.json', 'tsconfig.json', 'runtime'];

/** sha256 over the runtime image's sources: a change rebuilds the image on `apply`. */
export function runtimeSourceHash(root: string = REPO_ROOT): string {
  const hash = createHash('sha256');
  const add = (rel: string): void => {
    const abs = join(root, rel);
    let stat;
    try {
      stat = statSync(abs);
    } catch {
      return;
    }
    if (stat.isDirectory()) {
      for (const entry of readdirSync(abs).sort()) add(join(rel, entry));
    } else {
      hash.update(`${rel}\0`).update(readFileSync(abs)).update('\0');
    }
  };
  for (const source of IMAGE_SOURCES) add(source);
  return hash.digest('hex').slice(0, 16);
}
