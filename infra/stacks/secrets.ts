// The cluster's secrets as sensitive Terraform variables. The synthesized JSON and the uploaded
// config files only ever hold a `${var.…}` reference or the env var's name; the values come from
// `TF_VAR_<name>` at plan/apply time.
import { TerraformVariable } from 'cdktf';
import { Construct } from 'constructs';
import type { Plan } from '../plan/types.ts';
import type { SecretName } from './containers.ts';
import { certificateVariableName, secretVariableName } from './names.ts';

export class ClusterSecrets extends Construct {
  private readonly variables: Partial<Record<SecretName, TerraformVariable>>;
  /** etcd.tls PEM files by their path in the containers. */
  private readonly certificates = new Map<string, TerraformVariable>();

  constructor(scope: Construct, id: string, secrets: Plan['secrets'], tls: Plan['etcd']['tls'] = null, storage: Plan['storage'] = { kind: 'filesystem' }) {
    super(scope, id);
    const variable = (envName: string, description: string): TerraformVariable => {
      const v = new TerraformVariable(this, envName, {
        type: 'string',
        sensitive: true,
        nullable: false,
        description: `${description}; set TF_VAR_${secretVariableName(envName)}. Passed to containers as ${envName}.`,
      });
      v.overrideLogicalId(secretVariableName(envName));
      return v;
    };
    this.variables = {
      privateKey: variable(secrets.privateKeyEnv, 'HS256 key for base access tokens'),
      adminToken: variable(secrets.adminTokenEnv, 'Admin token of the proxy admin port and the web role'),
      ...(storage.kind === 'mariadb' ? { storagePassword: variable(storage.passwordEnv, `Password of MariaDB user ${storage.user} (base storage)`) } : {}),
    };
    const pems = new Set([...Object.values(tls?.members ?? {}), ...Object.values(tls?.clients ?? {})].flatMap((f) => [f.ca_file, f.cert_file, f.key_file]));
    for (const file of pems) {
      const name = certificateVariableName(file);
      const v = new TerraformVariable(this, name, {
        type: 'string',
        sensitive: true,
        nullable: false,
        description: `etcd.tls PEM file uploaded to ${file}; set TF_VAR_${name} (docs/security.md).`,
      });
      v.overrideLogicalId(name);
      this.certificates.set(file, v);
    }
  }

  /** `${var.etcd_tls_…}`: the PEM file's contents, resolved by Terraform at apply. */
  certificate(file: string): string {
    const v = this.certificates.get(file);
    if (!v) throw new Error(`no certificate variable for ${file}`);
    return v.stringValue;
  }

  /** `ENV=${var.x}`: resolved by Terraform, never written into the synthesized JSON. */
  envEntry(env: string, secret: SecretName): string {
    return `${env}=${this.value(secret)}`;
  }

  /** `${var.x}` of a secret; throws for one the plan does not have (storagePassword without MariaDB storage). */
  value(secret: SecretName): string {
    const v = this.variables[secret];
    if (!v) throw new Error(`no Terraform variable for secret ${secret}`);
    return v.stringValue;
  }
}
