import { type Knex, openSession, type RawSession } from '../../../../service/src/public/db.js';
import type { SecretReference, SecretStore, SecretValue } from '../../../../service/src/public/secrets.js';
import { CliError } from '../errors.js';
import { readRoleClosure, readRoles } from './catalog.js';
import { parseConnectionUrl, redactUrl, urlUser, withCredentials } from './connection-url.js';
import { quoteIdent, quoteLiteral } from './identifiers.js';
import { PROBE_TABLE } from './layout.js';
import { generateDatabasePassword, scramSha256Verifier } from './scram.js';

/**
 * Alternating-users rotation (AWS Secrets Manager's create → set → test → finish): the stored URL
 * names the active user; the other user of the pair gets a new password, proves it can log in and
 * read, and only then does the stored URL switch to it — written with check-and-set against the
 * version read at the start. The previous user keeps its password (pods still using it keep
 * working) until the next rotation gives it a new one.
 */
export type RotationStep = 'read' | 'plan' | 'set-password' | 'test-login' | 'write';

export interface RotationOptions {
  ref: SecretReference;
  /** The pair, in order; the first one takes over from a user outside the pair with `adopt`. */
  users: readonly [string, string];
  /**
   * A single login role instead of the pair (the migration, backup and drill credentials): its own
   * password is replaced. Jobs connect briefly, so no alternation is needed — but a Job starting
   * between the change and the secret's sync to its pods fails (and retries).
   */
  role?: string;
  runtime: string;
  schema: string;
  dryRun: boolean;
  /** Take over from a stored user that is not one of the pair (the first rotation onto the pair). */
  adopt: boolean;
  /** Rotate even while sessions of the inactive user are still open. */
  force: boolean;
  /** Announces each step (the CLI's spinner). */
  step?: <T>(label: string, fn: () => Promise<T>) => Promise<T>;
}

export interface RotationReport {
  previous_user: string;
  active_user: string;
  /** The version the store holds now (dry run: the version read). */
  stored_version: string | null;
  dry_run: boolean;
  /** Where the URL lives. */
  ref: string;
  /** The URL written (or to be written), without password or options. */
  target: string;
}

export class RotationError extends CliError {
  readonly step: RotationStep;
  constructor(step: RotationStep, message: string, hint: string, cause?: unknown) {
    super(`rotate-password failed at step "${step}": ${message}. ${hint}`, {
      code: `rotation_${step.replace('-', '_')}_failed`,
      cause,
    });
    this.step = step;
  }
}

const UNCHANGED = 'The stored connection URL is unchanged and its user is still active; nothing needs undoing.';

