import { parseAllowPlaintext } from '../plaintext-hops.js';
import { createEnvProvider } from './env.js';
import { createFileProvider, type FileProviderOptions } from './file.js';
import type { AwsProviderOptions, SecretProvider, VaultProviderOptions } from './provider.js';
import { SecretError, type SecretReference, type SecretStore, type SecretValue, type WriteOptions } from './types.js';

export type { AwsProviderOptions, VaultProviderOptions } from './provider.js';

export interface SecretStoreOptions {
  /** What `env:NAME` references read. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly file?: FileProviderOptions;
  /** Unset: vault:// references fail with `not_configured`. */
  readonly vault?: VaultProviderOptions;
  /** AWS settings; unset: the SDK's defaults (region and credentials from its default chain). */
  readonly aws?: AwsProviderOptions;
  /**
   * Set when the network stores may not be used because their address is plain http in production
   * (see secretStoreFromEnv): vault:// and aws-* references then fail with this message, before any
   * token or credential is sent.
   */
  readonly plaintextRefusal?: string;
}

interface AwsProviders {
  readonly sm: SecretProvider<'aws-sm'>;
  readonly ssm: SecretProvider<'aws-ssm'>;
}

/**
 * One store over every provider, dispatching on the reference's scheme. Providers are built on first
 * use; the AWS SDK is imported only when an aws-sm:// or aws-ssm:// reference is used, so the service
 * and `secops --help` do not pay for it at start-up.
 */
export function createSecretStore(options: SecretStoreOptions = {}): SecretStore {
  const env = createEnvProvider(options.env ?? {});
  const file = createFileProvider(options.file);
  let vault: Promise<SecretProvider<'vault'>> | undefined;
  let aws: Promise<AwsProviders> | undefined;

  const vaultProvider = () => {
    if (options.plaintextRefusal) return Promise.reject(new SecretError('not_configured', options.plaintextRefusal));
    const settings = options.vault;
    if (!settings) {
      return Promise.reject(new SecretError('not_configured', 'vault:// references need VAULT_ADDR (and a token or a Kubernetes role)'));
    }
    vault ??= import('./vault.js').then((m) => m.createVaultProvider(settings));
    return vault;
  };
  const awsProviders = () => {
    if (options.plaintextRefusal) return Promise.reject(new SecretError('not_configured', options.plaintextRefusal));
    aws ??= import('./aws.js').then((m) => m.createAwsProviders(options.aws ?? {}));
    // A failed import must not stick: the next call tries again.
    aws.catch(() => {
      aws = undefined;
    });
    return aws;
  };

  return {
    async read(ref: SecretReference): Promise<SecretValue> {
      switch (ref.scheme) {
        case 'env':
          return env.read(ref);
        case 'file':
          return file.read(ref);
        case 'vault':
          return (await vaultProvider()).read(ref);
        case 'aws-sm':
          return (await awsProviders()).sm.read(ref);
        case 'aws-ssm':
          return (await awsProviders()).ssm.read(ref);
      }
    },
    async write(ref: SecretReference, value: string, writeOptions?: WriteOptions) {
      if (typeof value !== 'string' || value.length === 0) throw new SecretError('invalid_value', 'refusing to store an empty secret');
      switch (ref.scheme) {
        case 'env':
          return env.write(ref, value, writeOptions);
        case 'file':
          return file.write(ref, value, writeOptions);
        case 'vault':
          return (await vaultProvider()).write(ref, value, writeOptions);
        case 'aws-sm':
          return (await awsProviders()).sm.write(ref, value, writeOptions);
        case 'aws-ssm':
          return (await awsProviders()).ssm.write(ref, value, writeOptions);
      }
    },
  };
}

const DEFAULT_K8S_TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * The store the service and the CLI use, configured from the environment:
 * VAULT_ADDR, VAULT_TOKEN / VAULT_TOKEN_FILE, VAULT_NAMESPACE, VAULT_K8S_ROLE, VAULT_K8S_MOUNT,
 * VAULT_K8S_TOKEN_PATH for Vault; AWS_REGION and AWS_ENDPOINT_URL for AWS. AWS credentials come from
 * the SDK's default chain (the process's AWS_ACCESS_KEY_ID/…, web identity (IRSA), instance or pod
 * roles), not from `rawEnv`. `env:` references read `rawEnv`. Empty values count as unset.
 */
export function secretStoreFromEnv(rawEnv: Readonly<Record<string, string | undefined>>): SecretStore {
  const get = (name: string) => {
    const v = rawEnv[name];
    return v === undefined || v === '' ? undefined : v;
  };
  const address = get('VAULT_ADDR');
  const role = get('VAULT_K8S_ROLE');
  const vault: VaultProviderOptions | undefined = address
    ? {
        address,
        token: get('VAULT_TOKEN'),
        tokenFile: get('VAULT_TOKEN_FILE'),
        namespace: get('VAULT_NAMESPACE'),
        kubernetes: role
          ? { role, mount: get('VAULT_K8S_MOUNT') ?? 'kubernetes', tokenPath: get('VAULT_K8S_TOKEN_PATH') ?? DEFAULT_K8S_TOKEN_PATH }
          : undefined,
      }
    : undefined;
  const plaintext = secretStorePlaintext(rawEnv);
  return createSecretStore({
    env: rawEnv,
    vault,
    aws: { region: get('AWS_REGION'), endpoint: get('AWS_ENDPOINT_URL') },
    ...(plaintext ? { plaintextRefusal: plaintext } : {}),
  });
}

/**
 * Production refuses to talk to a secret store over plain http (the Vault token, AWS signatures and the
 * secrets themselves would cross the network in clear) unless ALLOW_PLAINTEXT names `secrets`. The
 * message when it refuses; undefined when the stores may be used. (The configuration check, in
 * config/load.ts, refuses the same setting at start; this one holds for the references resolved
 * before it, and for the CLI.)
 */
export function secretStorePlaintext(rawEnv: Readonly<Record<string, string | undefined>>): string | undefined {
  if (rawEnv.NODE_ENV !== 'production') return undefined;
  if (parseAllowPlaintext(rawEnv.ALLOW_PLAINTEXT).has('secrets')) return undefined;
  for (const name of ['VAULT_ADDR', 'AWS_ENDPOINT_URL'] as const) {
    const value = rawEnv[name];
    if (value && !/^https:\/\//i.test(value))
      return `${name} is not an https:// URL: production does not send secrets or credentials in plaintext (use TLS, or ALLOW_PLAINTEXT=secrets to accept it)`;
  }
  return undefined;
}
