import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions, type Server as TlsServer } from 'node:tls';

/** TLS_CERT_FILE / TLS_KEY_FILE (config `tls`). */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/** A certificate chain and its key, as read from the files. */
export interface TlsPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * What both listeners require of every connection, whatever the certificate: TLS 1.2 or 1.3 only
 * (ASVS 12.1.1). Node's default cipher list already leaves out export, RC4, 3DES, CBC-SHA1-only and
 * anonymous suites; TLS 1.3 suites are always the three AEAD ones.
 */
export const TLS_MIN_VERSION = 'TLSv1.2' as const;

export function secureContextOptions(pair: TlsPair): SecureContextOptions {
  return { cert: pair.cert, key: pair.key, minVersion: TLS_MIN_VERSION };
}

export function readTlsPair(files: TlsFiles, readFile: (path: string) => Buffer = (p) => readFileSync(p)): TlsPair {
  return { cert: readFile(files.certFile), key: readFile(files.keyFile) };
}

export type TlsReloadOutcome = 'unchanged' | 'reloaded' | 'failed';

export interface TlsReloaderOptions {
  readFile?: (path: string) => Buffer;
  /** Told once per outcome that matters (a new certificate served; a pair that could not be used). */
  log?: { info(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** Timers (tests inject theirs). */
  setInterval?: (fn: () => void, ms: number) => { unref?: () => unknown };
  clearInterval?: (handle: unknown) => void;
}

/**
 * Serves a changed TLS_CERT_FILE / TLS_KEY_FILE pair without a restart: `reload()` re-reads both
 * files and, when they differ from the pair being served and form a valid pair (the key matches the
 * certificate), gives every server the new secure context (`setSecureContext`: connections made from
 * then on get it; open ones keep theirs). A pair that cannot be used — a half-renewed secret volume
 * whose key no longer matches, a file missing for a moment — is logged and the old one kept; the next
 * reload tries again. main.ts calls `reload()` every TLS_RELOAD_INTERVAL_SECONDS (`start`) and on
 * SIGHUP. The files are compared by content, not modification time: a Kubernetes secret volume
 * replaces them through a symlink swap.
 */
export class TlsReloader {
  private current: TlsPair;
  private timer: unknown;
  private readonly readFile: (path: string) => Buffer;

  constructor(
    private readonly files: TlsFiles,
    private readonly servers: readonly TlsServer[],
    initial: TlsPair,
    private readonly options: TlsReloaderOptions = {},
  ) {
    this.current = initial;
    this.readFile = options.readFile ?? ((p) => readFileSync(p));
  }

  reload(): TlsReloadOutcome {
    let next: TlsPair;
    try {
      next = readTlsPair(this.files, this.readFile);
    } catch (err) {
      this.options.log?.error(
        { err: { code: (err as NodeJS.ErrnoException).code } },
        'TLS certificate reload: cannot read TLS_CERT_FILE / TLS_KEY_FILE; still serving the previous certificate',
      );
      return 'failed';
    }
    if (next.cert.equals(this.current.cert) && next.key.equals(this.current.key)) return 'unchanged';
    try {
      // Throws on a key that does not match the certificate, or PEM that does not parse.
      createSecureContext(secureContextOptions(next));
    } catch (err) {
      this.options.log?.error(
        { err: { message: (err as Error).message } },
        'TLS certificate reload: the new files do not form a usable certificate and key; still serving the previous certificate',
      );
      return 'failed';
    }
    for (const server of this.servers) server.setSecureContext(secureContextOptions(next));
    this.current = next;
    this.options.log?.info({ cert_file: this.files.certFile }, 'TLS certificate reloaded');
    return 'reloaded';
  }

  /** Re-reads every `intervalMs` (0: never; SIGHUP only). The timer does not keep the process alive. */
  start(intervalMs: number): void {
    if (intervalMs <= 0 || this.timer !== undefined) return;
    const handle = (this.options.setInterval ?? setInterval)(() => this.reload(), intervalMs);
    handle.unref?.();
    this.timer = handle;
  }

  stop(): void {
    if (this.timer === undefined) return;
    (this.options.clearInterval ?? ((h) => clearInterval(h as NodeJS.Timeout)))(this.timer);
    this.timer = undefined;
  }
}
