/**
 * A throwaway PKI for the https tests, made with the openssl command (node:crypto cannot issue
 * X.509 certificates): a server CA and a server certificate for 127.0.0.1 and localhost, and a
 * separate client CA with a client certificate. Also the shim Debian's Orthanc (1.10 and 1.12) needs to verify clients.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Paths of the PEM files made (keys unencrypted). */
export interface TestPki {
  readonly serverCa: string;
  /** Server certificate followed by its key, as Orthanc's SslCertificate wants it. */
  readonly serverBundle: string;
  readonly clientCa: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A CA that neither side trusts, and a client certificate it signed. */
  readonly otherCa: string;
  readonly strangerCert: string;
  readonly strangerKey: string;
  /** A self-signed server certificate for 127.0.0.1, and its key. */
  readonly selfSigned: string;
  readonly selfSignedKey: string;
}

/** Makes the PKI in folder; fails with an install hint when openssl is missing. */
export function makeTestPki(folder: string): TestPki {
  mkdirSync(folder, { recursive: true });
  const path = (name: string): string => join(folder, name);
  const ca = (name: string, cn: string): void =>
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${cn}`, '-keyout', path(`${name}.key`), '-out', path(`${name}.pem`),
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const leaf = (name: string, cn: string, signer: string, extensions: string): void => {
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', path(`${name}.key`), '-out', path(`${name}.csr`)]);
    writeFileSync(path(`${name}.ext`), extensions);
    openssl(['x509', '-req', '-in', path(`${name}.csr`), '-CA', path(`${signer}.pem`), '-CAkey', path(`${signer}.key`), '-CAcreateserial',
      '-days', '2', '-extfile', path(`${name}.ext`), '-out', path(`${name}.pem`)]);
  };
  ca('server-ca', 'kidney-volumes test server CA');
  ca('client-ca', 'kidney-volumes test client CA');
  ca('other-ca', 'kidney-volumes test unrelated CA');
  leaf('server', 'localhost', 'server-ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'kidney-volumes', 'client-ca', 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
  leaf('stranger', 'stranger', 'other-ca', 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-keyout', path('self-signed.key'),
    '-out', path('self-signed.pem'), '-addext', 'subjectAltName=IP:127.0.0.1']);
  writeFileSync(path('server-bundle.pem'), Buffer.concat([readFileSync(path('server.pem')), readFileSync(path('server.key'))]));
  return {
    serverCa: path('server-ca.pem'),
    serverBundle: path('server-bundle.pem'),
    clientCa: path('client-ca.pem'),
    clientCert: path('client.pem'),
    clientKey: path('client.key'),
    otherCa: path('other-ca.pem'),
    strangerCert: path('stranger.pem'),
    strangerKey: path('stranger.key'),
    selfSigned: path('self-signed.pem'),
    selfSignedKey: path('self-signed.key'),
  };
}

/**
 * Debian 12's Orthanc 1.10.1 and Debian 13's 1.12.7 both use Debian's civetweb 1.15, which loads OpenSSL with dlopen("libssl.so") and
 * looks up SSL_get_peer_certificate by name. OpenSSL 3 exports only SSL_get1_peer_certificate, so the
 * lookup gives NULL and Orthanc crashes (SIGSEGV) on the first client that presents a certificate
 * (seen on both: 1.12.7 from the Debian 13 root segfaults in a civetweb-worker without the shim).
 * This builds a libssl.so that adds the old name and defers everything else to libssl.so.3; put its
 * folder in Orthanc's LD_LIBRARY_PATH (the 1.12 wrapper of scripts/orthanc-1.12.sh passes it on to
 * the root's loader, whose own libssl.so.3 then answers). Answers that folder.
 */
export function civetwebOpensslShim(folder: string): string {
  mkdirSync(folder, { recursive: true });
  const source = join(folder, 'shim.c');
  writeFileSync(
    source,
    [
      'typedef struct ssl_st SSL;',
      'typedef struct x509_st X509;',
      'X509 *SSL_get1_peer_certificate(const SSL *s);',
      // Same reference counting: the old call also returned a reference the caller frees.
      'X509 *SSL_get_peer_certificate(const SSL *s) { return SSL_get1_peer_certificate(s); }',
      '',
    ].join('\n'),
  );
  run('gcc', ['-shared', '-fPIC', '-o', join(folder, 'libssl.so'), source, '-l:libssl.so.3'], 'apt-get install gcc libssl-dev');
  return folder;
}

function openssl(args: readonly string[]): void {
  run('openssl', args, 'apt-get install openssl');
}

function run(command: string, args: readonly string[], install: string): void {
  try {
    execFileSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error(`${command} is not installed: run "${install}" or "bash .ci/run"`);
    throw new Error(`${command} ${args.join(' ')} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}
