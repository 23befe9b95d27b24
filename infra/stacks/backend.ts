// Where Terraform keeps the cluster's state. Default: cdktf's local backend (a file beside the
// project). A pipeline names a backend type instead and configures it outside the synthesized
// JSON (`init -backend-config=…` or the backend's own env vars, e.g. TF_HTTP_ADDRESS, PG_CONN_STR),
// so no credentials or machine paths end up in cdk.tf.json.
import { TerraformBackend, type TerraformRemoteState } from 'cdktf';
import type { Construct } from 'constructs';

/** Environment variable naming the backend type for `cdktf synth` and `dtable-cluster synth`. */
export const BACKEND_ENV = 'DTABLE_TF_BACKEND';

/** A user-caused bad backend name: printed without a stack. */
export class BackendError extends Error {
  override name = 'BackendError';
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export function checkBackendType(type: string): string {
  if (!/^[a-z][a-z0-9_]*$/.test(type)) {
    throw new BackendError(`backend type "${type}" is not a Terraform backend name`, 'e.g. s3, http, pg, gcs, azurerm, consul, kubernetes');
  }
  return type;
}

/** An empty (partial) `terraform { backend "<type>" {} }` block. */
export class PartialBackend extends TerraformBackend {
  constructor(scope: Construct, type: string) {
    super(scope, 'backend', checkBackendType(type));
  }

  protected override synthesizeAttributes(): Record<string, unknown> {
    return {};
  }

  protected override synthesizeHclAttributes(): Record<string, unknown> {
    return {};
  }

  override getRemoteStateDataSource(): TerraformRemoteState {
    throw new Error('the cluster stack does not read other stacks\' state');
  }
}
