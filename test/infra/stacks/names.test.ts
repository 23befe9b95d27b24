import { describe, expect, it } from 'vitest';
import { logicalId, secretVariableName, terraformName } from '../../../infra/stacks/names.ts';

describe('Terraform names', () => {
  it('keep instance and host names as they are when Terraform accepts them', () => {
    expect(terraformName('dtable-server-01')).toBe('dtable-server-01');
    expect(logicalId('etcd-01', 'data')).toBe('etcd-01_data');
  });

  it('get a leading underscore when the name starts with a digit, which Terraform rejects', () => {
    expect(terraformName('1host')).toBe('_1host');
    expect(logicalId('9etcd', 'data')).toBe('_9etcd_data');
  });

  it('name the secret variable after the env var, lower-cased', () => {
    expect(secretVariableName('DTABLE_PRIVATE_KEY')).toBe('dtable_private_key');
  });
});
