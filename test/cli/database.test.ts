import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadCliConfig, loadCliDatabaseConfig } from '../../cli/src/lib/config.js';
import { describeTarget, formatTarget } from '../../cli/src/lib/database.js';
import { ConfigurationError } from '../../cli/src/lib/errors.js';

describe('naming the target database', () => {
  it('keeps host, port and database name and drops the credentials', () => {
    const target = describeTarget({ kind: 'postgres', url: 'postgres://app:s3cr%40t@db.internal:6432/rampart?sslmode=require' });
    assert.deepEqual(target, { kind: 'postgres', host: 'db.internal', port: 6432, database: 'rampart' });
    assert.equal(formatTarget(target), 'PostgreSQL db.internal:6432/rampart');
    assert.doesNotMatch(JSON.stringify(target), /s3cr|app/);
  });

  it('does not echo a connection string it cannot parse', () => {
    const target = describeTarget({ kind: 'postgres', url: 'host=db password=s3cret' });
    assert.deepEqual(target, { kind: 'postgres' });
  });

  it('names the embedded database without a URL', () => {
    assert.equal(formatTarget(describeTarget({ kind: 'pglite', url: undefined })), 'embedded PGlite');
  });
});

describe('the CLI configuration', () => {
  it('--database-url stands in for DATABASE_URL_FILE and DATABASE_URL_REF instead of conflicting with them', async () => {
    const config = await loadCliConfig({ DATABASE_URL_FILE: '/nonexistent', DATABASE_URL_REF: 'file:/nonexistent' }, 'postgres://h/db');
    assert.equal(config.database.url?.reveal(), 'postgres://h/db');
  });

  it('reads DATABASE_URL_REF through the secret store, as the service does', async () => {
    const config = await loadCliConfig({ DATABASE_URL_REF: 'env:RAMPART_DB', RAMPART_DB: 'postgres://ref@h/db' });
    assert.equal(config.database.url?.reveal(), 'postgres://ref@h/db');
  });

  it("turns the service's ConfigError into a ConfigurationError (exit 78)", async () => {
    await assert.rejects(
      loadCliConfig({ NODE_ENV: 'production' }),
      (err: unknown) => err instanceof ConfigurationError && err.exitCode === 78 && err.problems.length > 0,
    );
  });
});

describe('the database settings a maintenance Job is given', () => {
  it('a production Job with only its database credential loads (no mail, JWT or audit-key settings needed)', async () => {
    const config = await loadCliDatabaseConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://migrator@db.internal/rampart' });
    assert.equal(config.url, 'postgres://migrator@db.internal/rampart');
    assert.equal(config.poolMax, 10);
  });

  it('reads DATABASE_URL_FILE and DATABASE_URL_REF the service’s way; --database-url stands in for both', async () => {
    const fromFile = await loadCliDatabaseConfig({ NODE_ENV: 'production', DATABASE_URL_FILE: '/run/secrets/db' }, undefined, undefined, (p) => (p === '/run/secrets/db' ? 'postgres://f@h/db\n' : assert.fail(p)));
    assert.equal(fromFile.url, 'postgres://f@h/db');
    const fromRef = await loadCliDatabaseConfig({ DATABASE_URL_REF: 'env:RAMPART_DB', RAMPART_DB: 'postgres://ref@h/db' });
    assert.equal(fromRef.url, 'postgres://ref@h/db');
    const flag = await loadCliDatabaseConfig({ DATABASE_URL_FILE: '/nonexistent', DATABASE_URL_REF: 'file:/nonexistent' }, 'postgres://flag@h/db');
    assert.equal(flag.url, 'postgres://flag@h/db');
  });

  it('production without a database is a configuration error (exit 78), never the embedded PGlite', async () => {
    await assert.rejects(
      loadCliDatabaseConfig({ NODE_ENV: 'production' }),
      (err: unknown) => err instanceof ConfigurationError && err.exitCode === 78 && err.problems.includes('DATABASE_URL is required in production'),
    );
    await assert.rejects(loadCliDatabaseConfig({ DB_POOL_MAX: 'many' }), (err: unknown) => err instanceof ConfigurationError && /DB_POOL_MAX/.test(err.problems.join()));
  });
});

