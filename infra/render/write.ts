// The one place rendering touches the disk.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { RenderedFile } from '../plan/types.ts';

/** Writes each file under outDir (creating folders); returns the absolute paths written. */
export function writeRendered(files: readonly RenderedFile[], outDir: string): string[] {
  const root = resolve(outDir);
  return files.map((f) => {
    const target = resolve(join(root, f.path));
    // Paths come from validated instance names; refuse anything that would leave outDir anyway.
    if (!target.startsWith(`${root}/`)) throw new Error(`rendered path escapes the output dir: ${f.path}`);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, f.contents);
    return target;
  });
}
