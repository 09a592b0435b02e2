import type { CliContext } from '../context.js';
import { CliError } from '../errors.js';

/**
 * The configured database's URL (`--database-url` / DATABASE_URL(_FILE)), read without connecting:
 * the knex pool opens connections lazily, so opening and closing it touches no server.
 */
export async function configuredUrl(ctx: CliContext): Promise<string | undefined> {
  const db = await ctx.database();
  try {
    return db.kind === 'postgres' ? db.url : undefined;
  } finally {
    await db.close();
  }
}

export async function requireConfiguredUrl(ctx: CliContext, why: string): Promise<string> {
  const url = await configuredUrl(ctx);
  if (!url) {
    throw new CliError(`${why} needs PostgreSQL: set DATABASE_URL (or DATABASE_URL_FILE); the embedded PGlite has no pg_dump`, {
      code: 'postgres_required',
    });
  }
  return url;
}
