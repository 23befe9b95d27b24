// Property (filesystem backend): competing owners, see competing-owners.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { BaseStore } from '../../../runtime/node/storage/base-store.ts';
import { assertCompetingOwners } from './competing-owners.ts';

describe('BaseStore under competing owners', () => {
  it('keeps every acknowledged write exactly once and acknowledges nothing of a superseded owner', async () => {
    await assertCompetingOwners(async () => {
      const dir = mkdtempSync(join(tmpdir(), 'base-prop-'));
      return { store: new BaseStore(dir), uuid: '5e5c6ad2a1b24c3d9e8f001122334455', tokenBase: 0, done: async () => rmSync(dir, { recursive: true, force: true }) };
    }, 60);
  });
});
