// The whole cluster as one Terraform stack: per Docker host a provider, a network, images and
// data volumes; per plan instance a container with its rendered config uploaded. Consumes only a
// resolved docker Plan and the rendered files, never cluster.yaml.
import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { Volume } from '@cdktf/provider-docker/lib/volume/index.js';
import { TerraformStack } from 'cdktf';
import type { Construct } from 'constructs';
import type { Plan, RenderedFile } from '../plan/types.ts';
import { containerSpecs, type ContainerSpec } from './containers.ts';
import { DockerHost } from './docker-host.ts';
import { mariadbContainerSpec, type MariadbContainerSpec } from './mariadb.ts';
import { prometheusContainerSpec, type PrometheusContainerSpec } from './prometheus.ts';
import { logicalId } from './names.ts';
import { ClusterSecrets } from './secrets.ts';

export interface ClusterStackProps {
  readonly plan: Plan;
  /** `renderPlan(plan)`: the same files `dtable-cluster render --target docker` writes. */
  readonly files: readonly RenderedFile[];
  /** Folder holding the Dockerfile, relative to the synthesized stack's folder. */
  readonly buildContext: string;
  /** Hash of the image's sources; a change rebuilds the runtime image. */
  readonly sourceHash: string;
}

/** How long `apply` waits for a container to report healthy before failing. */
export const HEALTHY_WAIT_SECONDS = 180;

export class ClusterStack extends TerraformStack {
  readonly hosts: ReadonlyMap<string, DockerHost>;

  constructor(scope: Construct, id: string, props: ClusterStackProps) {
    super(scope, id);
    const { plan } = props;
    if (plan.target !== 'docker') {
      throw new Error(`ClusterStack needs a docker plan, got target "${plan.target}"`);
    }
    const specs = containerSpecs(plan, props.files);
    const db = mariadbContainerSpec(plan);
    const prom = prometheusContainerSpec(plan, props.files);
    const secrets = new ClusterSecrets(this, 'secrets', plan.secrets, plan.etcd.tls, plan.storage);

    const hosts = new Map<string, DockerHost>();
    for (const h of plan.dockerHosts) {
      const onHost = specs.filter((s) => s.instance.dockerHost === h.name);
      if (onHost.length === 0 && db?.server.dockerHost !== h.name && prom?.server.dockerHost !== h.name) continue;
      hosts.set(
        h.name,
        new DockerHost(this, `host-${h.name}`, {
          clusterName: plan.name,
          hostName: h.name,
          url: h.url,
          runtimeImage: plan.runtimeImage,
          buildContext: props.buildContext,
          sourceHash: props.sourceHash,
          etcdImage: plan.etcd.image,
          needsRuntime: onHost.some((s) => s.image.kind === 'runtime'),
          needsEtcd: onHost.some((s) => s.image.kind === 'etcd'),
        }),
      );
    }
    this.hosts = hosts;

    const hostOf = (spec: ContainerSpec): DockerHost => {
      const host = hosts.get(spec.instance.dockerHost);
      if (!host) throw new Error(`${spec.instance.name}: docker host "${spec.instance.dockerHost}" is not in the plan`);
      return host;
    };

    // etcd (and MariaDB) first: every other container waits for them to be healthy; nodes also
    // wait for MariaDB, which holds their bases.
    const etcd = specs.filter((s) => s.instance.kind === 'etcd').map((s) => this.container(s, hostOf(s), secrets, []));
    const dbHost = db ? hosts.get(db.server.dockerHost) : undefined;
    if (db && !dbHost) throw new Error(`mariadb: docker host "${db.server.dockerHost}" is not in the plan`);
    const mariadb = db && dbHost ? [this.mariadbContainer(db, dbHost, secrets)] : [];
    for (const spec of specs.filter((s) => s.instance.kind !== 'etcd')) {
      this.container(spec, hostOf(spec), secrets, spec.instance.kind === 'node' ? [...etcd, ...mariadb] : etcd);
    }
    if (prom) {
      const promHost = hosts.get(prom.server.dockerHost);
      if (!promHost) throw new Error(`prometheus: docker host "${prom.server.dockerHost}" is not in the plan`);
      this.prometheusContainer(prom, promHost, secrets);
    }
  }

  private prometheusContainer(spec: PrometheusContainerSpec, host: DockerHost, secrets: ClusterSecrets): Container {
    return this.serviceContainer(spec.server, host, {
      containerName: spec.containerName,
      command: spec.command,
      env: [],
      healthcheck: spec.healthcheck,
      startPeriod: '30s',
      aliases: [spec.server.name],
      upload: [
        ...spec.uploads.map((u) => ({ file: u.file, content: terraformLiteral(u.content) })),
        // The token reaches the file through the variable, never the synthesized JSON.
        { file: spec.adminTokenFile, content: secrets.value('adminToken') },
      ],
    });
  }

