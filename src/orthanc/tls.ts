/**
 * Orthanc over https: the CA, client certificate and key read and checked at start-up, and the
 * TLS failures explained in words a PACS admin can act on (which variable to set, which side refused).
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';

/** PEM bytes for got's https options; all optional (the system's trusted roots and no client certificate). */
export interface TlsMaterial {
  /** CA certificates that may sign Orthanc's certificate; they replace the system's trusted roots. */
  readonly ca?: Buffer;
  /** Client certificate (PEM) for Orthanc's SslVerifyPeers. */
  readonly cert?: Buffer;
  /** Unencrypted private key (PEM) of the client certificate. */
  readonly key?: Buffer;
}

/** The configured paths, by variable name. */
export interface TlsFiles {
  readonly ORTHANC_CA_FILE?: string;
  readonly ORTHANC_CERT_FILE?: string;
  readonly ORTHANC_KEY_FILE?: string;
}

/** Reads and checks the files; a ConfigError names the variable, the path and what is wrong. */
export function readTlsFiles(files: TlsFiles, orthancUrl: string): TlsMaterial {
  const { ORTHANC_CA_FILE: caFile, ORTHANC_CERT_FILE: certFile, ORTHANC_KEY_FILE: keyFile } = files;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError(certFile === undefined ? 'ORTHANC_CERT_FILE' : 'ORTHANC_KEY_FILE', 'ORTHANC_CERT_FILE and ORTHANC_KEY_FILE must be set together');
  }
  const given = (['ORTHANC_CA_FILE', 'ORTHANC_CERT_FILE'] as const).find((name) => files[name] !== undefined);
  // Certificates with a plain http URL would be silently unused: the operator believes the link is protected when it is not.
  if (given !== undefined && !orthancUrl.startsWith('https://')) {
    throw new ConfigError(given, `${given} is set, so ORTHANC_URL must start with https://, got "${orthancUrl}"`);
  }
  const material: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  if (caFile !== undefined) {
    material.ca = readPem('ORTHANC_CA_FILE', caFile, 'CERTIFICATE');
    certificateOf('ORTHANC_CA_FILE', caFile, material.ca);
  }
  if (certFile !== undefined && keyFile !== undefined) {
    material.cert = readPem('ORTHANC_CERT_FILE', certFile, 'CERTIFICATE');
    material.key = readPem('ORTHANC_KEY_FILE', keyFile, 'PRIVATE KEY');
    const certificate = certificateOf('ORTHANC_CERT_FILE', certFile, material.cert);
    if (!certificate.checkPrivateKey(privateKeyOf(keyFile, material.key))) {
      throw new ConfigError('ORTHANC_KEY_FILE', `ORTHANC_KEY_FILE ${keyFile} is not the private key of the certificate in ORTHANC_CERT_FILE ${certFile}`);
    }
  }
  return material;
}

function readPem(variable: string, path: string, kind: 'CERTIFICATE' | 'PRIVATE KEY'): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new ConfigError(variable, `${variable} ${path} cannot be read: ${e.code ?? e.message}`);
  }
  // "PRIVATE KEY" also matches "RSA PRIVATE KEY" and "EC PRIVATE KEY"; DER files are refused here with a hint.
  if (!new RegExp(`-----BEGIN [A-Z ]*${kind}-----`).test(bytes.toString('latin1'))) {
    throw new ConfigError(variable, `${variable} ${path} must be a PEM file holding "-----BEGIN ${kind}-----" (convert DER with openssl)`);
  }
  return bytes;
}

function certificateOf(variable: string, path: string, pem: Buffer): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw new ConfigError(variable, `${variable} ${path} holds no readable X.509 certificate: ${(error as Error).message}`);
  }
}

function privateKeyOf(path: string, pem: Buffer): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (error) {
    // Encrypted keys land here too: there is no passphrase variable, on purpose (it would sit next to the key).
    throw new ConfigError('ORTHANC_KEY_FILE', `ORTHANC_KEY_FILE ${path} must be an unencrypted PEM private key: ${(error as Error).message}`);
  }
}

/** Codes Node gives when Orthanc's certificate chain does not lead to a trusted CA. */
const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
]);

/** Alerts Orthanc sends when it does not accept the client certificate we presented. */
const CLIENT_CERT_REFUSED = new Set([
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE',
  'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED',
]);

const FIXED: Readonly<Record<string, string>> = {
  CERT_HAS_EXPIRED: "Orthanc's certificate has expired",
  CERT_NOT_YET_VALID: "Orthanc's certificate is not valid yet: check this machine's clock",
  INVALID_PURPOSE: "Orthanc's certificate is not made for a TLS server: its keyUsage / extendedKeyUsage do not allow serverAuth",
  // TLS 1.3 says it plainly; TLS 1.2 servers answer a missing certificate with a bare handshake failure.
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'Orthanc requires a client certificate: set ORTHANC_CERT_FILE and ORTHANC_KEY_FILE',
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE:
    'TLS handshake refused by Orthanc: it may require a client certificate (set ORTHANC_CERT_FILE and ORTHANC_KEY_FILE) or accept none of our ciphers',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: 'Orthanc refused our client certificate (ORTHANC_CERT_FILE): it has expired',
  EPROTO: 'TLS handshake failed: no https server on that port? Use http:// in ORTHANC_URL, or turn on SslEnabled in Orthanc',
  ERR_SSL_WRONG_VERSION_NUMBER: 'TLS handshake failed: no https server on that port? Use http:// in ORTHANC_URL, or turn on SslEnabled in Orthanc',
};

/** Why a TLS-level failure happened, in words; undefined for codes that are not about TLS. */
export function tlsReason(code: string | undefined, message: string): string | undefined {
  if (code === undefined) return undefined;
  if (UNTRUSTED.has(code)) return 'certificate not trusted: set ORTHANC_CA_FILE to the CA that signed it';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `certificate is for another host (${message.replace(/\.$/, '')}): use a name the certificate lists in ORTHANC_URL`;
  }
  if (CLIENT_CERT_REFUSED.has(code)) {
    return 'Orthanc refused our client certificate (ORTHANC_CERT_FILE): it is not signed by a CA in its SslTrustedClientCertificates';
  }
  return FIXED[code];
}
