// Errors a user can cause when starting or stopping the local cluster. Each carries a hint; the
// CLI prints message and hint without a stack trace.

export class LocalClusterError extends Error {
  override name = 'LocalClusterError';
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/** The `etcd` binary is not installed (or not where ETCD_BIN points). */
export class EtcdBinaryMissingError extends LocalClusterError {
  override name = 'EtcdBinaryMissingError';
  constructor(readonly path: string) {
    super(
      `etcd binary not found (looked for ${path})`,
      'install etcd 3.4+ from the Debian package `etcd-server` (sudo apt-get install etcd-server), ' +
        'run bin/up which installs it, or point ETCD_BIN at an etcd binary',
    );
  }
}

/** A port the plan needs is taken by another process. */
export class PortInUseError extends LocalClusterError {
  override name = 'PortInUseError';
  constructor(
    readonly host: string,
    readonly port: number,
    readonly instance: string,
    readonly slot: string,
    /** The cluster of the same cluster file running from another run dir, when it is the one on these ports. */
    readonly runningCluster?: { runDir: string; pid: number },
  ) {
    super(
      `port ${port} on ${host} (${instance}, slot ${slot}) is already in use` +
        (runningCluster ? `: by the cluster running from ${runningCluster.runDir} (supervisor pid ${runningCluster.pid})` : ''),
      (runningCluster
        ? `one cluster.yaml runs once on its ports: \`npx dtable-cluster down --run-dir ${runningCluster.runDir}\` stops that one; or `
        : `stop whatever listens on ${port}, or `) +
        `move the local ports in cluster.yaml: ` +
        `\`local: { base_port: N }\` shifts every port, \`local: { ports: { "${slot}": N } }\` moves this one`,
    );
  }
}

/** A supervisor is already running for this run dir. */
export class ClusterRunningError extends LocalClusterError {
  override name = 'ClusterRunningError';
  constructor(
    readonly runDir: string,
    readonly pid: number,
  ) {
    super(
      `a cluster is already running in ${runDir} (supervisor pid ${pid})`,
      'use `npx dtable-cluster status` to see it, `npx dtable-cluster down` to stop it, ' +
        'or give this cluster another `local.run_dir` in cluster.yaml',
    );
  }
}

/** A component exited or did not become healthy while starting. */
export class ComponentStartError extends LocalClusterError {
  override name = 'ComponentStartError';
  constructor(
    readonly instance: string,
    reason: string,
    readonly logFile: string,
    tail: string,
  ) {
    super(
      `${instance} ${reason}${tail ? `\n--- last lines of ${logFile} ---\n${tail}` : ''}`,
      `see ${logFile} for the whole log`,
    );
  }
}

/**
 * Prints a launcher error (message and hint, no stack) and returns exit code 1. Anything else is
 * rethrown for the CLI's own error reporting (cluster.yaml errors exit 2, bugs keep their stack).
 */
export function reportLocalError(err: unknown, write: (s: string) => void = (s) => process.stderr.write(s)): number {
  if (err instanceof LocalClusterError) {
    write(`dtable-cluster: ${err.message}\n  hint: ${err.hint}\n`);
    return 1;
  }
  throw err;
}
