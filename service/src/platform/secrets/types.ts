/**
 * Secret references and the store that reads and writes them — shared by the service (JWT_SECRET_REF,
 * JWT_KEYS_REF, DATABASE_URL_REF …) and the CLI (`secops secret`, `secops keys`, `secops db`).
 *
 * A reference is URL-like:
 *   env:NAME                      an environment variable (read-only)
 *   file:/path                    a file, e.g. a Kubernetes secret volume (write: atomic replace)
 *   vault://mount/path#key        Vault KV v2 (token or Kubernetes auth; versions; check-and-set)
 *   aws-sm://secret-id#key        AWS Secrets Manager (`#key`: a field of a JSON secret; none: the whole string)
 *   aws-ssm:///param/name         AWS SSM Parameter Store, SecureString
 */

export type SecretReference =
  | { readonly scheme: 'env'; readonly name: string; readonly text: string }
  | { readonly scheme: 'file'; readonly path: string; readonly text: string }
  | { readonly scheme: 'vault'; readonly mount: string; readonly path: string; readonly key: string; readonly text: string }
  | { readonly scheme: 'aws-sm'; readonly secretId: string; readonly key: string | undefined; readonly text: string }
  | { readonly scheme: 'aws-ssm'; readonly name: string; readonly text: string };

export interface SecretValue {
  /** The secret itself. Never log it. */
  readonly value: string;
  /**
   * Opaque version token of what was read (Vault KV version, AWS VersionId, SSM Version, file
   * content hash), to hand back as `expectedVersion` for a check-and-set write. undefined for env.
   */
  readonly version: string | undefined;
}

export interface WriteOptions {
  /**
   * Check-and-set: the write fails with SecretError code `conflict` unless the stored version is still
   * this one (`null`: the secret — for a `#key` reference, that key — must not exist yet).
   * undefined: unconditional write.
   */
  readonly expectedVersion?: string | null;
}

export interface SecretStore {
  read(ref: SecretReference): Promise<SecretValue>;
  /** Returns the version now stored. */
  write(ref: SecretReference, value: string, options?: WriteOptions): Promise<{ version: string | undefined }>;
}

/** Stable codes, so the CLI and the service can tell the cases apart; messages never hold secret values. */
export type SecretErrorCode =
  | 'invalid_reference'
  | 'not_found'
  | 'conflict'
  | 'auth_failed'
  | 'read_only'
  | 'unavailable'
  | 'invalid_value'
  /** The provider a reference needs is not configured (e.g. a vault:// reference without VAULT_ADDR). */
  | 'not_configured';

export class SecretError extends Error {
  override name = 'SecretError';
  readonly code: SecretErrorCode;
  constructor(code: SecretErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