export async function rotatePassword(admin: Knex, store: SecretStore, options: RotationOptions): Promise<RotationReport> {
  const step = options.step ?? (<T>(_label: string, fn: () => Promise<T>) => fn());
  const { ref, users, runtime } = options;

  // 1. Read the active URL and its version.
  let current: SecretValue;
  try {
    current = await step(`reading ${ref.text}`, () => store.read(ref));
  } catch (err) {
    throw new RotationError(
      'read',
      `could not read ${ref.text}: ${(err as Error).message}`,
      'Check the reference and the store’s credentials, then re-run.',
      err,
    );
  }
  const url = parseConnectionUrl(current.value);
  const previous = urlUser(url);
  let next: string;
  if (options.role !== undefined) {
    if (previous !== options.role && !options.adopt) {
      throw new RotationError(
        'plan',
        `the stored URL’s user "${previous}" is not "${options.role}"`,
        `${UNCHANGED} Check --ref names ${options.role}'s credential, or pass --adopt to store "${options.role}" there (its first password).`,
      );
    }
    next = options.role;
  } else if (previous === users[0]) next = users[1];
  else if (previous === users[1]) next = users[0];
  else if (options.adopt) next = users[0];
  else {
    throw new RotationError(
      'plan',
      `the stored URL’s user "${previous}" is neither "${users[0]}" nor "${users[1]}"`,
      `${UNCHANGED} Pass --users if the pair has other names, or --adopt to switch the service onto "${users[0]}" (the first rotation onto the pair).`,
    );
  }

  // 2. The inactive user must be a runtime login user, and unused (no pod left on it).
  await step(`checking "${next}"`, async () => {
    const role = (await readRoles(admin, [next])).get(next);
    const problems = [
      !role && 'does not exist',
      role && !role.rolcanlogin && 'cannot log in',
      role?.rolsuper && 'is a superuser',
      role &&
        options.role === undefined &&
        !(await readRoleClosure(admin, next)).includes(runtime) &&
        `is not a member of "${runtime}"`,
    ].filter((p): p is string => Boolean(p));
    if (problems.length > 0) {
      throw new RotationError(
        'plan',
        `"${next}" ${problems.join(', ')}`,
        `${UNCHANGED} Run \`secops db roles apply\` first, then re-run.`,
      );
    }
    const { rows } = (await admin.raw(
      'select count(*)::int as n from pg_catalog.pg_stat_activity where usename = ? and pid <> pg_backend_pid()',
      [next],
    )) as { rows: { n: number }[] };
    const sessions = rows[0]?.n ?? 0;
    // A single role's open sessions are its own running Jobs: a new password does not end them.
    if (sessions > 0 && !options.force && options.role === undefined) {
      throw new RotationError(
        'plan',
        `${sessions} session(s) of "${next}" are still open: pods from before the last rotation may still use its password`,
        `${UNCHANGED} Finish the rollout of the last rotation (kubectl rollout status deployment/rampart), then re-run; --force rotates anyway (new connections of those pods would then fail).`,
      );
    }
  });

  const report: RotationReport = {
    previous_user: previous,
    active_user: options.dryRun ? previous : next,
    stored_version: current.version ?? null,
    dry_run: options.dryRun,
    ref: ref.text,
    target: redactUrl(new URL(withCredentials(url, next, 'x'))),
  };
  if (options.dryRun) return { ...report, active_user: next };

  // 3. A new password for the inactive user, sent only as its SCRAM verifier.
  const password = generateDatabasePassword();
  try {
    await step(`setting a new password on "${next}"`, () =>
      admin.raw(`ALTER ROLE ${quoteIdent(next)} PASSWORD ${quoteLiteral(scramSha256Verifier(password))}`),
    );
  } catch (err) {
    throw new RotationError(
      'set-password',
      `ALTER ROLE failed: ${(err as Error).message}`,
      `${UNCHANGED} The admin role needs CREATEROLE (or superuser); re-run once it has.`,
      err,
    );
  }

  // 4. Prove the new credentials work before anyone depends on them.
  const nextUrl = withCredentials(url, next, password);
  try {
    await step(`testing a login as "${next}"`, () =>
      testLogin(nextUrl, next, options.role === undefined ? options.schema : undefined),
    );
  } catch (err) {
    throw new RotationError(
      'test-login',
      (err as Error).message.replaceAll(password, '[redacted]'),
      `${UNCHANGED} "${next}" has a password nobody uses yet; fix the cause (pg_hba.conf, network, grants: \`secops db roles check --user ${next}\`) and re-run.`,
    );
  }

  // 5. Switch the stored URL, only if nobody changed it since step 1.
  let written: { version: string | undefined };
  try {
    written = await step(`writing the new URL to ${ref.text}`, () =>
      store.write(ref, nextUrl, { expectedVersion: current.version ?? null }),
    );
  } catch (err) {
    const conflict = (err as { code?: string }).code === 'conflict';
    throw new RotationError(
      'write',
      conflict
        ? `${ref.text} changed since it was read (another rotation or an operator)`
        : `could not write ${ref.text}: ${(err as Error).message}`,
      `${UNCHANGED} Re-run: it reads the current value again and rotates from there.`,
      err,
    );
  }
  return { ...report, stored_version: written.version ?? null };
}

/**
 * Connects with the new URL and checks who it is (the login, session_user: a migrator acts as the
 * owner); for a runtime user, also that it can read an app table.
 */
async function testLogin(url: string, expectedUser: string, schema: string | undefined): Promise<void> {
  let session: RawSession | undefined;
  try {
    session = await openSession(url, {
      applicationName: 'secops-rotate-test',
      statementTimeoutMs: 10_000,
      queryTimeoutMs: 11_000,
    });
    const { client } = session;
    const who = await client.query<{ user: string }>('select session_user as user');
    if (who.rows[0]?.user !== expectedUser) throw new Error(`logged in as "${who.rows[0]?.user}", not "${expectedUser}"`);
    if (schema !== undefined) await client.query(`select 1 from ${quoteIdent(schema)}.${quoteIdent(PROBE_TABLE)} limit 1`);
  } catch (err) {
    throw new Error(`login test as "${expectedUser}" failed: ${(err as Error).message}`);
  } finally {
    await session?.close();
  }
}
