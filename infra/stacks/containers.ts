// What each plan instance becomes as a Docker container: name, image choice, command, ports,
// healthcheck, volumes and which secrets it needs. Pure: the constructs in cluster-stack.ts
// only translate these specs into docker_container resources.
import { MONITOR_USER, PROXY_USER, WEB_USER } from '../../runtime/cluster/access-policy.ts';
import type { InstancePlan, Plan, RenderedFile, TlsFiles } from '../plan/types.ts';

/** etcd's binaries in the upstream (distroless, shell-less) image. */
export const ETCD_BIN = '/usr/local/bin/etcd';
export const ETCDCTL_BIN = '/usr/local/bin/etcdctl';

export type SecretName = 'privateKey' | 'adminToken' | 'storagePassword';

export type ImageChoice =
  | { readonly kind: 'runtime' }
  | { readonly kind: 'etcd' }
  /** An image named in cluster.yaml for this one instance (e.g. a SeaTable dtable-server). */
  | { readonly kind: 'override'; readonly name: string };

export interface ContainerSpec {
  readonly instance: InstancePlan;
  /** Container name on its Docker host: `<cluster>-<instance>`. */
  readonly containerName: string;
  readonly image: ImageChoice;
  /** null: the image's own default command (override images start their own services). */
  readonly command: readonly string[] | null;
  /** Plain (non-secret) environment, `NAME=value`. */
  readonly env: readonly string[];
  /** Secrets passed as environment variables, by the env var name the process reads. */
  readonly secrets: ReadonlyArray<{ readonly env: string; readonly secret: SecretName }>;
  /** Published on the Docker host at the same number; cluster.yaml rejects clashes per host. */
  readonly ports: readonly number[];
  /** Docker's exec form (`CMD`) or shell form (`CMD-SHELL`). */
  readonly healthcheck: readonly string[];
  /** Names other containers on the same Docker host resolve this one by. */
  readonly aliases: readonly string[];
  /** Rendered config files uploaded into the container before it starts. */
  readonly uploads: ReadonlyArray<{ readonly file: string; readonly content: string }>;
  /**
   * With etcd.tls: PEM files uploaded from sensitive Terraform variables (CA, and the member's
   * or the component's own certificate and key), by their path in the container.
   */
  readonly certificates: readonly string[];
  readonly dataVolume: string;
  readonly dataDir: string;
  /**
   * Where the node keeps base storage, which every node must share because bases move with their
   * buckets: mounted from the host's shared `bases` volume. null for other roles and for images
   * that are not ours.
   */
  readonly baseStorageDir: string | null;
}

/**
 * The node's default base storage folder below its data dir (`storage_dir` defaults to
 * `<data_dir>/bases`, runtime/config/files.ts); the rendered node config does not override it.
 */
export const NODE_STORAGE_SUBDIR = 'bases';

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** Every instance of the plan in a fixed order: etcd, nodes, proxy, monitors, web. */
export function instancesOfPlan(plan: Plan): InstancePlan[] {
  return [...plan.etcd.members, ...plan.nodes, plan.proxy, ...plan.monitors, plan.web];
}

/** Container specs for the whole plan, with the rendered files each container reads. */
export function containerSpecs(plan: Plan, files: readonly RenderedFile[]): ContainerSpec[] {
  const instances = instancesOfPlan(plan);
  // A host name shared by several instances on one Docker host (e.g. the proxy host, which
  // monitors and web default to) cannot be a network alias: it would resolve to any of them.
  const hostUse = new Map<string, number>();
  for (const i of instances) {
    const key = `${i.dockerHost}/${i.host.toLowerCase()}`;
    hostUse.set(key, (hostUse.get(key) ?? 0) + 1);
  }
  return instances.map((instance) => {
    const aliases = [instance.name];
    const host = instance.host.toLowerCase();
    if (!IPV4.test(host) && host !== instance.name && hostUse.get(`${instance.dockerHost}/${host}`) === 1) {
      aliases.push(host);
    }
    return specOf(plan, instance, aliases, uploadsOf(instance, files));
  });
}

/** The etcd certificate files an instance reads: its member certificate, or its etcd user's client certificate. */
export function tlsFilesOf(plan: Plan, instance: InstancePlan): TlsFiles | null {
  const tls = plan.etcd.tls;
  if (!tls) return null;
  const user = { node: instance.name, proxy: PROXY_USER, monitor: MONITOR_USER, web: WEB_USER, etcd: '' }[instance.kind];
  const files = instance.kind === 'etcd' ? tls.members[instance.name] : tls.clients[user];
  if (!files) throw new Error(`${instance.name}: no etcd certificate in the plan`);
  return files;
}

/** The one rendered file each container's process reads (`render --target docker` writes the same). */
export const CONFIG_FILE_NAME: Record<InstancePlan['kind'], string> = {
  etcd: 'etcd.conf.yml',
  node: 'dtable_server_config.json',
  proxy: 'dtable_server_config.json',
  monitor: 'monitor.json',
  web: 'web.json',
};

// The proxy's docker-compose.yml and the dtable-web / dtable-db fragments are for manual and
// SeaTable deployments; no container of these stacks reads them.
function uploadsOf(instance: InstancePlan, files: readonly RenderedFile[]): ContainerSpec['uploads'] {
  const path = `${instance.name}/${CONFIG_FILE_NAME[instance.kind]}`;
  const config = files.find((f) => f.path === path);
  if (!config || config.containerPath === '') throw new Error(`${instance.name}: no rendered ${path} with a container path`);
  return [{ file: config.containerPath, content: config.contents }];
}

