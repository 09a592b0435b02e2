import { type Config, ConfigError, loadConfig } from '../../../service/src/config/load.js';
import { ConfigurationError } from './errors.js';

/**
 * The service's own configuration, loaded the service's way, so the CLI and the service always agree
 * on defaults (DATA_DIR, pool sizes, timeouts). `--database-url` goes through the same validation
 * as DATABASE_URL by standing in for it.
 *
 * Start-up warnings (e.g. the ephemeral JWT secret) concern the HTTP service, not a CLI run, and are
 * not repeated here.
 */
export function loadCliConfig(env: Readonly<Record<string, string | undefined>>, databaseUrl?: string): Config {
  const effective = databaseUrl === undefined ? env : { ...env, DATABASE_URL: databaseUrl, DATABASE_URL_FILE: undefined };
  try {
    return loadConfig(effective).config;
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigurationError(err.problems, err);
    throw err;
  }
}
