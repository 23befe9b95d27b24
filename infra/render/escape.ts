// Per-format literals for template placeholders. Every function returns a complete literal
// (quotes included) or throws RenderError: a value can never end a string early, start a new
// line, or otherwise add code, keys or sections to the file it lands in. Pure.

export type Literal = string | number | boolean | readonly Literal[] | { readonly [key: string]: Literal };

/** A value that cannot be written safely in the target format (a program error: the model should have rejected it). */
export class RenderError extends Error {
  override name = 'RenderError';
}

/** JSON literal; non-printable and non-ASCII characters as \u escapes. */
export function jsonLiteral(value: Literal): string {
  return asciiOnly(JSON.stringify(value));
}

/**
 * YAML flow literal. JSON is valid YAML 1.2 flow syntax, and with every character outside
 * printable ASCII escaped the double-quoted scalars are unambiguous in YAML 1.1 parsers too.
 */
export function yamlLiteral(value: Literal): string {
  return jsonLiteral(value);
}

/** Python literal: str as a single-quoted escaped literal, bool as True/False, list as [...], mapping as {...}. */
export function pythonLiteral(value: Literal): string {
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RenderError(`cannot write ${value} as a Python literal`);
    return String(value);
  }
  if (typeof value === 'string') return pythonString(value);
  if (isList(value)) return `[${value.map(pythonLiteral).join(', ')}]`;
  return `{${Object.entries(value).map(([k, v]) => `${pythonString(k)}: ${pythonLiteral(v)}`).join(', ')}}`;
}

function isList(value: Literal): value is readonly Literal[] {
  return Array.isArray(value);
}

function pythonString(value: string): string {
  let out = "'";
  for (const ch of value) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '\\') out += '\\\\';
    else if (ch === "'") out += "\\'";
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else if (cp <= 0xff) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp <= 0xffff) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return `${out}'`;
}

/**
 * INI value, double-quoted as in SeaTable's dtable-db.conf. INI dialects disagree on escapes
 * (Go's ini strips the quotes verbatim, Python's configparser keeps them, npm `ini` JSON-parses
 * them), so only characters every dialect reads the same are accepted.
 */
export function iniLiteral(value: Literal): string {
  if (typeof value !== 'string') throw new RenderError('INI values are written as strings');
  if (!/^[\x20-\x7e]*$/.test(value) || /["\\;#\[\]=]/.test(value) || value.trim() !== value) {
    throw new RenderError(`cannot write ${JSON.stringify(value)} as an INI value (quotes, backslashes, ;#[]=, control or non-ASCII characters)`);
  }
  return `"${value}"`;
}

function asciiOnly(text: string): string {
  return text.replace(/[^\x20-\x7e\n]/gu, (ch) => {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp <= 0xffff) return `\\u${cp.toString(16).padStart(4, '0')}`;
    // Astral characters as a surrogate pair, the only \u form JSON and YAML share.
    const hi = Math.floor((cp - 0x10000) / 0x400) + 0xd800;
    const lo = ((cp - 0x10000) % 0x400) + 0xdc00;
    return `\\u${hi.toString(16)}\\u${lo.toString(16)}`;
  });
}
