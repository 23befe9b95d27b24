// A test bed of simulated hosts: one Linux network namespace per host, joined by two networks
// (control: etcd, monitors, each node's and the proxy's second interface; data: proxy, nodes,
// clients), each a bridge in a "switch" namespace. The test process itself joins both networks
// through a veth pair, so it can drive clients and watch etcd. Links are cut and healed on the
// switch side (`ip link set <veth> down|up`: the host's packets vanish, nothing is refused), and
// one direction is dropped with an nftables table inside the host. Every name starts with
// `d13-` and carries the test process's pid (namespaces `d13-<pid>-<host>`, root-side veths
// `d13-tbc<pid>`, `d13-tbd<pid>`), so nothing collides with other engineers' beds and one test
// file's cleanup never touches the next one's. Everything is removed on stop(), on process exit,
// on SIGINT/SIGTERM, by a detached watchdog if the test process is killed outright, and as a
// leftover of a dead process when the next bed is built.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PREFIX = 'd13-';
/** This process's names: another process's exit hooks and watchdog never touch them. */
const TAG = `${PREFIX}${process.pid}-`;
const SWITCH = `${TAG}sw`;
const rootLink = (net: { sw: string }) => `${PREFIX}tb${net.sw[0]}${process.pid}`;
export type Net = 'control' | 'data';
const NET: Record<Net, { bridge: string; subnet: string; dev: string; sw: string }> = {
  control: { bridge: 'br-c', subnet: '10.13.1', dev: 'ethc', sw: 'c-' },
  data: { bridge: 'br-d', subnet: '10.13.2', dev: 'ethd', sw: 'd-' },
};

/** Why the multi-host suite cannot run here, or null when it can (root, `ip` and `nft`). */
export function testBedUnavailable(): string | null {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root (CI runs as root; run `sudo bin/test test/hosts`)';
  for (const bin of ['ip', 'nft']) {
    try {
      execFileSync(bin, ['-V'], { stdio: 'ignore' });
    } catch {
      return `\`${bin}\` is missing: apt-get install iproute2 nftables`;
    }
  }
  return null;
}

function sh(bin: string, args: string[], input?: string): string {
  try {
    return execFileSync(bin, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...(input === undefined ? {} : { input }) });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${bin} ${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
  }
}

