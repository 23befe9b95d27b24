// Every invalid case: the exact first error line and hint, exit code 2 from `validate` (in
// process for all, as a child process for a sample), and no stack trace.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../../infra/cli/main.ts';
import { ClusterConfigError, formatIssue, loadClusterText } from '../../../infra/model/index.ts';
import { INVALID_CASES } from './invalid-cases.ts';

const run = promisify(execFile);
const BIN = new URL('../../../bin/dtable-cluster.mjs', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'dtc-invalid-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function firstIssue(text: string): string {
  try {
    loadClusterText(text, 'cluster.yaml');
  } catch (err) {
    if (err instanceof ClusterConfigError) return formatIssue(err.issues[0]!);
    throw err;
  }
  throw new Error('the case is valid');
}

async function validateInProcess(file: string): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    return { code: await main(['validate', '--config', file]), stderr };
  } finally {
    spy.mockRestore();
    out.mockRestore();
  }
}

it('has at least 25 invalid cases', () => {
  expect(INVALID_CASES.length).toBeGreaterThanOrEqual(25);
});

describe.each(INVALID_CASES.map((c, i) => ({ ...c, i })))('$name', (c) => {
  it('reports the exact position, message and hint', () => {
    expect(firstIssue(c.text)).toBe(c.hint ? `${c.error}\n  hint: ${c.hint}` : c.error);
  });

  it('makes validate exit 2 with the error and no stack trace', async () => {
    const dir = join(tmp, `case-${c.i}`);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'cluster.yaml');
    writeFileSync(file, c.text);
    const rel = relative(process.cwd(), file);
    const { code, stderr } = await validateInProcess(rel);
    expect(code).toBe(2);
    expect(stderr.split('\n')[0]).toBe(c.error.replace(/^cluster\.yaml/, rel));
    expect(stderr).not.toMatch(/^\s+at /m);
  });
});

// A child process per case costs a tsx start-up each; a sample proves the real binary agrees.
const SAMPLE = INVALID_CASES.filter((_, i) => i % 6 === 0);

describe.each(SAMPLE)('the real CLI on $name', (c) => {
  it('exits 2 printing the error relative to the file it was given', async () => {
    const dir = mkdtempSync(join(tmp, 'cli-'));
    writeFileSync(join(dir, 'cluster.yaml'), c.text);
    const result = await run(process.execPath, [BIN, 'validate'], { cwd: dir }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toBe(c.error);
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });
});
