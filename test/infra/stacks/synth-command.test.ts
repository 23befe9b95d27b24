import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../../infra/cli/main.ts';
import { fixturePath } from './synth.ts';

describe('dtable-cluster synth', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'stacks-synth-command-'));
  let stdout: string;
  let stderr: string;
  beforeEach(() => {
    stdout = '';
    stderr = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
  });
  afterEach(() => vi.restoreAllMocks());
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('writes the stack named after the cluster and prints its path', async () => {
    const out = join(scratch, 'ok');
    expect(await main(['synth', '--config', fixturePath('single-host.yaml'), '--out', out])).toBe(0);
    expect(stdout).toBe(`${join(out, 'stacks/solo/cdk.tf.json')}\n`);
    const json = JSON.parse(readFileSync(join(out, 'stacks/solo/cdk.tf.json'), 'utf8')) as { resource: Record<string, object> };
    expect(Object.keys(json.resource['docker_container']!)).toHaveLength(10);
  });

  it('prints cluster.yaml warnings on stderr', async () => {
    expect(await main(['synth', '--config', fixturePath('single-host.yaml'), '--out', join(scratch, 'warn')])).toBe(0);
    expect(stderr).toContain('single-host.yaml:11:52: warning: client port 2479 is not 2379');
  });

  it('reports an invalid cluster.yaml with positions, exits 2 and writes nothing', async () => {
    const bad = join(scratch, 'bad.yaml');
    writeFileSync(bad, 'name: x\nnodes: []\n');
    const out = join(scratch, 'bad-out');
    expect(await main(['synth', '--config', bad, '--out', out])).toBe(2);
    expect(stderr).toContain(`${bad}:2:8: nodes needs at least one dtable-server node`);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(out)).toBe(false);
  });

  it('rejects a backend type that is not a backend name as a usage error', async () => {
    expect(await main(['synth', '--config', fixturePath('single-host.yaml'), '--out', join(scratch, 'b'), '--backend', 'S3!'])).toBe(2);
    expect(stderr).toContain('backend type "S3!" is not a Terraform backend name');
  });
});
