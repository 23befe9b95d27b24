// Fault: the etcd leader changes every lease_ttl/2 (Maintenance.MoveLeader), which makes etcd
// renew every lease in full each time, and a node is killed with SIGKILL. Real 3-member etcd with
// the rendered lease checkpointing, three node processes, the monitor process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUCKETS } from '../../runtime/cluster/buckets.ts';
import { connectEtcd } from '../../runtime/cluster/etcd/client.ts';
import { EtcdMaintenance } from '../../runtime/cluster/etcd/maintenance.ts';
import { startEtcdCluster } from '../harness/etcd.ts';
import { startMonitor, type MonitorProcess } from '../harness/monitor.ts';
import { sleep, until } from '../harness/until.ts';
import { askNodeForLease } from '../../runtime/monitor/lease-expiry.ts';
import { ks, startNodeCluster, type NodeCluster } from '../runtime/node/node-cluster.ts';

const LEASE_TTL = 6;
const CHECKPOINTS = ['--experimental-enable-lease-checkpoint', '--experimental-enable-lease-checkpoint-persist'];

/** Moves the etcd leader round the members every `everyMs` until stopped; counts the moves. */
function churn(maint: EtcdMaintenance, names: string[], everyMs: number) {
  let stopped = false;
  let moves = 0;
  const loop = (async () => {
    for (let i = 0; !stopped; i++) {
      await sleep(everyMs);
      if (stopped) break;
      const statuses = await maint.memberStatuses();
      const leader = statuses.findIndex((s) => s.is_leader);
      await maint.moveLeader(names[(leader + 1) % names.length]!).then(
        () => moves++,
        () => undefined,
      );
    }
  })();
  return {
    moves: () => moves,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

const maintenanceOf = (hostList: string[], names: string[]) =>
  new EtcdMaintenance({ connect: (host) => connectEtcd({ hostList: [host] }), members: hostList.map((host, i) => ({ name: names[i]!, host })) });

describe('etcd leader churn', () => {
  it('keeps a lease that nobody renews alive in etcd alone (why the monitor guards leases)', async () => {
    const etcd = await startEtcdCluster({ extraArgs: CHECKPOINTS });
    const client = connectEtcd({ hostList: etcd.hostList });
    const maint = maintenanceOf(etcd.hostList, etcd.members.map((m) => m.name));
    try {
      const lease = await client.leaseClient.leaseGrant({ TTL: LEASE_TTL, ID: 0 });
      const c = churn(maint, etcd.members.map((m) => m.name), (LEASE_TTL * 1000) / 2);
      await sleep(LEASE_TTL * 1000 * 2.5);
      await c.stop();
      const ttl = await client.leaseClient.leaseTimeToLive({ ID: lease.ID, keys: false });
      expect(c.moves()).toBeGreaterThanOrEqual(4);
      expect(Number(ttl.TTL)).toBeGreaterThan(0);
    } finally {
      maint.close();
      client.close();
      await etcd.stop();
    }
  });

  describe('with the monitor', () => {
    let cluster: NodeCluster;
    let monitor: MonitorProcess;
    let maint: EtcdMaintenance;
    let names: string[];
    beforeAll(async () => {
      cluster = await startNodeCluster({ nodes: 3, leaseTtl: LEASE_TTL, etcdArgs: CHECKPOINTS });
      names = cluster.etcd.members.map((m) => m.name);
      maint = maintenanceOf(cluster.etcd.hostList, names);
      monitor = await startMonitor(cluster.etcd.hostList, { monitor_id: 'monitor-1', lease_ttl: LEASE_TTL, etcd_member_names: names });
    });
    afterAll(async () => {
      maint?.close();
      await monitor?.stop();
      await cluster?.stop();
    });

    it("moves a SIGKILLed node's buckets within lease_ttl + 5 s while the etcd leader changes every lease_ttl/2", async () => {
      const victim = cluster.nodes[2]!;
      const owned = async () => {
        const owners = await Promise.all(BUCKETS.map(async (b) => [b, await cluster.ownerOf(b)] as const));
        return owners.filter(([, o]) => o === victim.nodeId).map(([b]) => b);
      };
      await until('the victim owns buckets', async () => (await owned()).length > 0, 30_000);
      const c = churn(maint, names, (LEASE_TTL * 1000) / 2);
      try {
        await sleep(LEASE_TTL * 1000);
        const buckets = await owned();
        const movesBefore = c.moves();
        await victim.stop('SIGKILL');
        const killedAt = Date.now();
        await until(
          `the victim's ${buckets.length} buckets owned by other nodes`,
          async () => {
            const owners = await Promise.all(buckets.map((b) => cluster.ownerOf(b)));
            return owners.every((o) => o !== null && o !== victim.nodeId);
          },
          (LEASE_TTL + 15) * 1000,
          100,
        );
        const movedAfter = Date.now() - killedAt;
        const churned = c.moves() - movesBefore;
        console.log(`lease churn: ${buckets.length} buckets moved ${movedAfter} ms after SIGKILL (lease_ttl ${LEASE_TTL} s, ${churned} etcd leader changes meanwhile)`);
        expect(churned).toBeGreaterThanOrEqual(2);
        expect(movedAfter).toBeLessThanOrEqual((LEASE_TTL + 5) * 1000);
        // The monitor expired the lease (etcd kept renewing it), and no live node's.
        const revoked = monitor.logs.filter((l) => String(l.msg).startsWith('revoked a node lease')).map((l) => l.node_id);
        expect(revoked).toEqual([victim.nodeId]);
        // What spares a live node whose keepalives the readings miss: it answers GET /lease for
        // the lease it is registered on; the killed node answers nothing.
        for (const node of cluster.nodes) {
          const reg = await cluster.client.get(ks.node(node.nodeId)).string();
          const leaseId = reg ? (JSON.parse(reg) as { lease_id: string }).lease_id : '0';
          const answer = await askNodeForLease(node.url, node.nodeId, leaseId, LEASE_TTL * 1000, 1000);
          if (node === victim) expect(answer).toHaveProperty('reason');
          else expect(answer).toHaveProperty('validForMs');
        }
        const spared = monitor.logs.filter((l) => String(l.msg).startsWith('kept a node lease')).length;
        console.log(`lease churn: the monitor asked and spared live leases ${spared} times`);
      } finally {
        await c.stop();
      }
    });
  });
});
