import type { SecretReference, SecretStore } from '../../../service/src/public/secrets.js';
import { SecretError } from '../../../service/src/public/secrets.js';
import type { CliContext } from './context.js';
import { CliError, UsageError } from './errors.js';

/**
 * The secret store for a command, built from the environment the service would use (VAULT_*, AWS_*),
 * and the parsed reference. A malformed reference is a usage error (exit 2).
 */
export async function openSecretStore(
  ctx: Pick<CliContext, 'env'>,
  text: string,
  override?: SecretStore,
): Promise<{ store: SecretStore; ref: SecretReference }> {
  const { parseSecretReference } = await import('../../../service/src/public/secrets.js');
  let ref: SecretReference;
  try {
    ref = parseSecretReference(text);
  } catch (err) {
    if (err instanceof SecretError) throw new UsageError(err.message);
    throw err;
  }
  if (override) return { store: override, ref };
  const { secretStoreFromEnv } = await import('../../../service/src/public/secrets.js');
  return { store: secretStoreFromEnv(ctx.env), ref };
}

const HINTS: Partial<Record<SecretError['code'], string>> = {
  auth_failed: 'check the credentials the CLI runs with (VAULT_TOKEN / Vault Kubernetes role, AWS credentials)',
  not_found: 'check the reference: mount, path and key',
  unavailable: 'the secret store did not answer; nothing was changed — retry when it is reachable',
  read_only: 'this kind of reference cannot be written; use file:, vault://, aws-sm:// or aws-ssm://',
};

/** A store failure as a CLI error (exit 1) that names the reference and what to do, never the value. */
export function secretFailure(err: unknown, refText: string, conflictHint?: string): CliError {
  if (!(err instanceof SecretError)) return err instanceof CliError ? err : new CliError(`${refText}: ${String((err as Error)?.message ?? err)}`);
  const hint = err.code === 'conflict' ? conflictHint ?? 'someone else changed it since it was read; re-run' : HINTS[err.code];
  const message = err.message.includes(refText) ? err.message : `${refText}: ${err.message}`;
  return new CliError(`${message}${hint ? ` — ${hint}` : ''}`, { code: `secret_${err.code}`, cause: err });
}
