// Terraform logical ids derived from instance and host names only, never from positions, so
// adding or changing one instance leaves every other resource's address unchanged.

/** `etcd-01` + `container` → `etcd-01_container`; only characters Terraform allows in names. */
export function logicalId(...parts: string[]): string {
  return parts.map((p) => p.replace(/[^A-Za-z0-9_-]/g, '_')).join('_');
}

/** Name of the Terraform variable carrying the secret read from env var `envName`. */
export function secretVariableName(envName: string): string {
  return envName.toLowerCase();
}