function specOf(
  plan: Plan,
  instance: InstancePlan,
  aliases: string[],
  uploads: ContainerSpec['uploads'],
): ContainerSpec {
  const tls = tlsFilesOf(plan, instance);
  const base = {
    instance,
    containerName: `${plan.name}-${instance.name}`,
    aliases,
    uploads,
    certificates: tls ? [tls.ca_file, tls.cert_file, tls.key_file] : [],
    dataVolume: instance.dataVolume,
    dataDir: instance.dataDir,
    baseStorageDir: null,
  };
  const configPath = uploads[0]?.file ?? '';
  switch (instance.kind) {
    case 'etcd':
      return {
        ...base,
        image: { kind: 'etcd' },
        command: [ETCD_BIN, '--config-file', configPath],
        env: [],
        secrets: [],
        // Clients (ours and SeaTable's dtable-web) may sit anywhere; peers only need the host
        // port when members run on different Docker hosts, else they meet on the cluster network.
        ports: etcdSpansHosts(plan) ? [instance.clientPort, instance.peerPort] : [instance.clientPort],
        // Exec form: the etcd image is distroless and has no shell. With TLS, the member's own
        // certificate (not an etcd user: the health read is denied, which etcdctl counts as healthy).
        healthcheck: tls
          ? ['CMD', ETCDCTL_BIN, `--endpoints=https://127.0.0.1:${instance.clientPort}`, '--cacert', tls.ca_file, '--cert', tls.cert_file, '--key', tls.key_file, 'endpoint', 'health']
          : ['CMD', ETCDCTL_BIN, `--endpoints=http://127.0.0.1:${instance.clientPort}`, 'endpoint', 'health'],
      };
    case 'node': {
      const secrets: Array<{ env: string; secret: SecretName }> = [{ env: plan.secrets.privateKeyEnv, secret: 'privateKey' }];
      if (plan.storage.kind === 'mariadb') secrets.push({ env: plan.storage.passwordEnv, secret: 'storagePassword' });
      if (instance.image !== null) return overrideSpec(base, instance.image, [instance.port], secrets, []);
      return {
        ...base,
        // Filesystem storage: the host's shared bases volume. MariaDB storage: nothing shared on disk.
        baseStorageDir: plan.storage.kind === 'filesystem' ? `${instance.dataDir}/${NODE_STORAGE_SUBDIR}` : null,
        image: { kind: 'runtime' },
        command: runtimeCommand('node', configPath),
        env: ['NODE_ENV=production'],
        secrets,
        ports: [instance.port],
        healthcheck: nodeFetchHealthcheck(instance.port),
      };
    }
    case 'proxy': {
      const secrets = [{ env: plan.secrets.adminTokenEnv, secret: 'adminToken' as const }];
      const timeZone = [`TIME_ZONE=${instance.timeZone}`];
      const ports = [instance.port, instance.adminPort];
      if (instance.image !== null) return overrideSpec(base, instance.image, ports, secrets, timeZone);
      return {
        ...base,
        image: { kind: 'runtime' },
        command: runtimeCommand('proxy', configPath),
        env: ['NODE_ENV=production', ...timeZone, `TZ=${instance.timeZone}`],
        secrets,
        ports,
        // GET /health lives on the admin port (docs/proxy.md, Admin API); 503 until a node is live.
        healthcheck: nodeFetchHealthcheck(instance.adminPort),
      };
    }
    case 'monitor':
      return {
        ...base,
        image: { kind: 'runtime' },
        command: runtimeCommand('monitor', configPath),
        env: ['NODE_ENV=production'],
        secrets: [],
        ports: [instance.metricsPort],
        healthcheck: nodeFetchHealthcheck(instance.metricsPort),
      };
    case 'web':
      return {
        ...base,
        image: { kind: 'runtime' },
        command: runtimeCommand('web', configPath),
        env: ['NODE_ENV=production'],
        secrets: [
          { env: plan.secrets.privateKeyEnv, secret: 'privateKey' },
          { env: plan.secrets.adminTokenEnv, secret: 'adminToken' },
        ],
        ports: [instance.port],
        healthcheck: nodeFetchHealthcheck(instance.port),
      };
  }
}

type SpecBase = Pick<
  ContainerSpec,
  'instance' | 'containerName' | 'aliases' | 'uploads' | 'certificates' | 'dataVolume' | 'dataDir' | 'baseStorageDir'
>;

/**
 * An image named in cluster.yaml (e.g. SeaTable's dtable-server): it keeps its own entrypoint,
 * answers SeaTable's `GET /ping/` and ships curl, unlike our slim runtime image.
 */
function overrideSpec(
  base: SpecBase,
  image: string,
  ports: number[],
  secrets: ContainerSpec['secrets'],
  env: string[],
): ContainerSpec {
  return {
    ...base,
    image: { kind: 'override', name: image },
    command: null,
    env,
    secrets,
    ports,
    healthcheck: ['CMD-SHELL', `curl -fsS http://127.0.0.1:${ports[0]}/ping/ || exit 1`],
  };
}

function etcdSpansHosts(plan: Plan): boolean {
  return new Set(plan.etcd.members.map((m) => m.dockerHost)).size > 1;
}

/** How every runtime role starts: the same command the local launcher uses. */
export function runtimeCommand(role: 'monitor' | 'proxy' | 'node' | 'web', configPath: string): string[] {
  return ['node', '--import', 'tsx', `runtime/${role}/main.ts`, '--config', configPath];
}

/** node:20-slim has no curl or wget; Node's own fetch checks GET /health. */
function nodeFetchHealthcheck(port: number): string[] {
  const script = `fetch('http://127.0.0.1:${port}/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`;
  return ['CMD', 'node', '-e', script];
}
