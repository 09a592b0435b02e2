import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import knexFactory from 'knex';
import { main } from '../../cli/src/main.js';
import { up as createAuditEvents } from '../../migrations/20261127000300_audit_events.js';
import { up as keepAuditAppendOnly } from '../../migrations/20261206000600_audit_events_append_only.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { dropTestRoles, testRoles } from '../helpers/db-roles.js';
import { realPostgresAvailable } from '../helpers/services.js';
import { captureIo } from './capture.js';

const onRealPostgres = await realPostgresAvailable();
const roles = testRoles('ro');

describe('secops db roles apply before the first migration', { skip: !onRealPostgres && 'needs PostgreSQL' }, () => {
  let testDb: TestDatabase;
  let url: string;

  before(async () => {
    testDb = await createTestDatabase({ migrated: false });
    url = testDb.url as string;
  });

  after(() => dropTestRoles(url, roles, () => testDb.drop()));

  it('still leaves the runtime role unable to UPDATE, DELETE or TRUNCATE audit_events once the migrations ran', async () => {
    const captured = captureIo({});
    const code = await main(['--database-url', url, 'db', 'roles', 'apply', ...roles.flags], captured.io);
    assert.equal(code, 0, captured.stderr());

    // The migrations run as the owner role (as `secops migrate` does with the migration credential).
    const knex = knexFactory({ client: 'pg', connection: url, pool: { min: 1, max: 1 } });
    try {
      await knex.raw(`set role "${roles.owner}"`);
      await createAuditEvents(knex);
      const privilege = async (p: string) =>
        (await knex.raw('select has_table_privilege(?, ?, ?) as ok', [roles.runtime, 'audit_events', p])).rows[0].ok as boolean;
      // What the default privileges handed out when the owner created the table: the hole.
      assert.equal(await privilege('UPDATE'), true, 'precondition: the default privileges granted UPDATE');
      await keepAuditAppendOnly(knex);
      assert.deepEqual(
        {
          insert: await privilege('INSERT'),
          select: await privilege('SELECT'),
          update: await privilege('UPDATE'),
          delete: await privilege('DELETE'),
          truncate: await privilege('TRUNCATE'),
        },
        { insert: true, select: true, update: false, delete: false, truncate: false },
      );
    } finally {
      await knex.destroy();
    }
  });
});
