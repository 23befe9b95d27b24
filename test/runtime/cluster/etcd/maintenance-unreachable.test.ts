// With no member answering, maintenance says so: the revisions it would act on are unknown, not 0
// (a compact once answered "nothing to compact" and exit 0 with etcd down).
import { describe, expect, it } from 'vitest';
import { EtcdMaintenance, EtcdUnreachableError } from '../../../../runtime/cluster/etcd/maintenance.ts';

const down = new EtcdMaintenance({
  connect: (() => ({
    close() {},
    maintenance: {
      async status() {
        throw new Error('14 UNAVAILABLE: connect ECONNREFUSED');
      },
    },
  })) as never,
  members: [
    { name: 'etcd-01', host: '127.0.0.1:1' },
    { name: 'etcd-02', host: '127.0.0.1:2' },
  ],
});

describe('with no etcd member answering', () => {
  it.each([
    ['compact', () => down.compact()],
    ['defragAll', () => down.defragAll()],
    ['disarm', () => down.disarm()],
    ['moveLeader', () => down.moveLeader('etcd-02')],
  ])('%s throws EtcdUnreachableError naming every member', async (_name, call) => {
    const err = await call().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(EtcdUnreachableError);
    expect((err as EtcdUnreachableError).statuses.map((s) => s.name)).toEqual(['etcd-01', 'etcd-02']);
  });
});