const quiet = (bin: string, args: string[]) => {
  try {
    execFileSync(bin, args, { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
};

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Our namespaces: `d13-<pid>-<host>`, with the pid of the process that made them. */
function namespaces(): Array<{ ns: string; pid: number }> {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter((n) => n.startsWith(PREFIX))
      .map((ns) => ({ ns, pid: Number(/^d13-(\d+)-/.exec(ns)?.[1] ?? NaN) }));
  } catch {
    return [];
  }
}

/** Kill every process in the given namespaces and delete them. Synchronous, for exit handlers. */
function remove(names: string[]): void {
  for (const ns of names) {
    let pids = '';
    try {
      pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
    } catch {
      /* none */
    }
    for (const pid of pids.split(/\s+/).filter(Boolean)) quiet('kill', ['-9', pid]);
  }
  for (const ns of names) quiet('ip', ['netns', 'del', ns]);
}

/** This process's bed: its namespaces and root-side veths. */
function removeOwn(): void {
  remove(namespaces().filter((n) => n.ns.startsWith(TAG)).map((n) => n.ns));
  for (const net of Object.values(NET)) quiet('ip', ['link', 'del', rootLink(net)]);
}

/** Beds of processes that are gone (killed before their cleanup ran). */
function removeLeftovers(): void {
  remove(namespaces().filter((n) => n.pid !== process.pid && !(n.pid > 0 && alive(n.pid))).map((n) => n.ns));
  let links = '';
  try {
    links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  } catch {
    return;
  }
  for (const m of links.matchAll(/^\d+: (d13-tb[cd](\d+))[@:]/gm)) if (!alive(Number(m[2]))) quiet('ip', ['link', 'del', m[1]!]);
}

let hooks = false;
function installHooks(): void {
  if (hooks) return;
  hooks = true;
  process.on('exit', removeOwn);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      removeOwn();
      process.exit(130);
    });
  }
  // The test process killed with SIGKILL runs no handler: a detached shell cleans up after it.
  const dir = mkdtempSync(join(tmpdir(), `${PREFIX}watchdog-`));
  const script = join(dir, 'cleanup.sh');
  writeFileSync(
    script,
    [
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done`,
      `for ns in $(ip netns list | cut -d' ' -f1 | grep '^${TAG}'); do kill -9 $(ip netns pids "$ns") 2>/dev/null; done`,
      `for ns in $(ip netns list | cut -d' ' -f1 | grep '^${TAG}'); do ip netns del "$ns"; done`,
      `ip link del ${rootLink(NET.control)} 2>/dev/null; ip link del ${rootLink(NET.data)} 2>/dev/null; rm -rf '${dir}'`,
    ].join('\n'),
  );
  spawn('/bin/sh', [script], { detached: true, stdio: 'ignore' }).unref();
}

export interface NsHost {
  readonly name: string;
  /** The namespace (`d13-<pid>-<name>`). */
  readonly ns: string;
  /** Address per network the host is on. */
  readonly address: Partial<Record<Net, string>>;
}

export interface DropRule {
  /** Packets leaving the host (`out`) or arriving at it (`in`). */
  direction: 'in' | 'out';
  /** Only on this network's interface; default both. */
  net?: Net;
  /** Only to (out) or from (in) this address. */
  peer?: string;
}

/** The namespaces, bridges and links of one test bed. */
export class TestBed {
  readonly hosts = new Map<string, NsHost>();
  private readonly filtered = new Set<string>();

  private constructor() {}

  /** Remove leftovers of an earlier run, then create the switch with both bridges and the test process's links. */
  static create(): TestBed {
    const why = testBedUnavailable();
    if (why) throw new Error(why);
    installHooks();
    removeLeftovers();
    removeOwn();
    const other = namespaces().find((n) => !n.ns.startsWith(TAG));
    if (other) throw new Error(`another d13 test bed is running (namespace ${other.ns}); they share addresses, so run one at a time`);
    const bed = new TestBed();
    sh('ip', ['netns', 'add', SWITCH]);
    sh('ip', ['-n', SWITCH, 'link', 'set', 'lo', 'up']);
    for (const net of Object.values(NET)) {
      sh('ip', ['-n', SWITCH, 'link', 'add', net.bridge, 'type', 'bridge']);
      sh('ip', ['-n', SWITCH, 'link', 'set', net.bridge, 'up']);
      const root = rootLink(net);
      sh('ip', ['link', 'add', root, 'type', 'veth', 'peer', 'name', `${net.sw}tb`, 'netns', SWITCH]);
      sh('ip', ['-n', SWITCH, 'link', 'set', `${net.sw}tb`, 'master', net.bridge, 'up']);
      sh('ip', ['addr', 'add', `${net.subnet}.250/24`, 'dev', root]);
      sh('ip', ['link', 'set', root, 'up']);
    }
    return bed;
  }

  /** A host on the given networks; `address` is the last octet on each. */
  addHost(name: string, octet: number, nets: Net[]): NsHost {
    if (!/^[a-z0-9]{1,10}$/.test(name)) throw new Error(`host name must be 1-10 of [a-z0-9]: ${name}`);
    const ns = `${TAG}${name}`;
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    const address: Partial<Record<Net, string>> = {};
    for (const n of nets) {
      const net = NET[n];
      sh('ip', ['-n', SWITCH, 'link', 'add', `${net.sw}${name}`, 'type', 'veth', 'peer', 'name', net.dev, 'netns', ns]);
      sh('ip', ['-n', SWITCH, 'link', 'set', `${net.sw}${name}`, 'master', net.bridge, 'up']);
      sh('ip', ['-n', ns, 'addr', 'add', `${net.subnet}.${octet}/24`, 'dev', net.dev]);
      sh('ip', ['-n', ns, 'link', 'set', net.dev, 'up']);
      address[n] = `${net.subnet}.${octet}`;
    }
    const h: NsHost = { name, ns, address };
    this.hosts.set(name, h);
    return h;
  }

  /** Cut a host's link to a network on the switch side: its packets vanish both ways, nothing is refused. */
  cut(host: string, net: Net): void {
    sh('ip', ['-n', SWITCH, 'link', 'set', `${NET[net].sw}${this.host(host).name}`, 'down']);
  }

  heal(host: string, net: Net): void {
    sh('ip', ['-n', SWITCH, 'link', 'set', `${NET[net].sw}${this.host(host).name}`, 'up']);
  }

  /** Drop packets in one direction inside the host (nftables table `d13-faults` in its namespace). */
  drop(host: string, rule: DropRule): void {
    const h = this.host(host);
    if (!this.filtered.has(h.ns)) {
      sh('ip', ['netns', 'exec', h.ns, 'nft', '-f', '-'], [
        `table inet ${PREFIX}faults {`,
        '  chain in { type filter hook input priority 0; policy accept; }',
        '  chain out { type filter hook output priority 0; policy accept; }',
        '}',
      ].join('\n'));
      this.filtered.add(h.ns);
    }
    const match: string[] = [];
    if (rule.net) match.push(rule.direction === 'out' ? 'oifname' : 'iifname', `"${NET[rule.net].dev}"`);
    if (rule.peer) match.push('ip', rule.direction === 'out' ? 'daddr' : 'saddr', rule.peer);
    sh('ip', ['netns', 'exec', h.ns, 'nft', 'add', 'rule', 'inet', `${PREFIX}faults`, rule.direction, ...match, 'drop']);
  }

  /** Remove every drop rule of a host. */
  undrop(host: string): void {
    const h = this.host(host);
    if (!this.filtered.has(h.ns)) return;
    sh('ip', ['netns', 'exec', h.ns, 'nft', 'flush', 'table', 'inet', `${PREFIX}faults`]);
  }

  /** Start `bin args` inside a host's namespace. */
  spawn(host: string, bin: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.host(host).ns, bin, ...args], { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Kill everything in the namespaces and delete them. */
  stop(): void {
    removeOwn();
    this.hosts.clear();
  }

  private host(name: string): NsHost {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no host ${name} in the test bed`);
    return h;
  }
}

