import { randomUUID } from 'node:crypto';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { AwsProviderOptions, SecretProvider } from './provider.js';
import { SecretError, type SecretReference } from './types.js';

/**
 * `aws-sm://secret-id[#key]` (Secrets Manager) and `aws-ssm:///name` (SSM Parameter Store,
 * SecureString), through the AWS SDK v3 — imported here on first use only (./store.ts loads this
 * module lazily). Region and credentials come from the SDK's default chain unless given.
 *
 * Secrets Manager: read = GetSecretValue (AWSCURRENT); the version is its VersionId. With `#key` the
 * SecretString is a JSON object and the value one string field of it; a write is read-modify-write of
 * that object (other fields kept). A secret that does not exist is created (CreateSecret).
 * Check-and-set is BEST-EFFORT: Secrets Manager has no conditional put, so the version is compared
 * just before PutSecretValue; a writer landing between the two is not detected. Run one rotation at a
 * time (the CLI's rotations take their own lock).
 *
 * SSM: read = GetParameter WithDecryption; the version is Parameter.Version. Write = PutParameter
 * Type SecureString, Overwrite — except for `expectedVersion: null`, which sends Overwrite false so
 * "must not exist" is atomic (ParameterAlreadyExists → conflict). Other expected versions are
 * compared just before the put (best-effort, as above).
 */

type SmRef = Extract<SecretReference, { scheme: 'aws-sm' }>;
type SsmRef = Extract<SecretReference, { scheme: 'aws-ssm' }>;

const DEFAULT_TIMEOUT_MS = 5000;

const NOT_FOUND = new Set(['ResourceNotFoundException', 'ParameterNotFound', 'ParameterVersionNotFound']);
const AUTH = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'ExpiredTokenException',
  'ExpiredToken',
  'InvalidClientTokenId',
  'MissingAuthenticationToken',
  'CredentialsProviderError',
  'KMSAccessDeniedException',
]);
const EXISTS = new Set(['ResourceExistsException', 'ParameterAlreadyExists']);

/** An SDK failure as a SecretError: the error's name and HTTP status, never a request or a value. */
function awsError(err: unknown, where: string, action: string): SecretError {
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const name = e?.name ?? 'Error';
  const status = e?.$metadata?.httpStatusCode;
  const cause = { cause: err };
  if (NOT_FOUND.has(name)) return new SecretError('not_found', `${where} does not exist`, cause);
  if (AUTH.has(name)) {
    const hint =
      name === 'CredentialsProviderError' ? 'no AWS credentials found in the default chain' : 'check the AWS credentials and their IAM policy';
    return new SecretError('auth_failed', `AWS refused the ${action} of ${where} (${name}): ${hint}`, cause);
  }
  if (EXISTS.has(name)) return new SecretError('conflict', `${where} already exists`, cause);
  if (status === undefined && /region is missing/i.test(String((err as Error)?.message))) {
    return new SecretError('not_configured', `${where}: no AWS region (set AWS_REGION)`, cause);
  }
  if (name === 'AbortError' || name === 'TimeoutError' || e?.code === 'ETIMEDOUT') {
    return new SecretError('unavailable', `AWS did not answer the ${action} of ${where} in time`, cause);
  }
  if (status === undefined) {
    return new SecretError('unavailable', `AWS is unreachable for the ${action} of ${where} (${e?.code ?? name})`, cause);
  }
  return new SecretError('unavailable', `AWS failed the ${action} of ${where} (${name}, HTTP ${status})`, cause);
}

function clientConfig(options: AwsProviderOptions) {
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return {
    region: options.region,
    endpoint: options.endpoint,
    credentials: options.credentials,
    maxAttempts: options.maxAttempts ?? 2,
    requestHandler: { connectionTimeout: timeout, requestTimeout: timeout },
  };
}

function parseJsonObject(text: string, where: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SecretError('invalid_value', `${where}: the secret is not a JSON object, so it has no fields (leave out #key to use the whole secret)`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new SecretError('invalid_value', `${where}: the secret is not a JSON object, so it has no fields`);
  }
  return parsed as Record<string, unknown>;
}

