// The bases the web role knows and their API tokens, kept durably in `<data_dir>/bases.json`
// (written to a temp file, fsynced, renamed). Only a SHA-256 of each API token is stored: the
// token itself is shown once, when the base is created.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

const entrySchema = z.object({
  dtable_uuid: z.string(),
  dtable_name: z.string(),
  workspace_id: z.number().int(),
  api_token_sha256: z.string(),
  created_at: z.string(),
});
const fileSchema = z.object({ format: z.literal(1), bases: z.array(entrySchema) });
export type BaseEntry = z.infer<typeof entrySchema>;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export class BaseDirectory {
  private readonly file: string;
  private readonly bases: BaseEntry[] = [];
  private readonly byToken = new Map<string, BaseEntry>();

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.file = join(dataDir, 'bases.json');
    let raw: string | null = null;
    try {
      raw = readFileSync(this.file, 'utf8');
    } catch {
      /* first start */
    }
    if (raw !== null) {
      const parsed = fileSchema.parse(JSON.parse(raw));
      for (const b of parsed.bases) this.add(b);
    }
  }

  /** Create a base with a fresh UUID and API token; durable before it returns. */
  create(name: string, workspaceId = 1): { entry: BaseEntry; apiToken: string } {
    const apiToken = randomBytes(20).toString('hex');
    const entry: BaseEntry = { dtable_uuid: randomUUID(), dtable_name: name, workspace_id: workspaceId, api_token_sha256: sha256(apiToken), created_at: new Date().toISOString() };
    this.persist([...this.bases, entry]);
    this.add(entry);
    return { entry, apiToken };
  }

  byApiToken(token: string): BaseEntry | null {
    return this.byToken.get(sha256(token)) ?? null;
  }

  list(): readonly BaseEntry[] {
    return this.bases;
  }

  private add(b: BaseEntry): void {
    this.bases.push(b);
    this.byToken.set(b.api_token_sha256, b);
  }

  private persist(bases: BaseEntry[]): void {
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify({ format: 1, bases }, null, 1));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }
}
