// llhttp's own request corpus (fixtures/llhttp-corpus.json, taken from llhttp 9.4.2's test/request/*.md,
// strict-mode cases only): every engine must answer each input as llhttp frames it, sent whole and
// byte by byte in two halves.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkEngine } from './differential.ts';
import { useEngines } from './harness.ts';

const corpus = JSON.parse(readFileSync(new URL('./fixtures/llhttp-corpus.json', import.meta.url), 'utf8')) as { requests: Array<{ name: string; latin1: string }> };

describe("llhttp's request corpus on every engine", () => {
  const engines = useEngines();

  it(`answers all ${corpus.requests.length} inputs as llhttp frames them`, async () => {
    const failures: string[] = [];
    let skipped = 0;
    for (const c of corpus.requests) {
      const bytes = Buffer.from(c.latin1, 'latin1');
      const half = Math.floor(bytes.length / 2);
      for (const [engine, proxy] of engines.proxies) {
        for (const pieces of [[bytes], [bytes.subarray(0, half), bytes.subarray(half)]]) {
          const r = await checkEngine(proxy.port, engines.node, bytes, pieces);
          if (r.skipped) skipped += 1;
          if (r.problems.length > 0) failures.push(`${c.name} (${engine}, ${pieces.length} write(s)): ${r.problems.join('; ')}`);
        }
      }
    }
    console.info(`llhttp corpus: ${corpus.requests.length} inputs, ${skipped / 4} upgrades left to upgrade.test.ts`);
    expect(failures).toEqual([]);
  }, 120_000);
});
