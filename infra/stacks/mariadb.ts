// The MariaDB container of `storage: {kind: mariadb, docker_host: …}`: the official image on the
// docker host cluster.yaml names, its datadir on a named volume, its port published on that host
// (nodes on other hosts connect to it there), a healthcheck the nodes wait for, and the nodes'
// password from the sensitive Terraform variable (never in the synthesized JSON). Pure: the
// constructs in cluster-stack.ts translate this spec.
import type { MariadbServerPlan, Plan } from '../plan/types.ts';

export interface MariadbContainerSpec {
  readonly server: MariadbServerPlan;
  /** `<cluster>-mariadb`. */
  readonly containerName: string;
  /** Arguments to the image's entrypoint (it runs mariadbd with them). */
  readonly command: readonly string[];
  /** Plain environment of the image's first start: database and user to create. */
  readonly env: readonly string[];
  /** The environment variable that takes the nodes' password (from the storage password variable). */
  readonly passwordEnv: 'MARIADB_PASSWORD';
  readonly healthcheck: readonly string[];
  readonly aliases: readonly string[];
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** null unless the plan runs MariaDB in a container (docker target with storage.docker_host). */
export function mariadbContainerSpec(plan: Plan): MariadbContainerSpec | null {
  const st = plan.storage;
  if (plan.target !== 'docker' || st.kind !== 'mariadb' || !st.server) return null;
  const host = st.host.toLowerCase();
  return {
    server: st.server,
    containerName: `${plan.name}-${st.server.name}`,
    // A base's snapshot is one row: max_allowed_packet well above the largest base (docs/deploy.md).
    command: [`--port=${st.server.port}`, '--character-set-server=utf8mb4', '--collation-server=utf8mb4_bin', '--max-allowed-packet=256M'],
    env: [
      `MARIADB_DATABASE=${st.database}`,
      `MARIADB_USER=${st.user}`,
      // The nodes need no root access; a random root password is printed once to the container log.
      'MARIADB_RANDOM_ROOT_PASSWORD=1',
      // A newer image upgrades the system tables of an existing datadir on start.
      'MARIADB_AUTO_UPGRADE=1',
    ],
    passwordEnv: 'MARIADB_PASSWORD',
    // The image's own check: the server accepts connections and InnoDB has started.
    healthcheck: ['CMD', 'healthcheck.sh', '--connect', '--innodb_initialized'],
    aliases: [st.server.name, ...(IPV4.test(host) || host === st.server.name ? [] : [host])],
  };
}
