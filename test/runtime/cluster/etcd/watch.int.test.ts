import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEtcdCluster, type EtcdTestCluster } from '../../../harness/etcd.ts';
import { connectEtcd, type Etcd3 } from '../../../../runtime/cluster/etcd/client.ts';
import { PrefixWatcher } from '../../../../runtime/cluster/etcd/watch.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(20);
  }
}

/** Replays a watcher's change events into a map, to check that the events alone tell the whole story. */
function replay(w: PrefixWatcher): Map<string, string> {
  const m = new Map([...w.entries].map(([k, e]) => [k, e.value]));
  w.on('change', (c) => (c.type === 'put' ? m.set(c.key, c.entry!.value) : m.delete(c.key)));
  return m;
}

async function snapshot(client: Etcd3, prefix: string): Promise<Map<string, string>> {
  return new Map(Object.entries(await client.getAll().prefix(prefix).strings()));
}

describe('PrefixWatcher', () => {
  let etcd: EtcdTestCluster;
  let client: Etcd3;
  const watchers: PrefixWatcher[] = [];
  beforeAll(async () => {
    etcd = await startEtcdCluster();
    client = connectEtcd({ hostList: etcd.hostList });
  });
  afterEach(async () => {
    await Promise.all(watchers.splice(0).map((w) => w.stop()));
  });
  afterAll(async () => {
    client?.close();
    await etcd?.stop();
  });

  it('starts with the current keys under the prefix and applies later changes', async () => {
    await client.put('w1/a').value('1');
    const w = new PrefixWatcher(client, 'w1/');
    watchers.push(w);
    await w.start();
    const seen = replay(w);
    await client.put('w1/b').value('2');
    await client.delete().key('w1/a');
    await until(() => w.revision() >= 0 && seen.size === 1 && seen.get('w1/b') === '2');
    expect([...w.entries.keys()]).toEqual(['w1/b']);
  });

  it('misses no change across a restart of every etcd member in turn', async () => {
    const w = new PrefixWatcher(client, 'w2/', { rereadIntervalMs: 0 });
    watchers.push(w);
    await w.start();
    const seen = replay(w);
    let n = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        try {
          await client.put(`w2/k${n % 20}`).value(String(n));
          if (n % 7 === 0) await client.delete().key(`w2/k${(n + 3) % 20}`);
          n++;
        } catch {
          await sleep(20);
        }
      }
    })();
    for (const i of [0, 1, 2]) {
      await sleep(300);
      await etcd.stopMember(i);
      await sleep(500);
      await etcd.startMember(i);
    }
    writing = false;
    await writer;
    const truth = await snapshot(client, 'w2/');
    await until(() => JSON.stringify([...seen].sort()) === JSON.stringify([...truth].sort()));
    expect(n).toBeGreaterThan(20);
    expect(new Map([...w.entries].map(([k, e]) => [k, e.value]))).toEqual(truth);
  });

  it('recovers from a compaction past its revision by re-reading, emitting the missed changes', async () => {
    const w = new PrefixWatcher(client, 'w3/', { rereadIntervalMs: 0 });
    watchers.push(w);
    await client.put('w3/gone').value('x');
    await w.start();
    const seen = replay(w);
    // Stop the watch stream from delivering: pause it by cancelling the underlying watch,
    // write, compact past the applied revision, then resume from the stale revision.
    const internal = w as unknown as { watcher: { cancel(): Promise<void> } | null; rewatch(): void };
    const inner = internal.watcher!;
    internal.watcher = null;
    await inner.cancel();
    await client.put('w3/new').value('y');
    await client.delete().key('w3/gone');
    const rev = Number((await client.put('w3/last').value('z')).header.revision);
    await etcd.etcdctl(['compact', String(rev)]);
    const reasons: string[] = [];
    w.on('resync', (r: string) => reasons.push(r));
    internal.rewatch();
    await until(() => seen.get('w3/new') === 'y' && !seen.has('w3/gone') && seen.get('w3/last') === 'z');
    expect(w.revision()).toBeGreaterThanOrEqual(rev);
    expect(reasons.join()).toMatch(/watch error/);
  });

  it('periodic re-read repairs a watch that silently stopped delivering', async () => {
    const w = new PrefixWatcher(client, 'w4/', { rereadIntervalMs: 300 });
    watchers.push(w);
    await w.start();
    const seen = replay(w);
    const internal = w as unknown as { watcher: { removeAllListeners(e: string): void } };
    internal.watcher.removeAllListeners('data'); // the stream is "alive" but nothing arrives
    await client.put('w4/x').value('1');
    await until(() => seen.get('w4/x') === '1', 5000);
  });
});
