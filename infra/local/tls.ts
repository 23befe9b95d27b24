// Throwaway TLS material for a local run (issue 8): a CA, one server+peer certificate per etcd
// member and one client certificate per etcd user, generated with openssl in the run dir. The
// client certificates' CN is the etcd user name (etcd --client-cert-auth), so each component's
// certificate is also its identity for RBAC (runtime/cluster/access-policy.ts).
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const OPENSSL = process.env.OPENSSL_BIN ?? '/usr/bin/openssl';

export interface CertFiles {
  ca_file: string;
  cert_file: string;
  key_file: string;
}

export interface ClusterCerts {
  dir: string;
  caFile: string;
  /** Server and peer certificate of each etcd member, by member name. */
  members: Record<string, CertFiles>;
  /** Client certificate of each etcd user (CN = user name). */
  clients: Record<string, CertFiles>;
}

export interface CertSpec {
  members: ReadonlyArray<{ name: string; host: string }>;
  users: readonly string[];
}

/** openssl is missing or failed: a user-fixable problem, printed without a stack. */
export class CertificateError extends Error {
  override name = 'CertificateError';
  constructor(message: string, readonly hint = 'install openssl (apt-get install openssl) or set OPENSSL_BIN') {
    super(message);
  }
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run(OPENSSL, args, { timeout: 30_000 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new CertificateError(`openssl not found at ${OPENSSL}`);
    throw new CertificateError(`openssl ${args[0]} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

const newKey = (file: string) => openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file]);
const safeName = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_');
const isIp = (h: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(h) || h.includes(':');

async function issue(dir: string, caFile: string, caKey: string, name: string, cn: string, ext: string): Promise<CertFiles> {
  const key = join(dir, `${name}-key.pem`);
  const cert = join(dir, `${name}.pem`);
  const csr = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  await newKey(key);
  // CN values are node ids and fixed user names, but keep the subject syntax safe anyway.
  await openssl(['req', '-new', '-key', key, '-subj', `/CN=${cn.replace(/[/\\=+,]/g, '_')}`, '-out', csr]);
  writeFileSync(extFile, ext);
  await openssl(['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-days', '825', '-sha256', '-extfile', extFile, '-out', cert]);
  return { ca_file: caFile, cert_file: cert, key_file: key };
}

/**
 * Creates (or reuses, when present) the CA and every certificate of `spec` under `dir`. Keys are
 * written mode 0600 by openssl's umask-respecting defaults; the run dir itself is private.
 */
export async function ensureClusterCerts(dir: string, spec: CertSpec): Promise<ClusterCerts> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caFile = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca-key.pem');
  if (!existsSync(caFile)) {
    await newKey(caKey);
    await openssl([
      'req', '-x509', '-new', '-key', caKey, '-subj', '/CN=dtable-cluster local CA', '-days', '3650', '-sha256',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', caFile,
    ]);
  }
  const members: Record<string, CertFiles> = {};
  const clients: Record<string, CertFiles> = {};
  const base = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n';
  const cached = (name: string): CertFiles | null => {
    const f = { ca_file: caFile, cert_file: join(dir, `${name}.pem`), key_file: join(dir, `${name}-key.pem`) };
    return existsSync(f.cert_file) && existsSync(f.key_file) ? f : null;
  };
  for (const m of spec.members) {
    const name = `etcd-${safeName(m.name)}`;
    const hosts = new Set(['127.0.0.1', 'localhost', m.host]);
    const san = [...hosts].map((h) => (isIp(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
    // One certificate for both directions of peer traffic and for clients: serverAuth + clientAuth.
    members[m.name] = cached(name) ?? (await issue(dir, caFile, caKey, name, m.name, `${base}extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${san}\n`));
  }
  for (const user of spec.users) {
    const name = `client-${safeName(user)}`;
    clients[user] = cached(name) ?? (await issue(dir, caFile, caKey, name, user, `${base}extendedKeyUsage=clientAuth\n`));
  }
  return { dir, caFile, members, clients };
}

/** etcd flags for TLS on client and peer URLs with client-certificate auth. */
export function etcdTlsFlags(member: CertFiles): string[] {
  return [
    '--cert-file', member.cert_file,
    '--key-file', member.key_file,
    '--trusted-ca-file', member.ca_file,
    '--client-cert-auth',
    '--peer-cert-file', member.cert_file,
    '--peer-key-file', member.key_file,
    '--peer-trusted-ca-file', member.ca_file,
    '--peer-client-cert-auth',
  ];
}
