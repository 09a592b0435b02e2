import { type Config, ConfigError, loadConfig } from '../../../service/src/public/config.js';
import { hasSecretReferences, resolveSecretReferences } from '../../../service/src/public/config.js';
import type { SecretStore } from '../../../service/src/public/secrets.js';
import { ConfigurationError } from './errors.js';

/**
 * The service's own configuration, loaded the service's way, so the CLI and the service always agree
 * on defaults (DATA_DIR, pool sizes, timeouts) and on where secrets come from: `*_REF` variables are
 * read through the same secret store first. `--database-url` goes through the same validation as
 * DATABASE_URL by standing in for it (and for DATABASE_URL_FILE / DATABASE_URL_REF).
 *
 * Start-up warnings (e.g. the ephemeral JWT secret) concern the HTTP service, not a CLI run, and are
 * not repeated here.
 */
export async function loadCliConfig(
  env: Readonly<Record<string, string | undefined>>,
  databaseUrl?: string,
  store?: SecretStore,
): Promise<Config> {
  const effective =
    databaseUrl === undefined
      ? env
      : { ...env, DATABASE_URL: databaseUrl, DATABASE_URL_FILE: undefined, DATABASE_URL_REF: undefined };
  try {
    let resolved = effective;
    if (hasSecretReferences(effective)) {
      const { secretStoreFromEnv } = await import('../../../service/src/public/secrets.js');
      resolved = await resolveSecretReferences(effective, store ?? secretStoreFromEnv(effective));
    }
    return loadConfig(resolved).config;
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigurationError(err.problems, err);
    throw err;
  }
}
