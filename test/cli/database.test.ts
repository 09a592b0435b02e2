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
  it('--database-url stands in for DATABASE_URL_FILE instead of conflicting with it', () => {
    const config = loadCliConfig({ DATABASE_URL_FILE: '/nonexistent' }, 'postgres://h/db');
    assert.equal(config.database.url?.reveal(), 'postgres://h/db');
  });

  it("turns the service's ConfigError into a ConfigurationError (exit 78)", () => {
    assert.throws(
      () => loadCliConfig({ NODE_ENV: 'production' }),
      (err: unknown) => err instanceof ConfigurationError && err.exitCode === 78 && err.problems.length > 0,
    );
  });
});
