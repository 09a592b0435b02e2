import { UsageError } from '../errors.js';

/**
 * Role and schema names are spliced into DDL (GRANT/ALTER ROLE take no bind parameters), so they are
 * validated to a plain lowercase identifier and then quoted anyway. `pg_` is reserved by PostgreSQL.
 */
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

export function validateName(name: string, what: string): string {
  if (!IDENTIFIER.test(name) || name.startsWith('pg_')) {
    throw new UsageError(
      `invalid ${what} "${name}": use lowercase letters, digits and _ (starting with a letter or _, at most 63, not pg_…)`,
    );
  }
  return name;
}

/** A double-quoted identifier (`"` doubled), for names read from the catalog as well as validated ones. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A standard-conforming string literal (`'` doubled); the value must not contain a NUL. */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('a SQL literal cannot hold a NUL character');
  return `'${value.replace(/'/g, "''")}'`;
}
