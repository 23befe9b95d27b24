// A small network-namespace rig for the MariaDB storage fault cases (issue 14; names prefixed
// `d14-` so they never meet another engineer's): one namespace host `d14-n1` joined to the root
// namespace by a veth pair (10.14.1.250 root side, 10.14.1.1 inside), TCP forwarders on
// 10.14.1.250 that give the namespace host the loopback services (etcd members, MariaDB) at the
// same ports, and an nftables table `d14-cut` that drops chosen traffic from the namespace host.
// Dropping (not rejecting) is what a cut cable does: open connections hang. Everything is removed
// by close(), and on process exit if a test forgot. Needs root, iproute2 and nftables.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { resolve } from 'node:path';
import { killOnExit } from '../harness/runtime-process.ts';
import { until } from '../harness/until.ts';

export const NS = 'd14-n1';
const VETH = 'd14-v1';
const VETH_NS = 'd14-v1n';
export const ROOT_IP = '10.14.1.250';
export const NS_IP = '10.14.1.1';
const TABLE = 'd14-cut';
const ROOT = resolve(import.meta.dirname, '../..');

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const quiet = (cmd: string, args: string[]) => {
  try {
    sh(cmd, args);
  } catch {
    /* already gone */
  }
};

function teardown(): void {
  quiet('nft', ['delete', 'table', 'inet', TABLE]);
  quiet('ip', ['netns', 'del', NS]);
  quiet('ip', ['link', 'del', VETH]);
}

/** Whether this machine can run the rig (root, ip, nft). */
export function netnsAvailable(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    sh('ip', ['netns', 'list']);
    sh('nft', ['list', 'tables']);
    return true;
  } catch {
    return false;
  }
}

export class D14Netns {
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();

  static async create(): Promise<D14Netns> {
    teardown();
    process.once('exit', teardown);
    sh('ip', ['netns', 'add', NS]);
    sh('ip', ['link', 'add', VETH, 'type', 'veth', 'peer', 'name', VETH_NS]);
    sh('ip', ['link', 'set', VETH_NS, 'netns', NS]);
    sh('ip', ['addr', 'add', `${ROOT_IP}/24`, 'dev', VETH]);
    sh('ip', ['link', 'set', VETH, 'up']);
    sh('ip', ['-n', NS, 'addr', 'add', `${NS_IP}/24`, 'dev', VETH_NS]);
    sh('ip', ['-n', NS, 'link', 'set', VETH_NS, 'up']);
    sh('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
    sh('nft', ['add', 'table', 'inet', TABLE]);
    sh('nft', ['add', 'chain', 'inet', TABLE, 'input', '{ type filter hook input priority -10 ; policy accept ; }']);
    return new D14Netns();
  }

  /** Serve 127.0.0.1:port on ROOT_IP:port for the namespace host. */
  async forward(port: number): Promise<void> {
    const srv = createServer((client) => {
      const upstream = createConnection({ host: '127.0.0.1', port });
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((r, j) => srv.once('error', j).listen(port, ROOT_IP, () => r()));
    this.servers.push(srv);
  }

  /** Drop every packet from the namespace host to these root-side ports (a cut link, one way in). */
  cut(ports: number[]): void {
    sh('nft', ['add', 'rule', 'inet', TABLE, 'input', 'ip', 'saddr', NS_IP, 'tcp', 'dport', `{ ${ports.join(', ')} }`, 'drop']);
  }

  /** Remove every cut. */
  heal(): void {
    sh('nft', ['flush', 'chain', 'inet', TABLE, 'input']);
  }

  /** `node --import tsx runtime/node/main.ts --config FILE` inside the namespace host. */
  spawnNode(configFile: string, env: Record<string, string>, logs: string[]): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', NS, process.execPath, '--import', 'tsx', 'runtime/node/main.ts', '--config', configFile], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    killOnExit(p);
    const keep = (b: Buffer) => {
      logs.push(b.toString());
      if (logs.length > 2000) logs.splice(0, 1000);
    };
    p.stdout!.on('data', keep);
    p.stderr!.on('data', keep);
    return p;
  }

  async waitHealthy(url: string): Promise<void> {
    await until(`${url}health`, async () => (await fetch(`${url}health`, { signal: AbortSignal.timeout(2000) })).ok, 30_000, 100);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(r))));
    teardown();
    process.off('exit', teardown);
  }
}
