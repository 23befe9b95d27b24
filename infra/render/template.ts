// A tiny template language: `{{ name }}` is replaced by a format literal of values[name].
// Unknown or unused placeholders are program errors. Pure.
import { iniLiteral, jsonLiteral, pythonLiteral, RenderError, yamlLiteral, type Literal } from './escape.ts';
import type { RenderedFile } from '../plan/types.ts';

export type Format = RenderedFile['format'];

const LITERAL: Record<Format, (v: Literal) => string> = {
  json: jsonLiteral,
  python: pythonLiteral,
  ini: iniLiteral,
  yaml: yamlLiteral,
};

export function fillTemplate(template: string, format: Format, values: Readonly<Record<string, Literal>>, name = 'template'): string {
  const used = new Set<string>();
  const out = template.replace(/\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}/g, (_, key: string) => {
    const value = values[key];
    if (value === undefined) throw new RenderError(`${name}: no value for placeholder {{ ${key} }}`);
    used.add(key);
    return LITERAL[format](value);
  });
  const unused = Object.keys(values).filter((k) => !used.has(k));
  if (unused.length > 0) throw new RenderError(`${name}: values without placeholder: ${unused.join(', ')}`);
  return out;
}