export async function createAwsProviders(
  options: AwsProviderOptions,
): Promise<{ sm: SecretProvider<'aws-sm'>; ssm: SecretProvider<'aws-ssm'> }> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // Bounds a whole call, the SDK's retries included.
  const callOptions = () => ({ abortSignal: AbortSignal.timeout(timeoutMs * (options.maxAttempts ?? 2) + 1000) });

  const smModule = await import('@aws-sdk/client-secrets-manager');
  const ssmModule = await import('@aws-sdk/client-ssm');
  let smClient: SecretsManagerClient | undefined;
  let ssmClient: SSMClient | undefined;
  const sm = () => {
    smClient ??= new smModule.SecretsManagerClient(clientConfig(options));
    return smClient;
  };
  const ssm = () => {
    ssmClient ??= new ssmModule.SSMClient(clientConfig(options));
    return ssmClient;
  };

  const smWhere = (ref: SmRef) => `aws-sm://${ref.secretId}`;

  /** The current SecretString and VersionId; undefined when the secret does not exist. */
  async function getSecret(ref: SmRef): Promise<{ text: string; version: string | undefined } | undefined> {
    try {
      const out = await sm().send(new smModule.GetSecretValueCommand({ SecretId: ref.secretId }), callOptions());
      if (out.SecretString === undefined) {
        throw new SecretError('invalid_value', `${smWhere(ref)} holds a binary secret; only SecretString secrets are supported`);
      }
      return { text: out.SecretString, version: out.VersionId };
    } catch (err) {
      if (err instanceof SecretError) throw err;
      if ((err as Error).name === 'ResourceNotFoundException') return undefined;
      throw awsError(err, smWhere(ref), 'read');
    }
  }

  const smProvider: SecretProvider<'aws-sm'> = {
    async read(ref) {
      const current = await getSecret(ref);
      if (!current) throw new SecretError('not_found', `${smWhere(ref)} does not exist`);
      if (ref.key === undefined) return { value: current.text, version: current.version };
      const field = parseJsonObject(current.text, smWhere(ref))[ref.key];
      if (field === undefined) throw new SecretError('not_found', `${smWhere(ref)} has no field "${ref.key}"`);
      if (typeof field !== 'string') throw new SecretError('invalid_value', `${smWhere(ref)}#${ref.key} is not a string`);
      return { value: field, version: current.version };
    },

    async write(ref, value, writeOptions = {}) {
      const expected = writeOptions.expectedVersion;
      const needsCurrent = ref.key !== undefined || expected !== undefined;
      const current = needsCurrent ? await getSecret(ref) : undefined;
      let fields: Record<string, unknown> | undefined;
      if (current && ref.key !== undefined) fields = parseJsonObject(current.text, smWhere(ref));
      if (expected === null) {
        const exists = ref.key === undefined ? current !== undefined : fields !== undefined && ref.key in fields;
        if (exists) throw new SecretError('conflict', `${smWhere(ref)}${ref.key ? `#${ref.key}` : ''} already exists`);
      } else if (expected !== undefined && current?.version !== expected) {
        throw new SecretError('conflict', `${smWhere(ref)} changed since it was read (its VersionId is no longer the expected one)`);
      }
      const secretString = ref.key === undefined ? value : JSON.stringify({ ...(fields ?? {}), [ref.key]: value });
      // Without a read, whether the secret exists is learned from PutSecretValue.
      let exists = needsCurrent ? current !== undefined : true;
      if (exists) {
        try {
          const out = await sm().send(
            new smModule.PutSecretValueCommand({ SecretId: ref.secretId, SecretString: secretString, ClientRequestToken: randomUUID() }),
            callOptions(),
          );
          return { version: out.VersionId };
        } catch (err) {
          if ((err as Error).name !== 'ResourceNotFoundException' || needsCurrent) throw awsError(err, smWhere(ref), 'write');
          exists = false;
        }
      }
      if (ref.secretId.startsWith('arn:')) throw new SecretError('not_found', `${smWhere(ref)} does not exist (a secret is created by name, not ARN)`);
      try {
        const out = await sm().send(
          new smModule.CreateSecretCommand({ Name: ref.secretId, SecretString: secretString, ClientRequestToken: randomUUID() }),
          callOptions(),
        );
        return { version: out.VersionId };
      } catch (err) {
        throw awsError(err, smWhere(ref), 'write');
      }
    },
  };

  const ssmWhere = (ref: SsmRef) => `aws-ssm://${ref.name}`;

  async function getParameter(ref: SsmRef): Promise<{ value: string; version: string | undefined } | undefined> {
    try {
      const out = await ssm().send(new ssmModule.GetParameterCommand({ Name: ref.name, WithDecryption: true }), callOptions());
      const value = out.Parameter?.Value;
      if (value === undefined) throw new SecretError('invalid_value', `${ssmWhere(ref)}: SSM returned no value`);
      return { value, version: out.Parameter?.Version === undefined ? undefined : String(out.Parameter.Version) };
    } catch (err) {
      if (err instanceof SecretError) throw err;
      if ((err as Error).name === 'ParameterNotFound') return undefined;
      throw awsError(err, ssmWhere(ref), 'read');
    }
  }

  const ssmProvider: SecretProvider<'aws-ssm'> = {
    async read(ref) {
      const current = await getParameter(ref);
      if (!current) throw new SecretError('not_found', `${ssmWhere(ref)} does not exist`);
      return current;
    },

    async write(ref, value, writeOptions = {}) {
      const expected = writeOptions.expectedVersion;
      if (typeof expected === 'string') {
        const current = await getParameter(ref);
        if (current?.version !== expected) {
          throw new SecretError('conflict', `${ssmWhere(ref)} changed since it was read (version ${current?.version ?? 'none'}, expected ${expected})`);
        }
      }
      try {
        const out = await ssm().send(
          new ssmModule.PutParameterCommand({ Name: ref.name, Value: value, Type: 'SecureString', Overwrite: expected !== null }),
          callOptions(),
        );
        return { version: out.Version === undefined ? undefined : String(out.Version) };
      } catch (err) {
        throw awsError(err, ssmWhere(ref), 'write');
      }
    },
  };

  return { sm: smProvider, ssm: ssmProvider };
}
