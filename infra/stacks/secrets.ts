// The cluster's secrets as sensitive Terraform variables. The synthesized JSON and the uploaded
// config files only ever hold a `${var.…}` reference or the env var's name; the values come from
// `TF_VAR_<name>` at plan/apply time.
import { TerraformVariable } from 'cdktf';
import { Construct } from 'constructs';
import type { Plan } from '../plan/types.ts';
import type { SecretName } from './containers.ts';
import { secretVariableName } from './names.ts';

export class ClusterSecrets extends Construct {
  private readonly variables: Record<SecretName, TerraformVariable>;

  constructor(scope: Construct, id: string, secrets: Plan['secrets']) {
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
    };
  }

  /** `ENV=${var.x}`: resolved by Terraform, never written into the synthesized JSON. */
  envEntry(env: string, secret: SecretName): string {
    return `${env}=${this.variables[secret].stringValue}`;
  }
}
