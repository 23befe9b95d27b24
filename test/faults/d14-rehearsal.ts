// Deploy rehearsal rig (issue 14): runs what a synthesized cdk.tf.json would deploy, one Linux
// network namespace per Docker host, every docker_container as a process on its host's
// namespace: its command, its environment (test values for the sensitive variables), its
// uploaded files and its volumes as private directories (paths rewritten below a temp dir), and
// etcd and MariaDB from Debian's binaries in place of their images. The hosts' addresses are the
// ones cluster.yaml gives (names resolve through /etc/netns/<ns>/hosts, which `ip netns exec`
// mounts over /etc/hosts). Names are prefixed `d14-`; close() removes everything, and so does
// process exit. Needs root, iproute2 and nftables-free networking (a bridge and veth pairs).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { startLocalMariadb, type LocalMariadb } from '../../infra/local/mariadb.ts';
import type { Plan } from '../../infra/plan/types.ts';
import { killOnExit } from '../harness/runtime-process.ts';
import { sleep } from '../harness/until.ts';

const REPO = resolve(import.meta.dirname, '../..');
const BRIDGE = 'd14-rb';
export const CLIENT_IP = '10.14.2.250';

export interface ContainerJson {
  name: string;
  provider: string;
  image: string;
  command?: string[];
  env?: string[];
  upload?: Array<{ file: string; content: string }>;
  volumes?: Array<{ container_path: string; volume_name: string }>;
  healthcheck?: { test: string[] };
  depends_on?: string[];
}

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const quiet = (cmd: string, args: string[]) => {
  try {
    sh(cmd, args);
  } catch {
    /* gone */
  }
};

/** Terraform's view of an uploaded literal: `$${` and `%%{` are escapes. */
const literal = (s: string) => s.replaceAll('$${', '${').replaceAll('%%{', '%{');

export interface RunningContainer {
  readonly name: string;
  readonly ns: string;
  readonly logs: string[];
  proc: ChildProcess | null;
  db?: LocalMariadb;
}

export class D14Rehearsal {
  /** Docker host (provider alias) → namespace name. */
  readonly nsOf = new Map<string, string>();
  /** Host name or IP of cluster.yaml → address on the rehearsal network. */
  readonly addressOf = new Map<string, string>();
  readonly containers = new Map<string, RunningContainer>();
  private readonly veths: string[] = [];

  private constructor(
    readonly dir: string,
    private readonly vars: Record<string, string>,
  ) {}

