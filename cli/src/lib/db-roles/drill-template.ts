import { withSession } from '../../../../service/src/public/db.js';
import { withDatabaseName } from '../backup/pg-tools.js';
import { quoteIdent as q } from './identifiers.js';

/**
 * The restore drill's template database. The drill runs as a role with CREATEDB and nothing else, and
 * checks its scratch copy's indexes with pg_amcheck — but the amcheck extension is not trusted, so a
 * role that is not a superuser cannot install it into a fresh database. The admin installs it once,
 * into a template database the drill clones (`CREATE DATABASE … TEMPLATE`): every scratch copy then
 * has amcheck, executable by the drill role only. CREATE DATABASE cannot run in a transaction, so this
 * is a step of its own after the roles' transaction.
 */

export interface DrillTemplateResult {
  name: string;
  /** ready: exists with amcheck and the grants; unavailable: this admin cannot build it (detail says why). */
  status: 'ready' | 'unavailable';
  statements: string[];
  detail?: string;
}

/** The schema inside the template that holds amcheck's functions (kept out of `public`, which restores fill). */
export const AMCHECK_SCHEMA = 'amcheck';

export async function prepareDrillTemplate(
  adminUrl: string,
  names: { template: string; drill: string },
  options: { dryRun: boolean },
): Promise<DrillTemplateResult> {
  const { template, drill } = names;
  const statements: string[] = [];
  const result = (status: DrillTemplateResult['status'], detail?: string): DrillTemplateResult => ({
    name: template,
    status,
    statements,
    ...(detail ? { detail } : {}),
  });
  const state = await withSession(adminUrl, { applicationName: 'secops-db-roles' }, async ({ client }) => {
    const { rows } = await client.query<{ exists: boolean; can_create: boolean; is_template: boolean }>(
      `select exists (select 1 from pg_catalog.pg_database where datname = $1) as exists,
              coalesce((select datistemplate from pg_catalog.pg_database where datname = $1), false) as is_template,
              (select rolsuper or rolcreatedb from pg_catalog.pg_roles where rolname = current_user) as can_create`,
      [template],
    );
    return rows[0] as { exists: boolean; can_create: boolean; is_template: boolean };
  });
  if (!state.exists) {
    if (!state.can_create) return result('unavailable', 'the admin role has neither SUPERUSER nor CREATEDB');
    statements.push(`CREATE DATABASE ${q(template)}`);
  }
  // Inside the template: amcheck in a schema of its own, usable and executable by the drill role only.
  const inside = [
    `CREATE SCHEMA IF NOT EXISTS ${q(AMCHECK_SCHEMA)}`,
    `REVOKE ALL ON SCHEMA ${q(AMCHECK_SCHEMA)} FROM PUBLIC`,
    `CREATE EXTENSION IF NOT EXISTS amcheck WITH SCHEMA ${q(AMCHECK_SCHEMA)}`,
    `GRANT USAGE ON SCHEMA ${q(AMCHECK_SCHEMA)} TO ${q(drill)}`,
    `GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ${q(AMCHECK_SCHEMA)} TO ${q(drill)}`,
  ];
  statements.push(`-- in database ${q(template)}:`, ...inside);
  // Nobody connects to the template; the drill role may clone it because it is marked a template.
  const after = [`REVOKE ALL ON DATABASE ${q(template)} FROM PUBLIC`, `ALTER DATABASE ${q(template)} IS_TEMPLATE true`];
  statements.push(...after);
  if (options.dryRun) return result('ready');

  try {
    if (!state.exists)
      await withSession(adminUrl, { applicationName: 'secops-db-roles' }, ({ client }) =>
        client.query(`CREATE DATABASE ${q(template)}`),
      );
    await withSession(withDatabaseName(adminUrl, template), { applicationName: 'secops-db-roles' }, async ({ client }) => {
      await client.query('begin');
      for (const sql of inside) await client.query(sql);
      await client.query('commit');
    });
    await withSession(adminUrl, { applicationName: 'secops-db-roles' }, async ({ client }) => {
      for (const sql of after) await client.query(sql);
    });
  } catch (err) {
    return result('unavailable', (err as Error).message);
  }
  return result('ready');
}

/** The template's name if it exists and is marked a template (the drill then clones it), else undefined. */
export async function usableDrillTemplate(serverUrl: string, template: string): Promise<string | undefined> {
  return withSession(serverUrl, { applicationName: 'secops-backup' }, async ({ client }) => {
    const { rows } = await client.query<{ ok: boolean }>(
      'select datistemplate as ok from pg_catalog.pg_database where datname = $1',
      [template],
    );
    return rows[0]?.ok === true ? template : undefined;
  });
}
