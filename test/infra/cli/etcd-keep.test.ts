// `etcd compact --keep N` takes a whole number of revisions only: an empty value must not compact the
// whole history (Number('') is 0), nor may any other spelling of a number be guessed at.
import { describe, expect, it } from 'vitest';
import command from '../../../infra/cli/commands/etcd.ts';

async function outcome(argv: string[]): Promise<string> {
  try {
    await command.run(argv);
    return 'ran';
  } catch (err) {
    return /--keep/.test((err as Error).message) ? 'rejected' : 'accepted';
  }
}

describe('etcd compact --keep', () => {
  it.each(['', ' ', '-1', '1.5', 'abc', '1e400', '0x10', '1e3', '9007199254740993'])('refuses --keep=%j before touching etcd', async (v) => {
    expect(await outcome(['compact', `--keep=${v}`, '--config', '/nonexistent/cluster.yaml'])).toBe('rejected');
  });

  it('takes a whole number (and then fails only on the missing cluster.yaml)', async () => {
    expect(await outcome(['compact', '--keep=100', '--config', '/nonexistent/cluster.yaml'])).toBe('accepted');
  });
});
