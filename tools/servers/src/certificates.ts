/**
 * Throw-away certificates for TLS tests, made with the `openssl` CLI: a private CA, a server
 * certificate for the loopback addresses, a client certificate (also with an encrypted key), and
 * a second CA with a client certificate of its own, which the first CA's servers must refuse.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: 30_000 }, (err, _stdout, stderr) =>
      err ? reject(new Error(`openssl ${args.join(' ')}: ${err.message} ${stderr}`)) : resolve(),
    );
  });
}

/** PEM file paths; every certificate is valid for two days. */
export interface TestCertificates {
  /** The private CA that signed the server and client certificates. */
  caFile: string;
  /** For 127.0.0.1, ::1 and localhost (plus `hosts`), usable by servers and as a client certificate. */
  serverCertFile: string;
  serverKeyFile: string;
  /** A client-only certificate (extendedKeyUsage clientAuth), CN `pgha-ctl`. */
  clientCertFile: string;
  clientKeyFile: string;
  /** The client key encrypted (AES-256) with `keyPassword`. */
  encryptedClientKeyFile: string;
  keyPassword: string;
  /** Another CA, and a client certificate it signed: a stranger to `caFile`. */
  otherCaFile: string;
  otherClientCertFile: string;
  otherClientKeyFile: string;
}

const DAYS = ['-days', '2'];
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCa(dir: string, name: string, cn: string): Promise<void> {
  await openssl(['req', '-x509', ...EC_KEY, '-keyout', `${name}-key.pem`, '-out', `${name}.pem`, '-subj', `/CN=${cn}`, ...DAYS], dir);
}

async function signed(dir: string, o: { ca: string; name: string; cn: string; ext: string }): Promise<void> {
  await openssl(['req', ...EC_KEY, '-keyout', `${o.name}-key.pem`, '-out', `${o.name}.csr`, '-subj', `/CN=${o.cn}`], dir);
  await writeFile(join(dir, `${o.name}.ext`), `${o.ext}\n`);
  await openssl(['x509', '-req', '-in', `${o.name}.csr`, '-CA', `${o.ca}.pem`, '-CAkey', `${o.ca}-key.pem`, '-CAcreateserial', '-out', `${o.name}.pem`, '-extfile', `${o.name}.ext`, ...DAYS], dir);
}

/**
 * Writes the certificates of TestCertificates into `dir`. `hosts` adds DNS names to the server
 * certificate's subjectAltName (127.0.0.1, ::1 and localhost are always there).
 */
export async function makeTestCertificates(dir: string, options: { hosts?: string[] } = {}): Promise<TestCertificates> {
  await makeCa(dir, 'ca', 'pgha test CA');
  await makeCa(dir, 'other-ca', 'some other CA');
  const san = ['IP:127.0.0.1', 'IP:::1', 'DNS:localhost', ...(options.hosts ?? []).map((h) => `DNS:${h}`)].join(',');
  await signed(dir, { ca: 'ca', name: 'server', cn: 'pgha member', ext: `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth` });
  await signed(dir, { ca: 'ca', name: 'client', cn: 'pgha-ctl', ext: 'extendedKeyUsage=clientAuth' });
  await signed(dir, { ca: 'other-ca', name: 'other-client', cn: 'stranger', ext: 'extendedKeyUsage=clientAuth' });
  const keyPassword = 'key secret';
  await openssl(['pkey', '-in', 'client-key.pem', '-aes256', '-passout', `pass:${keyPassword}`, '-out', 'client-key-encrypted.pem'], dir);
  return {
    caFile: join(dir, 'ca.pem'),
    serverCertFile: join(dir, 'server.pem'),
    serverKeyFile: join(dir, 'server-key.pem'),
    clientCertFile: join(dir, 'client.pem'),
    clientKeyFile: join(dir, 'client-key.pem'),
    encryptedClientKeyFile: join(dir, 'client-key-encrypted.pem'),
    keyPassword,
    otherCaFile: join(dir, 'other-ca.pem'),
    otherClientCertFile: join(dir, 'other-client.pem'),
    otherClientKeyFile: join(dir, 'other-client-key.pem'),
  };
}
