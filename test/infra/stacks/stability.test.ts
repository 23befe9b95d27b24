import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { fixtureText, synthText, type Synthesized } from './synth.ts';

/** `type.name` → the resource's JSON, for every resource of a synthesized stack. */
function addresses(s: Synthesized): Map<string, string> {
  const out = new Map<string, string>();
  for (const [type, byName] of Object.entries(s.json.resource)) {
    for (const [name, body] of Object.entries(byName)) out.set(`${type}.${name}`, JSON.stringify(body));
  }
  return out;
}

/** Addresses added, removed or changed between two synths. */
function changed(before: Synthesized, after: Synthesized): string[] {
  const a = addresses(before);
  const b = addresses(after);
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((k) => a.get(k) !== b.get(k)).sort();
}

function edit(fixture: string, change: (doc: ReturnType<typeof parseDocument>) => void): string {
  const doc = parseDocument(fixtureText(fixture));
  change(doc);
  return doc.toString();
}

describe('changing one node in cluster.yaml', () => {
  const before = synthText(fixtureText('three-host.yaml'));

  it('changes only that node container when its weight changes', () => {
    const after = synthText(edit('three-host.yaml', (d) => d.setIn(['nodes', 1, 'weight'], 3)));
    expect(changed(before, after)).toEqual(['docker_container.dtable-server-02']);
  });

  it('changes only that node container when its public URL changes', () => {
    const after = synthText(edit('three-host.yaml', (d) => d.setIn(['nodes', 2, 'node_url'], 'https://c2.example.com/')));
    expect(changed(before, after)).toEqual(['docker_container.dtable-server-03']);
  });

  it('adds only the new node container and its volume when a node is added', () => {
    const after = synthText(
      edit('three-host.yaml', (d) => {
        const nodes = d.get('nodes') as { add(v: unknown): void };
        nodes.add(
          d.createNode({
            node_id: 'dtable-server-04',
            node_url: 'https://d.example.com/',
            local_node_url: 'http://10.0.0.3:5001/',
            port: 5001,
            docker_host: 'host-c',
          }),
        );
      }),
    );
    expect(changed(before, after)).toEqual(['docker_container.dtable-server-04', 'docker_volume.dtable-server-04_data']);
  });

  it('changes only that node container and adds its image when it switches to a SeaTable image', () => {
    const single = synthText(fixtureText('single-host.yaml'));
    const after = synthText(edit('single-host.yaml', (d) => d.setIn(['nodes', 0, 'image'], 'seatable/seatable-enterprise:5.2.7')));
    expect(changed(single, after)).toEqual(['docker_container.dtable-server-01', 'docker_image.dtable-server-01_image']);
  });
});
