import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { command as synthCommand } from '../../../infra/cli/commands/synth.ts';
import { container, fixturePath, fixtureText, synthFixture, synthText } from './synth.ts';

// Values an operator would have in the environment while synthesizing (e.g. in CI).
const SECRETS = {
  DTABLE_PRIVATE_KEY: 'pk-9f1c2e7a-never-in-json',
  DTABLE_ADMIN_TOKEN: 'at-51d0b3c8-never-in-json',
  TF_VAR_dtable_private_key: 'pk-9f1c2e7a-never-in-json',
  TF_VAR_dtable_admin_token: 'at-51d0b3c8-never-in-json',
  TRIO_PRIVATE_KEY: 'pk-trio-3b6e-never-in-json',
  TRIO_ADMIN_TOKEN: 'at-trio-a4c2-never-in-json',
  TRIO_STORAGE_PASSWORD: 'db-trio-77f0-never-in-json',
  TF_VAR_trio_storage_password: 'db-trio-77f0-never-in-json',
};

function filesBelow(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? filesBelow(p) : [p];
  });
}

describe('secrets', () => {
  beforeEach(() => {
    for (const [k, v] of Object.entries(SECRETS)) vi.stubEnv(k, v);
  });
  afterEach(() => vi.unstubAllEnvs());

  it.each(['single-host.yaml', 'three-host.yaml'])('never appear in the synthesized JSON of %s', (fixture) => {
    const { text } = synthFixture(fixture);
    for (const value of Object.values(SECRETS)) expect(text).not.toContain(value);
  });

  it('reach containers only as references to sensitive variables', () => {
    const s = synthFixture('single-host.yaml');
    expect(s.json.variable['dtable_private_key']).toMatchObject({ sensitive: true, type: 'string' });
    expect(s.json.variable['dtable_admin_token']).toMatchObject({ sensitive: true, type: 'string' });
    expect(container(s, 'dtable-server-01').env).toContain('DTABLE_PRIVATE_KEY=${var.dtable_private_key}');
    expect(container(s, 'dtable-server-proxy').env).toContain('DTABLE_ADMIN_TOKEN=${var.dtable_admin_token}');
    expect(container(s, 'monitor-1').env.join('\n')).not.toMatch(/DTABLE_(PRIVATE_KEY|ADMIN_TOKEN)/);
  });

  it('are named, not written, in the uploaded config files', () => {
    const s = synthFixture('single-host.yaml');
    const web = JSON.parse(container(s, 'web').upload[0]!.content) as Record<string, unknown>;
    expect(web['private_key_env']).toBe('DTABLE_PRIVATE_KEY');
    expect(web['admin_token_env']).toBe('DTABLE_ADMIN_TOKEN');
  });

  it('cannot be pulled into an uploaded file by Terraform interpolation in its contents', () => {
    const hostile = 'a: "${var.dtable_private_key}" b: "%{ if true }x%{ endif }"\n';
    const s = synthText(fixtureText('single-host.yaml'), 'single-host.yaml', (files) =>
      files.map((f) => (f.path === 'web/web.json' ? { ...f, contents: hostile } : f)),
    );
    // Terraform reads "$${" as a literal "${" and "%%{" as a literal "%{".
    expect(container(s, 'web').upload[0]!.content).toBe('a: "$${var.dtable_private_key}" b: "%%{ if true }x%%{ endif }"\n');
  });

  it('never appear in any file `dtable-cluster synth` writes', async () => {
    const out = mkdtempSync(join(tmpdir(), 'stacks-secrets-'));
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const warn = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await synthCommand.run(['--config', fixturePath('three-host.yaml'), '--out', out])).toBe(0);
      const files = filesBelow(out);
      expect(files.map((f) => f.slice(out.length))).toContain('/stacks/trio/cdk.tf.json');
      for (const f of files) {
        const text = readFileSync(f, 'utf8');
        for (const value of Object.values(SECRETS)) expect(text, f).not.toContain(value);
      }
    } finally {
      write.mockRestore();
      warn.mockRestore();
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('etcd.tls certificates', () => {
  const PEM = {
    TF_VAR_etcd_tls_ca: '-----BEGIN CERTIFICATE-----ca-7e21-never-in-json',
    TF_VAR_etcd_tls_etcd_etcd_01_key: '-----BEGIN PRIVATE KEY-----member-5c0d-never-in-json',
    TF_VAR_etcd_tls_client_dtable_server_01_key: '-----BEGIN PRIVATE KEY-----node-93aa-never-in-json',
  };
  const tlsText = () => fixtureText('single-host.yaml').replace('etcd:\n', 'etcd:\n  tls: { enabled: true }\n');
  beforeEach(() => {
    for (const [k, v] of Object.entries(PEM)) vi.stubEnv(k, v);
  });
  afterEach(() => vi.unstubAllEnvs());

  it('never appear in the synthesized JSON', () => {
    const { text } = synthText(tlsText());
    for (const value of Object.values(PEM)) expect(text).not.toContain(value);
  });

  it('are sensitive variables, uploaded by reference: each container gets the CA and only its own certificate and key', () => {
    const s = synthText(tlsText());
    expect(s.json.variable['etcd_tls_ca']).toMatchObject({ sensitive: true, type: 'string' });
    expect(s.json.variable['etcd_tls_client_dtable_server_01_key']).toMatchObject({ sensitive: true, type: 'string' });
    const pems = (name: string) => container(s, name).upload.filter((u) => u.file.startsWith('/opt/dtable-cluster/tls/'));
    expect(pems('dtable-server-01')).toEqual([
      { file: '/opt/dtable-cluster/tls/ca.pem', content: '${var.etcd_tls_ca}' },
      { file: '/opt/dtable-cluster/tls/client-dtable-server-01.pem', content: '${var.etcd_tls_client_dtable_server_01}' },
      { file: '/opt/dtable-cluster/tls/client-dtable-server-01-key.pem', content: '${var.etcd_tls_client_dtable_server_01_key}' },
    ]);
    expect(pems('etcd-01').map((u) => u.content)).toEqual(['${var.etcd_tls_ca}', '${var.etcd_tls_etcd_etcd_01}', '${var.etcd_tls_etcd_etcd_01_key}']);
    expect(container(s, 'etcd-01').healthcheck.test).toContain('--endpoints=https://127.0.0.1:2379');
  });

  it('are not variables of a cluster without etcd.tls', () => {
    const s = synthFixture('single-host.yaml');
    expect(Object.keys(s.json.variable).filter((k) => k.startsWith('etcd_tls_'))).toEqual([]);
    expect(container(s, 'dtable-server-01').upload).toHaveLength(1);
  });
});
