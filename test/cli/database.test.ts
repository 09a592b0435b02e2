import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadCliConfig } from '../../cli/src/lib/config.js';
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
