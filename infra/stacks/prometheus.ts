// The Prometheus container of `prometheus.deploy`: the official image on the docker host
// cluster.yaml names, running the rendered scrape config and alert rules (the files `render
// --target docker` writes to prometheus/), the proxy admin token for the admin port's /metrics
// uploaded from the sensitive Terraform variable, its database on a named volume. Pure: the
// constructs in cluster-stack.ts translate this spec.
// Image and flags: https://prometheus.io/docs/prometheus/latest/installation/#using-docker
import { PROMETHEUS_CONF_DIR } from '../render/render.ts';
import type { Plan, PrometheusServerPlan, RenderedFile } from '../plan/types.ts';

export interface PrometheusContainerSpec {
  readonly server: PrometheusServerPlan;
  /** `<cluster>-prometheus`. */
  readonly containerName: string;
  /** Arguments to the image's entrypoint (/bin/prometheus). */
  readonly command: readonly string[];
  /** prometheus.yml and alerts.yml as rendered, by their path in the container. */
  readonly uploads: ReadonlyArray<{ readonly file: string; readonly content: string }>;
  /** Where the admin token goes (`credentials_file: admin_token` of the proxy job, beside prometheus.yml). */
  readonly adminTokenFile: string;
  /** Exec form; the image has busybox's wget. */
  readonly healthcheck: readonly string[];
}

/** null unless cluster.yaml sets `prometheus.deploy` (docker target). */
export function prometheusContainerSpec(plan: Plan, files: readonly RenderedFile[]): PrometheusContainerSpec | null {
  const server = plan.prometheus.server;
  if (plan.target !== 'docker' || !server) return null;
  const uploads = files.filter((f) => f.component === 'prometheus').map((f) => ({ file: f.containerPath, content: f.contents }));
  if (uploads.length !== 2) throw new Error('prometheus: the rendered prometheus.yml and alerts.yml are missing');
  return {
    server,
    containerName: `${plan.name}-${server.name}`,
    command: [
      `--config.file=${PROMETHEUS_CONF_DIR}/prometheus.yml`,
      `--storage.tsdb.path=${server.dataDir}`,
      `--web.listen-address=:${server.port}`,
    ],
    uploads,
    adminTokenFile: `${PROMETHEUS_CONF_DIR}/admin_token`,
    healthcheck: ['CMD', 'wget', '-q', '-O', '/dev/null', `http://127.0.0.1:${server.port}/-/ready`],
  };
}