  /**
   * Builds the network: a namespace per docker host of the plan, each holding the addresses of
   * the instances placed on it; the test process joins as CLIENT_IP.
   */
  static create(plan: Plan, dir: string, vars: Record<string, string>): D14Rehearsal {
    const r = new D14Rehearsal(dir, vars);
    // Leftovers of an earlier run that died before its cleanup.
    for (let i = 1; i <= 16; i++) {
      quiet('ip', ['netns', 'del', `d14-r${i}`]);
      rmSync(`/etc/netns/d14-r${i}`, { recursive: true, force: true });
      quiet('ip', ['link', 'del', `d14-rv${i}`]);
    }
    quiet('ip', ['link', 'del', BRIDGE]);
    process.once('exit', () => r.teardown());
    const hostsOn = new Map<string, Set<string>>();
    const place = (dockerHost: string, host: string) => hostsOn.set(dockerHost, (hostsOn.get(dockerHost) ?? new Set()).add(host));
    for (const m of plan.etcd.members) place(m.dockerHost, m.host);
    for (const n of plan.nodes) place(n.dockerHost, n.host);
    place(plan.proxy.dockerHost, plan.proxy.host);
    for (const m of plan.monitors) place(m.dockerHost, m.host);
    place(plan.web.dockerHost, plan.web.host);
    if (plan.storage.kind === 'mariadb' && plan.storage.server) place(plan.storage.server.dockerHost, plan.storage.host);
    let next = 10;
    for (const hosts of hostsOn.values()) for (const h of hosts) r.addressOf.set(h, /^\d+(\.\d+){3}$/.test(h) ? h : `10.14.2.${next++}`);

    sh('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
    sh('ip', ['addr', 'add', `${CLIENT_IP}/24`, 'dev', BRIDGE]);
    sh('ip', ['link', 'set', BRIDGE, 'up']);
    const all = [...r.addressOf.values()];
    for (const a of all) if (!a.startsWith('10.14.2.')) sh('ip', ['route', 'add', `${a}/32`, 'dev', BRIDGE]);
    const hostsFile = ['127.0.0.1 localhost', ...[...r.addressOf].filter(([h, a]) => h !== a).map(([h, a]) => `${a} ${h}`)].join('\n') + '\n';
    let i = 0;
    for (const [dockerHost, hosts] of hostsOn) {
      i++;
      const ns = `d14-r${i}`;
      const veth = `d14-rv${i}`;
      r.nsOf.set(dockerHost, ns);
      r.veths.push(veth);
      sh('ip', ['netns', 'add', ns]);
      mkdirSync(`/etc/netns/${ns}`, { recursive: true });
      writeFileSync(`/etc/netns/${ns}/hosts`, hostsFile);
      sh('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}n`]);
      sh('ip', ['link', 'set', `${veth}n`, 'netns', ns]);
      sh('ip', ['link', 'set', veth, 'master', BRIDGE, 'up']);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      sh('ip', ['-n', ns, 'link', 'set', `${veth}n`, 'up']);
      for (const h of hosts) sh('ip', ['-n', ns, 'addr', 'add', `${r.addressOf.get(h)}/32`, 'dev', `${veth}n`]);
      sh('ip', ['-n', ns, 'route', 'add', '10.14.2.0/24', 'dev', `${veth}n`]);
      for (const a of all) if (!a.startsWith('10.14.2.') && ![...hosts].some((h) => r.addressOf.get(h) === a)) sh('ip', ['-n', ns, 'route', 'add', `${a}/32`, 'dev', `${veth}n`]);
    }
    return r;
  }

  /** `${var.x}` → the test value of x; every other character as written. */
  private substitute(s: string): string {
    return s.replace(/\$\{var\.([a-z0-9_]+)\}/g, (_, v: string) => {
      const value = this.vars[v];
      if (value === undefined) throw new Error(`no test value for var.${v}`);
      return value;
    });
  }

  /** A container path below its private root (uploads and volumes). */
  private hostPath(container: string, p: string): string {
    return join(this.dir, container, p);
  }

  /** Starts one docker_container of the JSON on its host's namespace. */
  async start(name: string, c: ContainerJson): Promise<RunningContainer> {
    const ns = this.nsOf.get(c.provider.replace(/^docker\./, ''));
    if (!ns) throw new Error(`${name}: no namespace for provider ${c.provider}`);
    const volumes = (c.volumes ?? []).map((v) => v.container_path);
    for (const v of volumes) mkdirSync(this.hostPath(name, v), { recursive: true });
    // Paths a process sees: its uploads and its volumes, rewritten below its private root.
    const rewrite = (text: string) => {
      let out = text;
      for (const v of [...volumes].sort((a, b) => b.length - a.length)) {
        out = out.replace(new RegExp(`(["\\s=]|^)${v.replace(/[/.]/g, '\\$&')}(?=["/\\s]|$)`, 'gm'), `$1${this.hostPath(name, v)}`);
      }
      return out;
    };
    const uploads = new Map<string, string>();
    for (const u of c.upload ?? []) {
      const target = this.hostPath(name, u.file);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, rewrite(this.substitute(literal(u.content))));
      uploads.set(u.file, target);
    }
    const env: Record<string, string> = {};
    for (const e of c.env ?? []) {
      const i = e.indexOf('=');
      env[e.slice(0, i)] = this.substitute(e.slice(i + 1));
    }
    const logs: string[] = [];
    const running: RunningContainer = { name, ns, logs, proc: null };
    this.containers.set(name, running);

    if (c.image.includes('mariadb_image')) {
      const port = Number((c.command ?? []).find((a) => a.startsWith('--port='))?.slice(7) ?? 3306);
      running.db = await startLocalMariadb({
        dir: this.hostPath(name, volumes[0] ?? '/var/lib/mysql'),
        host: '0.0.0.0',
        port,
        database: env.MARIADB_DATABASE!,
        user: env.MARIADB_USER!,
        password: env.MARIADB_PASSWORD!,
        logFile: this.hostPath(name, 'mariadbd.log'),
        prefix: ['ip', 'netns', 'exec', ns],
      });
      return running;
    }
    const command = (c.command ?? []).map((a) => uploads.get(a) ?? rewrite(a));
    if (command[0] === '/usr/local/bin/etcd') command[0] = 'etcd';
    else if (command[0] === 'node') command[0] = process.execPath;
    else throw new Error(`${name}: no stand-in for command ${command[0]}`);
    const p = spawn('ip', ['netns', 'exec', ns, ...command], { cwd: REPO, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(p);
    const keep = (b: Buffer) => {
      logs.push(b.toString());
      if (logs.length > 2000) logs.splice(0, 1000);
    };
    p.stdout!.on('data', keep);
    p.stderr!.on('data', keep);
    running.proc = p;
    return running;
  }

  /** Runs the container's own healthcheck (exec form) on its namespace; true when it exits 0. */
  healthy(name: string, c: ContainerJson): boolean {
    const test = c.healthcheck?.test ?? [];
    if (test[0] !== 'CMD') throw new Error(`${name}: healthcheck ${test[0]} not supported`);
    const cmd = test.slice(1).map((a) => (a === 'node' ? process.execPath : a === '/usr/local/bin/etcdctl' ? 'etcdctl' : a));
    if (cmd[0] === 'healthcheck.sh') return this.containers.get(name)?.db?.running ?? false;
    const ns = this.containers.get(name)?.ns;
    if (!ns) return false;
    return spawnSync('ip', ['netns', 'exec', ns, ...cmd], { timeout: 5000, stdio: 'ignore' }).status === 0;
  }

  async waitHealthy(name: string, c: ContainerJson, timeoutMs = 60_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!this.healthy(name, c)) {
      const r = this.containers.get(name);
      if (r?.proc && r.proc.exitCode !== null) throw new Error(`${name} exited (${r.proc.exitCode}):\n${r.logs.join('').slice(-2000)}`);
      if (Date.now() > end) throw new Error(`${name} not healthy within ${timeoutMs} ms:\n${r?.logs.join('').slice(-2000)}`);
      await sleep(200);
    }
  }

  async stop(name: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const r = this.containers.get(name);
    if (r?.db) return r.db.stop();
    const p = r?.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((res) => p.once('exit', res));
    p.kill(signal);
    await exited;
  }

  private teardown(): void {
    for (const r of this.containers.values()) {
      r.proc?.kill('SIGKILL');
      r.db?.signal('SIGKILL');
    }
    for (const ns of this.nsOf.values()) {
      quiet('ip', ['netns', 'del', ns]);
      rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
    }
    for (const v of this.veths) quiet('ip', ['link', 'del', v]);
    quiet('ip', ['link', 'del', BRIDGE]);
  }

  async close(): Promise<void> {
    await Promise.all([...this.containers.keys()].map((n) => this.stop(n, 'SIGKILL').catch(() => undefined)));
    this.teardown();
  }
}
