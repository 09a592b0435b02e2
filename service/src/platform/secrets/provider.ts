import type { SecretReference, SecretValue, WriteOptions } from './types.js';

/** One provider: the store's operations for the references of one scheme. */
export interface SecretProvider<S extends SecretReference['scheme']> {
  read(ref: Extract<SecretReference, { scheme: S }>): Promise<SecretValue>;
  write(
    ref: Extract<SecretReference, { scheme: S }>,
    value: string,
    options?: WriteOptions,
  ): Promise<{ version: string | undefined }>;
}

/** Vault KV v2 over HTTP. A token (`token`, or `tokenFile` re-read on each login) wins over Kubernetes auth. */
export interface VaultProviderOptions {
  /** VAULT_ADDR, e.g. https://vault.internal:8200 */
  readonly address: string;
  readonly token?: string;
  /** A file holding the token (e.g. written by the Vault agent); read when a token is needed. */
  readonly tokenFile?: string;
  /** Vault Enterprise / HCP namespace, sent as X-Vault-Namespace. */
  readonly namespace?: string;
  readonly kubernetes?: {
    readonly role: string;
    /** Auth mount (default `kubernetes`). */
    readonly mount?: string;
    /** Service-account token (default /var/run/secrets/kubernetes.io/serviceaccount/token). */
    readonly tokenPath?: string;
  };
  /** Bound of every request (ms, default 5000). */
  readonly timeoutMs?: number;
  readonly now?: () => number;
}

/** AWS Secrets Manager and SSM Parameter Store. Credentials: the SDK's default chain unless given. */
export interface AwsProviderOptions {
  /** AWS_REGION (the SDK also finds it in its shared config). */
  readonly region?: string;
  /** Endpoint override (AWS_ENDPOINT_URL; tests point it at a local server). */
  readonly endpoint?: string;
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /** Bound of every request (ms, default 5000). */
  readonly timeoutMs?: number;
  /** Attempts per call, the SDK's retries included (default 2). */
  readonly maxAttempts?: number;
}
