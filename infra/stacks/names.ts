// Terraform names derived from instance and host names only, never from positions, so adding or
// changing one instance leaves every other resource's address unchanged.

/**
 * A Terraform identifier (resource name, provider alias): letters, digits, "_" and "-", not
 * starting with a digit. cluster.yaml names may start with a digit; those get a leading "_".
 */
export function terraformName(name: string): string {
  const clean = name.replace(/[^A-Za-z0-9_-]/g, '_');
  return /^[0-9-]/.test(clean) ? `_${clean}` : clean;
}

/** `etcd-01` + `data` → `etcd-01_data`. */
export function logicalId(...parts: string[]): string {
  return terraformName(parts.join('_'));
}

/** Name of the Terraform variable carrying the secret read from env var `envName`. */
export function secretVariableName(envName: string): string {
  return terraformName(envName.toLowerCase());
}

/** Name of the Terraform variable carrying one PEM file of etcd.tls: `/…/tls/client-root-key.pem` → `etcd_tls_client_root_key`. */
export function certificateVariableName(file: string): string {
  const base = file.slice(file.lastIndexOf('/') + 1).replace(/\.pem$/, '');
  return terraformName(`etcd_tls_${base}`.toLowerCase().replace(/[^a-z0-9_]/g, '_'));
}
