// Runs Debian's python3 on a source text and returns what it prints as JSON (test helper).
import { execFileSync } from 'node:child_process';

export const PYTHON = '/usr/bin/python3';

/** Executes `source`, then evaluates `expression` with the resulting namespace bound to `ns`. */
export function pythonEval(source: string, expression: string): unknown {
  const program = [
    'import json, sys',
    'ns = {}',
    'exec(compile(sys.stdin.read(), "fragment.py", "exec"), ns)',
    'ns.pop("__builtins__", None)',
    `print(json.dumps(eval(${JSON.stringify(expression)}, {"ns": ns})))`,
  ].join('\n');
  const out = execFileSync(PYTHON, ['-c', program], { input: source, encoding: 'utf8' });
  return JSON.parse(out);
}
