import { readFileSync } from 'node:fs';
import {
  type Config,
  ConfigError,
  type Env,
  loadConfig,
  type PickedSource,
  pickSource,
  readSettings,
  type SettingName,
  settingsWithSource,
  valueOfSource,
} from '../../../service/src/public/config.js';
import { hasSecretReferences, resolveSecretReferences } from '../../../service/src/public/config.js';
import type { SecretStore } from '../../../service/src/public/secrets.js';
import { ConfigurationError } from './errors.js';

type EnvRecord = Readonly<Record<string, string | undefined>>;

/**
 * The service's configuration as the CLI reads it: the settings table of service/src/config/settings.ts,
 * read the service's way, with `--database-url` standing in for DATABASE_URL (and its _FILE and _REF).
 */
export interface CliConfig {
  /** These settings, parsed and checked; an invalid one is a ConfigurationError (exit 78). */
  read<K extends SettingName>(names: readonly K[]): Pick<Env, K>;
  /** Where a setting comes from (inline value, NAME_FILE, NAME_REF, none or a conflict); nothing is read. */
  source(name: SettingName): PickedSource;
  /** The whole service configuration, secret references resolved (what `database()` connects with). */
  service(): Promise<Config>;
}

/** `--database-url` stands in for DATABASE_URL and its other sources. */
function withDatabaseUrl(env: EnvRecord, databaseUrl: string | undefined): EnvRecord {
  return databaseUrl === undefined
    ? env
    : { ...env, DATABASE_URL: databaseUrl, DATABASE_URL_FILE: undefined, DATABASE_URL_REF: undefined };
}

/** The context's `config()`: the one way a command reads the service's settings. */
export function cliConfig(env: EnvRecord, databaseUrl?: string): CliConfig {
  const effective = withDatabaseUrl(env, databaseUrl);
  let service: Promise<Config> | undefined;
  return {
    read(names) {
      const parsed = readSettings(effective, names);
      if ('problems' in parsed) throw new ConfigurationError(parsed.problems);
      return parsed.values;
    },
    source: (name) => pickSource(effective, name),
    service: () => {
      service ??= loadCliConfig(effective);
      return service;
    },
  };
}

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
  const effective = withDatabaseUrl(env, databaseUrl);
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

/** What `secops` needs to reach the database, and nothing more. */
export interface CliDatabaseConfig {
  /** undefined → the embedded PGlite under `dataDir`. */
  readonly url: string | undefined;
  readonly dataDir: string;
  readonly poolMax: number;
  readonly acquireTimeoutMs: number;
  readonly statementTimeoutMs: number;
}

/**
 * One secret setting the service's way — its variable, NAME_FILE or NAME_REF (only that reference is
 * resolved: a command given one secret needs no access to the others). Problems are collected.
 */
export async function readSecretSetting(
  env: EnvRecord,
  name: SettingName,
  problems: string[],
  store?: SecretStore,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): Promise<string | undefined> {
  const source = pickSource(env, name);
  try {
    if (source.kind === 'ref') {
      const { secretStoreFromEnv } = await import('../../../service/src/public/secrets.js');
      const others = Object.fromEntries(settingsWithSource('ref').filter((n) => n !== name).map((n) => [`${n}_REF`, undefined]));
      return (await resolveSecretReferences({ ...env, ...others }, store ?? secretStoreFromEnv(env)))[name];
    }
    return valueOfSource(name, source, readFile, problems);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigurationError(err.problems, err);
    throw err;
  }
}

const DATABASE_SETTINGS = ['NODE_ENV', 'DATA_DIR', 'DB_POOL_MAX', 'DB_ACQUIRE_TIMEOUT_MS', 'DB_STATEMENT_TIMEOUT_MS'] as const;

/**
 * The database settings alone, read the service's way (DATABASE_URL from its variable, _FILE or _REF;
 * `--database-url` standing in for them): a maintenance Job — migrate, backup, drill — is given its
 * database credential and nothing else, so it must not need the mail, JWT or audit-key settings the
 * service requires in production. Production still requires a DATABASE_URL (never the embedded PGlite).
 */
export async function loadCliDatabaseConfig(
  env: EnvRecord,
  databaseUrl?: string,
  store?: SecretStore,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): Promise<CliDatabaseConfig> {
  const effective = withDatabaseUrl(env, databaseUrl);
  const problems: string[] = [];
  const url = await readSecretSetting(effective, 'DATABASE_URL', problems, store, readFile);
  const read = readSettings(effective, DATABASE_SETTINGS);
  if ('problems' in read) problems.push(...read.problems);
  else if (read.values.NODE_ENV === 'production' && url === undefined && problems.length === 0) problems.push('DATABASE_URL is required in production');
  if (problems.length > 0 || 'problems' in read) throw new ConfigurationError(problems);
  return {
    url,
    dataDir: read.values.DATA_DIR,
    poolMax: read.values.DB_POOL_MAX,
    acquireTimeoutMs: read.values.DB_ACQUIRE_TIMEOUT_MS,
    statementTimeoutMs: read.values.DB_STATEMENT_TIMEOUT_MS,
  };
}
