import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Testing } from 'cdktf';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterApp } from '../../../infra/stacks/app.ts';
import { BackendError } from '../../../infra/stacks/backend.ts';
import { fixturePath } from './synth.ts';

describe('state backend', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'stacks-backend-'));
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  const terraformBlock = (backend?: string) => {
    const { stack } = clusterApp({ configFile: fixturePath('three-host.yaml'), outdir, ...(backend ? { backend } : {}) });
    return (JSON.parse(Testing.synth(stack)) as { terraform: Record<string, unknown> }).terraform;
  };

  it('is an empty block of the named type, configured at init, when a backend type is given', () => {
    expect(terraformBlock('http')['backend']).toEqual({ http: {} });
  });

  it('is left to cdktf (a local state file, added at app synth) when no backend type is given', () => {
    expect(terraformBlock()['backend']).toBeUndefined();
  });

  it('rejects a name that is not a backend type as a user error', () => {
    expect(() => terraformBlock('s3; rm -rf /')).toThrow(BackendError);
  });
});
