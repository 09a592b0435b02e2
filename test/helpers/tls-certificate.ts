import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';

export interface TestCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
  /** SHA-256 fingerprint as X509Certificate and getPeerCertificate() give it. */
  readonly fingerprint256: string;
}

/**
 * A fresh self-signed certificate for 127.0.0.1 and localhost (ECDSA P-256, one day), made by openssl
 * in a temporary directory the caller removes with `dispose` (t.after).
 */
export function makeTestCertificate(name = 'rampart-test'): TestCertificate & { dispose(): void; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-tls-'));
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  const cert = readFileSync(certFile);
  return {
    dir,
    certFile,
    keyFile,
    cert,
    key: readFileSync(keyFile),
    fingerprint256: new X509Certificate(cert).fingerprint256,
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface TlsAnswer {
  status: number;
  body: string;
  /** The SHA-256 fingerprint of the certificate the server presented. */
  fingerprint256: string;
  protocol: string | null;
}

/** GET `url` over HTTPS on a new connection, trusting only `ca`. */
export function httpsGet(url: string, ca: Buffer, headers: Record<string, string> = {}): Promise<TlsAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers, agent: false, timeout: 5000 }, (res) => {
      const socket = res.socket as TLSSocket;
      const fingerprint256 = socket.getPeerCertificate().fingerprint256;
      const protocol = socket.getProtocol();
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, fingerprint256, protocol }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}
