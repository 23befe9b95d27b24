// The NOSPACE recovery's last step (`etcd disarm`, no --alarm) clears NOSPACE only: a CORRUPT alarm
// raised at the same time stays until an operator clears it on purpose.
import { describe, expect, it } from 'vitest';
import { EtcdMaintenance } from '../../../../runtime/cluster/etcd/maintenance.ts';

describe('disarm()', () => {
  it('without a type deactivates NOSPACE and leaves CORRUPT raised', async () => {
    const deactivated: string[] = [];
    const connect = () => ({
      close() {},
      maintenance: {
        async status() { return { header: { member_id: '1', revision: '5' }, leader: '1', dbSize: '1', dbSizeInUse: '1', raftTerm: '1', raftIndex: '1', version: '3.5' }; },
        async alarm(req: { action: string; alarm: string }) {
          if (req.action === 'Deactivate') { deactivated.push(req.alarm); return { alarms: [] }; }
          return { alarms: [{ memberID: '1', alarm: 'NOSPACE' }, { memberID: '2', alarm: 'CORRUPT' }] };
        },
      },
    });
    const m = new EtcdMaintenance({ connect: connect as never, members: [{ name: 'a', host: 'a' }] });
    await m.disarm();
    expect(deactivated).toEqual(['Nospace']);
  });
});
