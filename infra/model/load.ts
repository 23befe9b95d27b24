// Loads cluster.yaml: YAML → zod model → semantic checks, with every problem mapped back to the
// line and column it came from. User errors are thrown as one ClusterConfigError listing all of
// them; warnings are returned beside the model.
import { readFileSync } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { ClusterConfigError, type ClusterIssue } from './errors.ts';
import { clusterFileSchema, type ClusterModel } from './schema.ts';
import { checkCluster, type PathIssue } from './semantic.ts';
import { didYouMean, knownKeysAt } from './suggest.ts';

export interface LoadedCluster {
  readonly model: ClusterModel;
  readonly warnings: readonly ClusterIssue[];
}

/** Reads and validates a cluster.yaml. `file` is echoed in messages as given. */
export function loadClusterFile(file: string): LoadedCluster {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES') {
      throw new ClusterConfigError([
        {
          file,
          line: 1,
          col: 1,
          message: code === 'ENOENT' ? 'file not found' : `cannot read file (${code})`,
          hint: 'pass the cluster file with --config FILE (default ./cluster.yaml)',
        },
      ]);
    }
    throw err;
  }
  return loadClusterText(text, file);
}

/** Validates cluster.yaml text; `fileName` is used in messages only. */
export function loadClusterText(text: string, fileName: string): LoadedCluster {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const locate = new Locator(doc, lineCounter, fileName);

  if (doc.errors.length > 0) {
    throw new ClusterConfigError(
      doc.errors.map((e) => ({ ...locate.offset(e.pos[0]), message: yamlMessage(e.message) })),
    );
  }
  const data: unknown = doc.toJS();
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ClusterConfigError([
      { ...locate.offset(0), message: 'cluster.yaml must be a mapping of keys (name, etcd, nodes, proxy, ...)' },
    ]);
  }

  const parsed = clusterFileSchema.safeParse(data);
  if (!parsed.success) {
    throw new ClusterConfigError(sortIssues(parsed.error.issues.flatMap((i) => zodIssue(i, locate))));
  }
  const { errors, warnings } = checkCluster(parsed.data);
  const positionedWarnings = sortIssues(warnings.map((w) => locate.issue(w)));
  if (errors.length > 0) {
    throw new ClusterConfigError(sortIssues(errors.map((e) => locate.issue(e))), positionedWarnings);
  }
  return { model: parsed.data, warnings: positionedWarnings };
}

function yamlMessage(message: string): string {
  if (message.startsWith('Source contains multiple documents')) return 'cluster.yaml must hold a single YAML document (remove the second "---")';
  const first = message.split('\n')[0] ?? message;
  return `invalid YAML: ${first.replace(/ at line \d+, column \d+:?$/, '')}`;
}

function sortIssues(issues: ClusterIssue[]): ClusterIssue[] {
  return issues.sort((a, b) => a.line - b.line || a.col - b.col);
}

