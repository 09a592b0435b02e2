import { readFileSync } from 'node:fs';
import { describeReference, parseSecretReference } from '../platform/secrets/reference.js';
import { SecretError, type SecretStore } from '../platform/secrets/types.js';
import { ConfigError } from './load.js';
import { pickSource, type SettingName, settingsWithSource, valueOfSource } from './settings.js';

/**
 * `NAME_REF` variables: the secret settings read through a secret store (../platform/secrets)
 * instead of the environment or a file — e.g. `JWT_SECRET_REF=vault://secret/rampart#jwt`,
 * `DATABASE_URL_REF=file:/var/run/secrets/rampart/database-url`.
 *
 * They are resolved before `loadConfig`, which then sees plain `NAME` values and validates them as
 * usual. Each setting has exactly one source: `NAME_REF` together with `NAME` or `NAME_FILE` is a
 * configuration error. Failures name the variable, the reference's location and the store's error
 * code — never a value.
 */

/** The settings that may come from a secret store (settings.ts: `sources` includes `ref`). */
export const SECRET_REFERENCE_VARIABLES: readonly SettingName[] = settingsWithSource('ref');

type RawEnv = Readonly<Record<string, string | undefined>>;
/** Secret files are a few bytes on a local or tmpfs mount: read at once, as at start-up. */
type ReadFile = (path: string) => string;

const set = (v: string | undefined) => (v === undefined || v === '' ? undefined : v);

type Outcome = { ok: true; value: string | undefined } | { ok: false; problem: string };

/** Reads NAME_REF through the store; undefined when NAME_REF is not the source in use. */
async function readReference(rawEnv: RawEnv, name: SettingName, store: SecretStore): Promise<Outcome | undefined> {
  const source = pickSource(rawEnv, name);
  if (source.kind === 'conflict' && set(rawEnv[`${name}_REF`]) !== undefined) return { ok: false, problem: source.problem };
  if (source.kind !== 'ref') return undefined;
  let ref: ReturnType<typeof parseSecretReference>;
  try {
    ref = parseSecretReference(source.reference);
  } catch (err) {
    if (err instanceof SecretError) return { ok: false, problem: `${name}_REF: ${err.message}` };
    throw err;
  }
  try {
    const { value } = await store.read(ref);
    if (value === '') return { ok: false, problem: `${name}_REF: ${describeReference(ref)} is empty` };
    return { ok: true, value };
  } catch (err) {
    if (!(err instanceof SecretError)) throw err;
    return { ok: false, problem: `${name}_REF: cannot read ${describeReference(ref)} (${err.code}: ${err.message})` };
  }
}

/**
 * A copy of `rawEnv` in which every set `NAME_REF` (for the names of SECRET_REFERENCE_VARIABLES) is
 * replaced by `NAME` holding the secret it references. Throws ConfigError, one problem per variable.
 * The references are read concurrently.
 */
export async function resolveSecretReferences(rawEnv: RawEnv, store: SecretStore): Promise<Record<string, string | undefined>> {
  const outcomes = await Promise.all(SECRET_REFERENCE_VARIABLES.map((name) => readReference(rawEnv, name, store)));
  const env: Record<string, string | undefined> = { ...rawEnv };
  const problems: string[] = [];
  SECRET_REFERENCE_VARIABLES.forEach((name, i) => {
    const outcome = outcomes[i];
    delete env[`${name}_REF`];
    if (outcome === undefined) return;
    if (outcome.ok) env[name] = outcome.value;
    else problems.push(outcome.problem);
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return env;
}

/** True when any NAME_REF is set (so a caller can skip building a store when none is). */
export function hasSecretReferences(rawEnv: RawEnv): boolean {
  return SECRET_REFERENCE_VARIABLES.some((name) => set(rawEnv[`${name}_REF`]) !== undefined);
}

export interface JwtMaterial {
  /** JWT_SECRET as configured (base64url text), if any. */
  readonly secret?: string;
  /** The JWT_KEYS document (JSON text), if any. */
  readonly keys?: string;
}

/**
 * Reads the JWT signing material afresh from whichever source is configured — JWT_SECRET_REF /
 * JWT_SECRET_FILE / JWT_SECRET and JWT_KEYS_REF / JWT_KEYS_FILE / JWT_KEYS — for the keyring reload
 * (interval and SIGHUP). Files lose one trailing newline, as at start-up. Throws ConfigError (no values).
 */
export async function readJwtMaterial(rawEnv: RawEnv, store: SecretStore, readFile?: ReadFile): Promise<JwtMaterial> {
  const problems: string[] = [];
  const [secret, keys] = await Promise.all([
    readSetting(rawEnv, 'JWT_SECRET', store, problems, readFile),
    readSetting(rawEnv, 'JWT_KEYS', store, problems, readFile),
  ]);
  if (problems.length > 0) throw new ConfigError(problems);
  return { ...(secret === undefined ? {} : { secret }), ...(keys === undefined ? {} : { keys }) };
}

/**
 * DATABASE_URL as it stands now, from wherever it comes (inline, _FILE or _REF): what the service
 * re-reads to follow a changed connection string without a restart. Throws ConfigError.
 */
export async function readDatabaseUrl(rawEnv: RawEnv, store: SecretStore, readFile?: ReadFile): Promise<string | undefined> {
  const problems: string[] = [];
  const url = await readSetting(rawEnv, 'DATABASE_URL', store, problems, readFile);
  if (problems.length > 0) throw new ConfigError(problems);
  return url;
}

/** One setting's current value from its source (NAME, NAME_FILE or NAME_REF); problems are appended. */
async function readSetting(
  rawEnv: RawEnv,
  name: SettingName,
  store: SecretStore,
  problems: string[],
  readFile?: ReadFile,
): Promise<string | undefined> {
  const read: ReadFile = readFile ?? ((path) => readFileSync(path, 'utf8'));
  const source = pickSource(rawEnv, name);
  if (source.kind !== 'ref') return valueOfSource(name, source, read, problems);
  const fromRef = (await readReference(rawEnv, name, store)) as Outcome;
  if (fromRef.ok) return fromRef.value;
  problems.push(fromRef.problem);
  return undefined;
}
