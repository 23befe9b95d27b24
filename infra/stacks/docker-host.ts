// One Docker engine of cluster.yaml's `docker_hosts`: its provider (aliased by the host's name),
// the cluster network on it, and the images its containers run. Images are per host because
// each engine builds or pulls its own.
import { DockerProvider } from '@cdktf/provider-docker/lib/provider/index.js';
import { Image } from '@cdktf/provider-docker/lib/image/index.js';
import { Network } from '@cdktf/provider-docker/lib/network/index.js';
import { Volume } from '@cdktf/provider-docker/lib/volume/index.js';
import { Construct } from 'constructs';
import { logicalId, terraformName } from './names.ts';

export interface DockerHostProps {
  readonly clusterName: string;
  readonly hostName: string;
  /** `unix:///var/run/docker.sock`, `tcp://host:2376`, `ssh://user@host`. */
  readonly url: string;
  /** Tag of the runtime image (cluster.yaml `runtime_image`). */
  readonly runtimeImage: string;
  /** Folder holding the Dockerfile, relative to the synthesized stack's folder. */
  readonly buildContext: string;
  /** Changes when the sources in the image change, so the image is rebuilt. */
  readonly sourceHash: string;
  readonly etcdImage: string;
  /** Whether any container on this host runs the runtime image / etcd. */
  readonly needsRuntime: boolean;
  readonly needsEtcd: boolean;
}

export class DockerHost extends Construct {
  readonly provider: DockerProvider;
  readonly network: Network;
  readonly runtimeImage: Image | null;
  readonly etcdImage: Image | null;
  private readonly overrides = new Map<string, Image>();
  private bases: Volume | null = null;

  constructor(
    scope: Construct,
    id: string,
    private readonly props: DockerHostProps,
  ) {
    super(scope, id);
    const host = props.hostName;
    this.provider = new DockerProvider(this, 'provider', { alias: terraformName(host), host: props.url });

    this.network = new Network(this, 'network', {
      provider: this.provider,
      name: props.clusterName,
      driver: 'bridge',
      attachable: true,
    });
    this.network.overrideLogicalId(logicalId('network', host));

    this.runtimeImage = props.needsRuntime
      ? new Image(this, 'runtime-image', {
          provider: this.provider,
          name: props.runtimeImage,
          buildAttribute: { context: props.buildContext, dockerfile: 'Dockerfile' },
          triggers: { source_hash: props.sourceHash },
          keepLocally: true,
        })
      : null;
    this.runtimeImage?.overrideLogicalId(logicalId('runtime_image', host));

    this.etcdImage = props.needsEtcd
      ? new Image(this, 'etcd-image', { provider: this.provider, name: props.etcdImage, keepLocally: true })
      : null;
    this.etcdImage?.overrideLogicalId(logicalId('etcd_image', host));
  }

  /** A pulled image named in cluster.yaml for one instance (e.g. a SeaTable node image). */
  overrideImage(instance: string, name: string): Image {
    let image = this.overrides.get(instance);
    if (!image) {
      // keep_locally: several instances may name the same image; destroying one must not remove it.
      image = new Image(this, `image-${instance}`, { provider: this.provider, name, keepLocally: true });
      image.overrideLogicalId(logicalId(instance, 'image'));
      this.overrides.set(instance, image);
    }
    return image;
  }

  /**
   * The base storage every node on this host mounts. Nodes on different hosts must see the same
   * storage: on a multi-host cluster, back this volume by shared storage (docs/deploy.md).
   */
  baseStorageVolume(): Volume {
    if (!this.bases) {
      this.bases = new Volume(this, 'bases', { provider: this.provider, name: `${this.props.clusterName}-bases` });
      this.bases.overrideLogicalId(logicalId('bases', this.props.hostName));
    }
    return this.bases;
  }

  get hostName(): string {
    return this.props.hostName;
  }
}
