// Acceptance 1: the unmodified npm client `seatable-api`, pointed at the web role, works against
// bases whose buckets belong to different nodes, each served by its bucket's owner.
import seatable from 'seatable-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, bucketOf, startNodeCluster, type NodeCluster } from './node-cluster.ts';

let cluster: NodeCluster;
beforeAll(async () => {
  cluster = await startNodeCluster({ nodes: 2, web: true });
});
afterAll(async () => {
  await cluster?.stop();
});

async function createBase(name: string): Promise<{ dtable_uuid: string; api_token: string }> {
  const res = await fetch(`${cluster.web!.url}/api/v2.1/dtables/`, {
    method: 'POST',
    headers: { authorization: `Token ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  expect(res.status).toBe(201);
  return res.json() as Promise<{ dtable_uuid: string; api_token: string }>;
}

describe('seatable-api against the cluster', () => {
  it('runs auth, metadata, tables and row calls on bases owned by different nodes, each on its owner', async () => {
    // Buckets alternate between the two nodes; create bases until both nodes own one.
    const byNode = new Map<string, { dtable_uuid: string; api_token: string }>();
    for (let i = 0; byNode.size < 2 && i < 50; i++) {
      const b = await createBase(`base-${i}`);
      await cluster.waitOwner(bucketOf(b.dtable_uuid), (await cluster.client.get(`assign-${bucketOf(b.dtable_uuid)}`).string())!);
      const owner = (await cluster.ownerOf(bucketOf(b.dtable_uuid)))!;
      if (!byNode.has(owner)) byNode.set(owner, b);
    }
    expect([...byNode.keys()].sort()).toEqual(['dtable-server-01', 'dtable-server-02']);

    for (const [owner, created] of byNode) {
      const node = cluster.nodes.find((n) => n.nodeId === owner)!;
      const base = new seatable.Base({ server: cluster.web!.url, APIToken: created.api_token });
      await base.auth();
      expect(base.dtableServer).toBe(node.url);
      const servedBy: string[] = [];
      (base.req.defaults.transformResponse as Array<(d: unknown, h: Record<string, string>) => unknown>).push((data, headers) => {
        servedBy.push(headers['x-dtable-server-node']!);
        return data;
      });

      await base.addTable('Contacts', 'en', [{ column_name: 'Name', column_type: 'text' }, { column_name: 'Age', column_type: 'number' }]);
      const meta = await base.getMetadata();
      expect(meta.tables.map((t: { name: string }) => t.name)).toEqual(['Contacts']);
      const row = await base.appendRow('Contacts', { Name: 'Ada', Age: 36 });
      expect(row._id).toEqual(expect.any(String));
      const batch = await base.batchAppendRows('Contacts', [{ Name: 'Bob', Age: 1 }, { Name: 'Cy', Age: 2 }]);
      expect(batch.inserted_row_count).toBe(2);
      await base.updateRow('Contacts', row._id, { Age: 37 });
      await base.deleteRow('Contacts', batch.row_ids[0]._id);
      const rows = await base.listRows('Contacts');
      expect(rows.map((r: { Name: string; Age: number }) => [r.Name, r.Age])).toEqual([['Ada', 37], ['Cy', 2]]);

      expect(servedBy.length).toBeGreaterThanOrEqual(7);
      expect(new Set(servedBy)).toEqual(new Set([owner]));
    }
  });
});