/** `etcd.members[1].host` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(top level)';
}

const SECRET_WORDS = /key|token|secret|password|passwd/i;

function zodIssue(issue: z.core.$ZodIssue, locate: Locator): ClusterIssue[] {
  const path = issue.path;
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(clusterFileSchema, path);
    return issue.keys.map((key) => {
      const at = [...path, key];
      const suggestion = didYouMean(key, known);
      let hint: string | undefined;
      if (SECRET_WORDS.test(key) && !key.endsWith('_env')) {
        hint =
          'secret values are never written in cluster.yaml: put the value in an environment variable and name the variable under secrets.private_key_env / secrets.admin_token_env';
      } else if (known.length > 0) {
        hint = `allowed keys here: ${known.join(', ')}`;
      }
      if (path.length === 1 && path[0] === 'secrets' && known.includes(`${key}_env`)) {
        return {
          ...locate.key(at),
          message: `secrets.${key} is an inline secret; cluster.yaml only names environment variables (${key}_env)`,
          hint: `export the value in an environment variable, e.g. ${key.toUpperCase()}_VALUE, and write ${key}_env: ${key.toUpperCase()}_VALUE`,
        };
      }
      const where = path.length > 0 ? ` in ${formatPath(path)}` : '';
      return {
        ...locate.key(at),
        message: `unknown key "${key}"${where}${suggestion ? ` (did you mean "${suggestion}"?)` : ''}`,
        ...(hint ? { hint } : {}),
      };
    });
  }
  const value = locate.valueAt(path);
  if (issue.code === 'invalid_type' && value === undefined) {
    const key = path[path.length - 1];
    return [
      {
        ...locate.key(path.slice(0, -1)),
        message:
          path.length > 1
            ? `${formatPath(path.slice(0, -1))}: missing required key "${String(key)}"`
            : `missing required top-level key "${String(key)}"`,
      },
    ];
  }
  if (issue.code === 'invalid_key') {
    const inner = issue.issues[0]?.message ?? issue.message;
    return [{ ...locate.key(path), message: `${formatPath(path.slice(0, -1))}: key "${String(path[path.length - 1])}" ${inner}` }];
  }
  let message = issue.message;
  if (issue.code === 'invalid_type') {
    const expected = issue.expected === 'int' ? 'whole number' : issue.expected;
    message = `must be ${article(expected)}, got ${describeValue(value)}`;
  } else if (issue.code === 'too_small' && message.startsWith('Too small')) {
    message =
      issue.origin === 'array'
        ? `needs at least ${String(issue.minimum)} entries`
        : `must be at least ${String(issue.minimum)}`;
  } else if (issue.code === 'too_big' && message.startsWith('Too big')) {
    message = `must be at most ${String(issue.maximum)}`;
  }
  const hint = secretValueHint(path, value);
  return [{ ...locate.value(path), message: `${formatPath(path)} ${message}`, ...(hint ? { hint } : {}) }];
}

function secretValueHint(path: readonly PropertyKey[], value: unknown): string | undefined {
  if (path[0] !== 'secrets' || typeof value !== 'string') return undefined;
  return `inline secret values are not allowed: export the value, e.g. MY_KEY='...', and write ${String(path[1])}: MY_KEY`;
}

function article(expected: string): string {
  if (expected === 'object') return 'a mapping';
  if (expected === 'array') return 'a list';
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null (empty value)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string "${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  return `${typeof value} ${String(value)}`;
}

/** Maps model paths to positions in the YAML source. */
class Locator {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
    private readonly file: string,
  ) {}

  offset(offset: number): { file: string; line: number; col: number } {
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, col };
  }

  issue(p: PathIssue): ClusterIssue {
    const at = p.at === 'key' ? this.key(p.path) : this.value(p.path);
    return { ...at, message: p.message, ...(p.hint ? { hint: p.hint } : {}) };
  }

  valueAt(path: readonly PropertyKey[]): unknown {
    const node = this.node(path);
    if (node === undefined) return undefined;
    return isScalar(node) ? node.value : (node as { toJSON(): unknown }).toJSON();
  }

  /** Position of the value at `path`, or of its nearest written ancestor. */
  value(path: readonly PropertyKey[]): { file: string; line: number; col: number } {
    for (let n = path.length; n >= 0; n--) {
      const node = this.node(path.slice(0, n));
      if (node?.range) return this.offset(node.range[0]);
    }
    return this.offset(0);
  }

  /** Position of the key naming `path` (for map entries), else of the value. */
  key(path: readonly PropertyKey[]): { file: string; line: number; col: number } {
    const last = path[path.length - 1];
    if (typeof last === 'string') {
      const parent = this.node(path.slice(0, -1));
      if (isMap(parent)) {
        for (const item of parent.items) {
          if (isPair(item) && isScalar(item.key) && String(item.key.value) === last && item.key.range) {
            return this.offset(item.key.range[0]);
          }
        }
      }
    }
    return this.value(path);
  }

  private node(path: readonly PropertyKey[]): Node | undefined {
    let node: unknown = this.doc.contents;
    for (const p of path) {
      if (isMap(node)) {
        const pair = node.items.find((i) => isPair(i) && isScalar(i.key) && String(i.key.value) === String(p));
        node = pair?.value ?? undefined;
      } else if (isSeq(node) && typeof p === 'number') {
        node = node.items[p];
      } else {
        return undefined;
      }
      if (node === undefined || node === null) return undefined;
    }
    return (node as Node | null) ?? undefined;
  }
}
