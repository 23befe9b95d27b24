// Public surface of the cluster.yaml model.
export { ClusterConfigError, formatIssue, type ClusterIssue } from './errors.ts';
export { loadClusterFile, loadClusterText, type LoadedCluster } from './load.ts';
export { clusterFileSchema, DEFAULTS, MIN_LEASE_TTL, MIN_MAX_TXN_OPS, type ClusterModel } from './schema.ts';
export { clusterJsonSchema, clusterJsonSchemaText } from './json-schema.ts';
export { instancesOf, type ModelInstance, type PortSlot } from './instances.ts';
