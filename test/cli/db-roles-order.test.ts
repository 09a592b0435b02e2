import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import knexFactory from 'knex';
import { up as createAuditEvents } from '../../migrations/20261127000300_audit_events.js';
import { up as keepAuditAppendOnly } from '../../migrations/20261206000600_audit_events_append_only.js';
import { main } from '../../cli/src/main.js';
import { adminQuery, createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { realPostgresAvailable } from '../helpers/services.js';
import { captureIo } from './capture.js';

const onRealPostgres = await realPostgresAvailable();
const prefix = `ro${randomBytes(3).toString('hex')}`;
const roles = { owner: `${prefix}_owner`, runtime: `${prefix}_runtime`, a: `${prefix}_app_a`, b: `${prefix}_app_b` };

describe('secops db roles apply before the first migration', { skip: !onRealPostgres && 'needs PostgreSQL' }, () => {
  let testDb: TestDatabase;
  let url: string;

  before(async () => {
    testDb = await createTestDatabase({ migrated: false });
    url = testDb.url as string;
  });

  after(async () => {
    const all = Object.values(roles);
    const existing = (await adminQuery(url, 'select rolname from pg_roles where rolname = any($1)', [all])).rows.map((r) => r.rolname);
    if (existing.length > 0) await adminQuery(url, `reassign owned by ${existing.map((r) => `"${r}"`).join(', ')} to postgres`);
    for (const role of existing) await adminQuery(url, `drop owned by "${role}"`);
    await testDb?.drop();
    const admin = new URL(url);
    admin.pathname = '/postgres';
    for (const role of all) await adminQuery(admin.toString(), `drop role if exists "${role}"`);
  });

  it('still leaves the runtime role unable to UPDATE, DELETE or TRUNCATE audit_events once the migrations ran', async () => {
    const captured = captureIo({});
    const code = await main(
      ['--database-url', url, 'db', 'roles', 'apply', '--owner', roles.owner, '--runtime', roles.runtime, '--users', `${roles.a},${roles.b}`],
      captured.io,
    );
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
        { insert: await privilege('INSERT'), select: await privilege('SELECT'), update: await privilege('UPDATE'), delete: await privilege('DELETE'), truncate: await privilege('TRUNCATE') },
        { insert: true, select: true, update: false, delete: false, truncate: false },
      );
    } finally {
      await knex.destroy();
    }
  });
});
