// Runs the real entry points as processes (no in-memory Testing app), with no terraform or tofu
// binary on PATH, as on a fresh machine: `dtable-cluster synth` and `npx cdktf synth`.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** PATH without any folder holding terraform or tofu, plus a folder with just node/npm/npx. */
function pathWithoutTerraform(scratch: string): string {
  const bin = join(scratch, 'bin');
  mkdirSync(bin);
  const nodeDir = dirname(process.execPath);
  for (const tool of ['node', 'npm', 'npx']) {
    if (existsSync(join(nodeDir, tool))) symlinkSync(join(nodeDir, tool), join(bin, tool));
  }
  const kept = (process.env['PATH'] ?? '')
    .split(delimiter)
    .filter((dir) => dir && !['terraform', 'tofu'].some((t) => existsSync(join(dir, t))));
  return [bin, ...kept].join(delimiter);
}

/** The image source hash follows runtime/ edits made between the two runs; everything else must match. */
function withoutSourceHash(text: string): unknown {
  return JSON.parse(text, (key, value: unknown) => (key === 'source_hash' ? '<hash>' : value));
}

describe('synth on a machine without terraform', () => {
  let scratch: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'stacks-cli-'));
    env = { ...process.env, PATH: pathWithoutTerraform(scratch), CHECKPOINT_DISABLE: '1', CI: '1' };
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('finds no terraform binary on the PATH it runs with', async () => {
    await expect(run('sh', ['-c', 'command -v terraform || command -v tofu'], { env })).rejects.toThrow();
  });

  it('`dtable-cluster synth` writes the stack of the repository cluster.yaml', async () => {
    const out = join(scratch, 'cli');
    const { stdout } = await run('node', ['bin/dtable-cluster.mjs', 'synth', '--out', out], { cwd: ROOT, env });
    expect(stdout.trim()).toBe(join(out, 'stacks/seatable/cdk.tf.json'));
    const json = JSON.parse(readFileSync(join(out, 'stacks/seatable/cdk.tf.json'), 'utf8')) as {
      provider: { docker: unknown[] };
      resource: { docker_container: Record<string, unknown> };
    };
    // Six machines of the seed plus the MariaDB host; nine instances plus MariaDB.
    expect(json.provider.docker).toHaveLength(7);
    expect(Object.keys(json.resource.docker_container)).toHaveLength(10);
  });

  it('`npx cdktf synth` writes the same stack through cdktf.json', async () => {
    const out = join(scratch, 'cdktf');
    await run('npx', ['--no-install', 'cdktf', 'synth', '--output', out], { cwd: ROOT, env, timeout: 120_000 });
    const viaCdktf = readFileSync(join(out, 'stacks/seatable/cdk.tf.json'), 'utf8');
    const viaCli = readFileSync(join(scratch, 'cli', 'stacks/seatable/cdk.tf.json'), 'utf8');
    expect(withoutSourceHash(viaCdktf)).toEqual(withoutSourceHash(viaCli));
  });
});
