// The test bed itself: links between namespace hosts, cut and healed, one-way drops, cleanup.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killOnExit } from '../harness/runtime-process.ts';
import { sleep } from '../harness/until.ts';
import { TestBed, testBedUnavailable } from './netns.ts';

const unavailable = testBedUnavailable();

/** Connect from a namespace to ip:2379 and read one line; 'timeout' when nothing comes back in 1 s. */
function reach(ns: string, ip: string): string {
  const js = `const s=require('net').connect(2379,'${ip}');s.setTimeout(1000,()=>{console.log('timeout');process.exit(0)});s.on('data',d=>{console.log(String(d));process.exit(0)});s.on('error',e=>{console.log(e.code);process.exit(0)})`;
  return execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', js], { encoding: 'utf8' }).trim();
}

const namespaces = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]).filter((n) => n?.startsWith(`d13-${process.pid}-`));

describe.skipIf(unavailable !== null)('network-namespace test bed', () => {
  let bed: TestBed;
  beforeAll(async () => {
    bed = TestBed.create();
    bed.addHost('a', 11, ['control']);
    bed.addHost('b', 21, ['control', 'data']);
    const server = bed.spawn('a', process.execPath, ['-e', "require('net').createServer((s) => s.end('hi')).listen(2379)"]);
    killOnExit(server);
    await sleep(500);
  });
  afterAll(() => bed?.stop());

  it('connects hosts on the same network', () => {
    expect(reach(bed.hosts.get('b')!.ns, '10.13.1.11')).toBe('hi');
  });

  it('makes a cut link silent (no answer, no refusal) and a healed one answer again', async () => {
    bed.cut('b', 'control');
    expect(reach(bed.hosts.get('b')!.ns, '10.13.1.11')).toBe('timeout');
    bed.heal('b', 'control');
    await sleep(200);
    expect(reach(bed.hosts.get('b')!.ns, '10.13.1.11')).toBe('hi');
  });

  it('drops one direction with nftables and lifts the drop', () => {
    bed.drop('a', { direction: 'in', peer: '10.13.1.21' });
    expect(reach(bed.hosts.get('b')!.ns, '10.13.1.11')).toBe('timeout');
    bed.undrop('a');
    expect(reach(bed.hosts.get('b')!.ns, '10.13.1.11')).toBe('hi');
  });

  it('removes every namespace of the bed on stop', () => {
    expect(namespaces().length).toBeGreaterThan(0);
    bed.stop();
    expect(namespaces()).toEqual([]);
  });
});
