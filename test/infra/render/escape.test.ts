// Injection safety: hostile values either come back unchanged through the real parser of each
// format, adding nothing else to the file, or are refused.
import fc from 'fast-check';
import { parse as parseIni } from 'ini';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { iniLiteral, jsonLiteral, pythonLiteral, RenderError, yamlLiteral } from '../../../infra/render/escape.ts';
import { renderPlan, renderWebSettings } from '../../../infra/render/render.ts';
import { repoPlan } from './fixtures.ts';
import { pythonEval } from './python.ts';

const HOSTILE = [
  `it's`,
  'say "hi"',
  'back\\slash\\',
  'line\nbreak',
  'carriage\rreturn',
  "'''; import os; os.system('touch /tmp/pwned') #",
  '"""\nimport os\n"""',
  '\\\'; x = 1 #',
  'Grüße, 東京 🚀',
  'nul\u0000byte',
  'tab\tand\u007fdel\u0085nel\u2028ls',
  'x\n[evil]\nkey = value',
  '${ENV} {{ placeholder }}',
];

const ALL_CHARS = fc.string({ unit: 'binary', maxLength: 40 });

describe('Python literals', () => {
  it('evaluate in python3 to exactly the hostile strings, defining no other names', () => {
    const source = HOSTILE.map((s, i) => `V${i} = ${pythonLiteral(s)}\n`).join('');
    const result = pythonEval(source, '[[ns[k] for k in sorted(ns, key=lambda k: int(k[1:]))], sorted(ns)]') as [string[], string[]];
    expect(result[0]).toEqual(HOSTILE);
    expect(result[1]).toEqual(HOSTILE.map((_, i) => `V${i}`).sort());
  });

  it('are pure ASCII on one line whatever the string', () => {
    fc.assert(fc.property(ALL_CHARS, (s) => /^[\x20-\x7e]*$/.test(pythonLiteral(s))));
  });

  it('round-trip arbitrary Unicode strings through python3', () => {
    const samples = fc.sample(ALL_CHARS, { numRuns: 200, seed: 7 });
    const source = `V = [${samples.map((s) => pythonLiteral(s)).join(', ')}]\n`;
    expect(pythonEval(source, 'ns["V"]')).toEqual(samples);
  });

  it('write a list of strings and True as Python', () => {
    expect(pythonLiteral([true, 'a', 2] as never)).toBe("[True, 'a', 2]");
  });
});

describe('INI values', () => {
  it('refuse strings with quotes, backslashes, line breaks, comment or section characters, control or non-ASCII characters', () => {
    const unsafe = HOSTILE.filter((s) => /["\\\n\r;#[\]=]|[^\x20-\x7e]/.test(s));
    expect(unsafe.length).toBe(HOSTILE.length - 2);
    for (const s of unsafe) expect(() => iniLiteral(s), s).toThrow(RenderError);
  });

  it('either refuse a value or read back as exactly one key with that value', () => {
    fc.assert(
      fc.property(fc.oneof(ALL_CHARS, fc.webUrl()), (s) => {
        let literal: string;
        try {
          literal = iniLiteral(s);
        } catch (err) {
          return err instanceof RenderError;
        }
        return JSON.stringify(parseIni(`[dtable cache]\ndtable_server_url = ${literal}\n`)) ===
          JSON.stringify({ 'dtable cache': { dtable_server_url: s } });
      }),
    );
  });

  it('accept the URLs the model allows', () => {
    expect(iniLiteral('http://dtable-server-proxy.example.com:5550/')).toBe('"http://dtable-server-proxy.example.com:5550/"');
  });
});

describe('YAML and JSON literals', () => {
  it('read back through the yaml parser as exactly one key with the original string', () => {
    fc.assert(
      fc.property(fc.oneof(ALL_CHARS, fc.constantFrom(...HOSTILE)), (s) => {
        const doc = parseYaml(`key: ${yamlLiteral(s)}\n`) as Record<string, unknown>;
        return JSON.stringify(doc) === JSON.stringify({ key: s });
      }),
    );
  });

  it('read back through JSON.parse as the original string', () => {
    fc.assert(fc.property(fc.oneof(ALL_CHARS, fc.constantFrom(...HOSTILE)), (s) => JSON.parse(jsonLiteral(s)) === s));
  });
});

describe('rendering a plan carrying hostile values', () => {
  const plan = repoPlan('docker');
  const hostileUrl = "http://proxy/'\nimport os\n[x]\nk = \"v\"";
  const hostile = { ...plan, proxy: { ...plan.proxy, url: hostileUrl } };

  it('refuses to write the value into dtable-db.conf', () => {
    expect(() => renderPlan(hostile)).toThrow(/cannot write .* as an INI value/);
  });

  it('keeps the Python fragment to its three names, with the value intact', () => {
    const py = renderWebSettings(hostile).contents;
    expect(pythonEval(py, '[ns["DTABLE_PROXY_SERVER_URL"], sorted(ns)]')).toEqual([
      hostileUrl,
      ['DTABLE_PROXY_SERVER_URL', 'ENABLE_DTABLE_SERVER_CLUSTER', 'ETCD_SERVER_HOST_LIST'],
    ]);
  });
});