  private mariadbContainer(spec: MariadbContainerSpec, host: DockerHost, secrets: ClusterSecrets): Container {
    return this.serviceContainer(spec.server, host, {
      containerName: spec.containerName,
      command: spec.command,
      env: [...spec.env, `${spec.passwordEnv}=${secrets.value('storagePassword')}`],
      healthcheck: spec.healthcheck,
      startPeriod: '60s',
      aliases: spec.aliases,
      upload: [],
    });
  }

  /** A container of an image that is not ours (MariaDB, Prometheus): its data on a named volume, its port published on its host. */
  private serviceContainer(
    server: { readonly name: string; readonly image: string; readonly port: number; readonly dataVolume: string; readonly dataDir: string },
    host: DockerHost,
    opts: {
      containerName: string;
      command: readonly string[];
      env: readonly string[];
      healthcheck: readonly string[];
      startPeriod: string;
      aliases: readonly string[];
      upload: Array<{ file: string; content: string }>;
    },
  ): Container {
    const volume = new Volume(this, `${server.name}-data`, { provider: host.provider, name: server.dataVolume });
    volume.overrideLogicalId(logicalId(server.name, 'data'));
    const container = new Container(this, server.name, {
      provider: host.provider,
      name: opts.containerName,
      hostname: server.name,
      image: host.overrideImage(server.name, server.image).imageId,
      command: [...opts.command],
      ...(opts.env.length > 0 ? { env: [...opts.env] } : {}),
      ports: [{ internal: server.port, external: server.port }],
      restart: 'unless-stopped',
      healthcheck: { test: [...opts.healthcheck], interval: '10s', timeout: '5s', startPeriod: opts.startPeriod, retries: 5 },
      networksAdvanced: [{ name: host.network.name, aliases: [...opts.aliases] }],
      ...(opts.upload.length > 0 ? { upload: opts.upload } : {}),
      volumes: [{ volumeName: volume.name, containerPath: server.dataDir }],
      wait: true,
      waitTimeout: HEALTHY_WAIT_SECONDS,
    });
    container.overrideLogicalId(logicalId(server.name));
    return container;
  }

  private container(spec: ContainerSpec, host: DockerHost, secrets: ClusterSecrets, dependsOn: Container[]): Container {
    const name = spec.instance.name;
    const volume = spec.dataVolume
      ? new Volume(this, `${name}-data`, { provider: host.provider, name: spec.dataVolume })
      : null;
    volume?.overrideLogicalId(logicalId(name, 'data'));

    const container = new Container(this, name, {
      provider: host.provider,
      name: spec.containerName,
      hostname: name,
      image: imageIdOf(spec, host),
      ...(spec.command ? { command: [...spec.command] } : {}),
      env: [...spec.env, ...spec.secrets.map((s) => secrets.envEntry(s.env, s.secret))],
      ports: spec.ports.map((p) => ({ internal: p, external: p })),
      restart: 'unless-stopped',
      healthcheck: {
        test: [...spec.healthcheck],
        interval: '10s',
        timeout: '5s',
        startPeriod: '30s',
        retries: 5,
      },
      networksAdvanced: [{ name: host.network.name, aliases: [...spec.aliases] }],
      upload: [
        ...spec.uploads.map((u) => ({ file: u.file, content: terraformLiteral(u.content) })),
        ...spec.certificates.map((file) => ({ file, content: secrets.certificate(file) })),
      ],
      volumes: [
        ...(volume ? [{ volumeName: volume.name, containerPath: spec.dataDir }] : []),
        // Mounted inside the data volume; Docker mounts the shallower path first.
        ...(spec.baseStorageDir
          ? [{ volumeName: host.baseStorageVolume().name, containerPath: spec.baseStorageDir }]
          : []),
      ],
      // apply returns only once the container's healthcheck passes; dependants start after it.
      wait: true,
      waitTimeout: HEALTHY_WAIT_SECONDS,
      dependsOn,
    });
    container.overrideLogicalId(logicalId(name));
    return container;
  }
}

/**
 * File contents as a Terraform string literal: `${` and `%{` would otherwise be evaluated as
 * interpolation or directives (and could pull a variable such as a secret into the file).
 */
export function terraformLiteral(text: string): string {
  // Replacer functions: in a replacement string "$$" would itself collapse to "$".
  return text.replace(/\$\{/g, () => '$${').replace(/%\{/g, () => '%%{');
}

function imageIdOf(spec: ContainerSpec, host: DockerHost): string {
  switch (spec.image.kind) {
    case 'runtime':
      return required(host.runtimeImage, spec).imageId;
    case 'etcd':
      return required(host.etcdImage, spec).imageId;
    case 'override':
      return host.overrideImage(spec.instance.name, spec.image.name).imageId;
  }
}

function required<T>(value: T | null, spec: ContainerSpec): T {
  if (value === null) throw new Error(`${spec.instance.name}: no ${spec.image.kind} image on ${spec.instance.dockerHost}`);
  return value;
}
