import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { run } from '../../cli/src/commands/migrate.js';
import { createContext } from '../../cli/src/lib/context.js';
import { main } from '../../cli/src/main.js';
import type { Database } from '../../service/src/platform/db.js';
import { listMigrationFiles, migratorConfig } from '../../service/src/platform/migrations.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { realPostgresAvailable } from '../helpers/services.js';
import { captureIo, contextOver } from './capture.js';

const ALL = listMigrationFiles().map((f) => f.name);
const onRealPostgres = await realPostgresAvailable();

async function jsonRun(db: Database, options: Parameters<typeof run>[0]) {
  const { ctx, closes, stdout } = contextOver(db, { json: true });
  await run(options, ctx);
  assert.equal(closes.count, 1, 'the database is closed at the end of the run');
  return JSON.parse(stdout()) as { applied?: string[]; pending?: string[]; rolledBack?: string[] };
}

describe('secops migrate, from an empty database to the latest schema and back', () => {
  let testDb: TestDatabase;
  before(async () => {
    testDb = await createTestDatabase({ migrated: false });
  });
  after(async () => {
    await testDb?.drop();
  });

  it('status on an empty database lists every migration as pending and creates nothing', async () => {
    const status = await jsonRun(testDb.db, { action: 'status' });
    assert.deepEqual(status.applied, []);
    assert.deepEqual(status.pending, ALL);
    assert.equal(await testDb.db.knex.schema.hasTable('knex_migrations'), false);
  });

  it('latest applies every migration and names each one', async () => {
    const { ctx, closes, stdout } = contextOver(testDb.db);
    const result = await run({ action: 'latest' }, ctx);
    assert.equal(closes.count, 1);
    assert.deepEqual(result.action === 'latest' && result.applied, ALL);
    assert.match(stdout(), new RegExp(`Applied ${ALL.length} migrations`));
    for (const name of ALL) assert.ok(stdout().includes(name), `${name} is listed`);
  });

  it('status then lists every migration as applied', async () => {
    const status = await jsonRun(testDb.db, { action: 'status' });
    assert.deepEqual(status.applied, ALL);
    assert.deepEqual(status.pending, []);
  });

  it('latest on an up-to-date database applies nothing and says so', async () => {
    const { ctx, stdout } = contextOver(testDb.db);
    await run({ action: 'latest' }, ctx);
    assert.match(stdout(), /up to date/);
    assert.deepEqual((await jsonRun(testDb.db, { action: 'latest' })).applied, []);
  });

  it('rollback undoes the last batch, leaving every migration pending again', async () => {
    const rollback = await jsonRun(testDb.db, { action: 'rollback', all: false });
    assert.deepEqual(rollback.rolledBack, [...ALL].reverse());
    assert.deepEqual((await jsonRun(testDb.db, { action: 'status' })).pending, ALL);
    assert.equal(await testDb.db.knex.schema.hasTable('users'), false);
  });

  it('rollback without --all stops at the batch boundary; --all goes to the start', async () => {
    await testDb.db.knex.migrate.up(migratorConfig()); // batch 1: the first migration alone
    assert.deepEqual((await jsonRun(testDb.db, { action: 'latest' })).applied, ALL.slice(1)); // batch 2

    assert.deepEqual((await jsonRun(testDb.db, { action: 'rollback', all: false })).rolledBack, ALL.slice(1).reverse());
    assert.deepEqual((await jsonRun(testDb.db, { action: 'status' })).applied, ALL.slice(0, 1));

    assert.deepEqual((await jsonRun(testDb.db, { action: 'rollback', all: true })).rolledBack, ALL.slice(0, 1));
    assert.deepEqual((await jsonRun(testDb.db, { action: 'status' })).applied, []);
    assert.deepEqual((await jsonRun(testDb.db, { action: 'rollback', all: true })).rolledBack, []);
  });

  it('latest brings the emptied database back to the latest schema', async () => {
    assert.deepEqual((await jsonRun(testDb.db, { action: 'latest' })).applied, ALL);
    assert.deepEqual((await jsonRun(testDb.db, { action: 'status' })).pending, []);
  });
});

describe('secops migrate, failure paths', () => {
  it('closes the database when the command fails', async () => {
    let closed = 0;
    const broken = {
      kind: 'pglite',
      url: undefined,
      knex: { schema: { hasTable: () => Promise.reject(new Error('relation lookup failed')) } },
      pool: () => ({ used: 0, free: 0, pending: 0, max: 1 }),
      close: async () => {
        closed += 1;
      },
    } as unknown as Database;
    const ctx = createContext(captureIo().io, { json: false, databaseUrl: undefined }, async () => broken);
    await assert.rejects(run({ action: 'status' }, ctx), /relation lookup failed/);
    assert.equal(closed, 1);
  });
});

describe('secops migrate against a real PostgreSQL', {
  skip: !onRealPostgres && 'needs TEST_DATABASE_URL (a real PostgreSQL)',
}, () => {
  let testDb: TestDatabase;
  before(async () => {
    testDb = await createTestDatabase({ migrated: false });
  });
  after(async () => {
    await testDb?.drop();
  });

  it('two concurrent `latest` runs both succeed and apply each migration exactly once', async () => {
    const url = testDb.url as string;
    const runs = [captureIo(), captureIo()];
    const codes = await Promise.all(runs.map((r) => main(['--json', '--database-url', url, 'migrate', 'latest'], r.io)));
    assert.deepEqual(codes, [0, 0], runs.map((r) => r.stderr()).join('\n'));

    const applied = runs.map((r) => (JSON.parse(r.stdout()) as { applied: string[] }).applied);
    assert.deepEqual([...applied.flat()].sort(), ALL, 'each migration was applied by exactly one of the runs');
    const rows = await testDb.db.knex('knex_migrations').select('name').orderBy('id');
    assert.deepEqual(
      rows.map((r: { name: string }) => r.name),
      ALL,
    );
  });

  it('names the target by host, port and database, never by its URL', async () => {
    const url = testDb.url as string;
    const { io, stdout, stderr } = captureIo();
    assert.equal(await main(['--database-url', url, 'migrate', 'status'], io), 0);
    const u = new URL(url);
    assert.match(stdout(), new RegExp(`Database: PostgreSQL ${u.hostname}:${u.port || 5432}/${u.pathname.slice(1)}`));
    for (const output of [stdout(), stderr()]) {
      assert.ok(!output.includes(url));
      if (u.password) assert.ok(!output.includes(u.password));
    }
  });
});
