import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { run } from '../../cli/src/commands/migrate.js';
import { CliError } from '../../cli/src/lib/errors.js';
import { main } from '../../cli/src/main.js';
import {
  CHECKSUM_TABLE,
  KNEX_LOCK_TABLE,
  listMigrationFiles,
  MIGRATION_LOCK_KEY,
  MIGRATIONS_DIR,
} from '../../service/src/platform/migrations.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { realPostgresAvailable } from '../helpers/services.js';
import { captureIo, contextOver } from './capture.js';

const ALL = listMigrationFiles().map((f) => f.name);
const onRealPostgres = await realPostgresAvailable();
const needsPostgres = { skip: !onRealPostgres && 'needs TEST_DATABASE_URL (a real PostgreSQL)' };

function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `rampart-${prefix}-`));
}

async function tableNames(t: TestDatabase): Promise<string[]> {
  const r = await t.db.knex.raw("select table_name from information_schema.tables where table_schema = current_schema() order by 1");
  return (r.rows as { table_name: string }[]).map((x) => x.table_name);
}

describe('secops migrate --dry-run', () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase({ migrated: false });
  });
  after(() => t?.drop());

  it('latest --dry-run prints the SQL of every pending migration and commits nothing', async () => {
    const { ctx, stdout } = contextOver(t.db);
    const result = await run({ action: 'latest', dryRun: true }, ctx);
    assert.equal(result.action === 'latest' && result.dryRun, true);
    assert.deepEqual(result.action === 'latest' && result.applied, ALL);
    assert.match(stdout(), /^BEGIN;$/m);
    assert.match(stdout(), /create table users/);
    assert.match(stdout(), /create table messages/);
    assert.match(stdout(), /set local lock_timeout = 5000;/);
    assert.match(stdout(), /^ROLLBACK;$/m);
    assert.match(stdout(), new RegExp(`Would apply ${ALL.length} migrations`));
    assert.deepEqual(await tableNames(t), [], 'not even knex_migrations or the checksum table was created');
  });

  it('under --json the statements are in a `queries` array', async () => {
    const { ctx, stdout } = contextOver(t.db, { json: true });
    await run({ action: 'latest', dryRun: true }, ctx);
    const doc = JSON.parse(stdout()) as { dryRun: boolean; queries: { sql: string }[] };
    assert.equal(doc.dryRun, true);
    assert.ok(doc.queries.some((q) => /create table conversations/.test(q.sql)));
    assert.deepEqual(await tableNames(t), []);
  });

  it('rollback --dry-run prints the drops and leaves every table in place', async () => {
    await run({ action: 'latest' }, contextOver(t.db).ctx);
    const before = await tableNames(t);
    const { ctx, stdout } = contextOver(t.db);
    const result = await run({ action: 'rollback', all: true, dryRun: true }, ctx);
    assert.deepEqual(result.action === 'rollback' && result.rolledBack, [...ALL].reverse());
    assert.match(stdout(), /drop table users/);
    assert.match(stdout(), new RegExp(`delete from "${CHECKSUM_TABLE}"`));
    assert.deepEqual(await tableNames(t), before);
    const status = await run({ action: 'status' }, contextOver(t.db).ctx);
    assert.deepEqual(status.action === 'status' && status.pending, []);
  });

  it('down --dry-run names only the last migration', async () => {
    const result = await run({ action: 'down', dryRun: true }, contextOver(t.db).ctx);
    assert.deepEqual(result.action === 'down' && result.rolledBack, ALL.slice(-1));
    assert.equal(await t.db.knex.schema.hasTable('messages'), true);
  });
});

describe('secops migrate checksums: an applied migration whose file changed', () => {
  let t: TestDatabase;
  let dir: string;
  before(async () => {
    t = await createTestDatabase({ migrated: false });
    dir = tempDir('migrations');
    cpSync(MIGRATIONS_DIR, dir, { recursive: true });
  });
  after(async () => {
    await t?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('latest records the sha256 of each file it applies', async () => {
    await run({ action: 'latest', dir }, contextOver(t.db).ctx);
    const rows: { name: string; checksum: string }[] = await t.db.knex(CHECKSUM_TABLE).select('name', 'checksum').orderBy('name');
    assert.deepEqual(
      rows,
      listMigrationFiles(dir).map((f) => ({ name: f.name, checksum: f.checksum })),
    );
  });

  it('status flags the edited migration as modified and still exits 0', async () => {
    const edited = listMigrationFiles(dir)[1];
    assert.ok(edited);
    appendFileSync(edited.path, '\n// an innocent-looking edit\n');
    const { ctx, stdout, stderr } = contextOver(t.db, { json: true });
    const result = await run({ action: 'status', dir }, ctx);
    assert.equal(result.action, 'status');
    const doc = JSON.parse(stdout()) as { modified: string[]; applied: string[] };
    assert.deepEqual(doc.modified, [edited.name]);
    assert.deepEqual(doc.applied, ALL);
    assert.match(stderr(), /changed since it was applied/);

    const human = contextOver(t.db);
    await run({ action: 'status', dir }, human.ctx);
    assert.match(human.stdout(), new RegExp(`modified  ${edited.name}`));
  });

  it('latest refuses to run (exit 1) until --allow-modified', async () => {
    const edited = listMigrationFiles(dir)[1] as { name: string };
    writeFileSync(
      join(dir, '20991231000000_after_edit.ts'),
      "export async function up(k) { await k.raw('create table after_edit (id int)'); }\nexport async function down(k) { await k.raw('drop table after_edit'); }\n",
    );
    await assert.rejects(
      run({ action: 'latest', dir }, contextOver(t.db).ctx),
      (err: unknown) => err instanceof CliError && err.exitCode === 1 && err.message.includes(edited.name),
    );
    assert.equal(await t.db.knex.schema.hasTable('after_edit'), false, 'nothing was applied');

    const result = await run({ action: 'latest', dir, allowModified: true }, contextOver(t.db).ctx);
    assert.deepEqual(result.action === 'latest' && result.applied, ['20991231000000_after_edit']);
  });

  it('rolling a migration back forgets its checksum', async () => {
    await run({ action: 'down', dir }, contextOver(t.db).ctx);
    const names = (await t.db.knex(CHECKSUM_TABLE).pluck('name')) as string[];
    assert.ok(!names.includes('20991231000000_after_edit'));
  });
});

describe('secops migrate: lock_timeout and statement_timeout inside each migration', needsPostgres, () => {
  let t: TestDatabase;
  let dir: string;
  before(async () => {
    t = await createTestDatabase({ migrated: false });
    dir = tempDir('timeouts');
    writeFileSync(
      join(dir, '20990101000000_record_settings.ts'),
      `export async function up(knex) {
  await knex.raw('create table seen_settings (lock_timeout text, statement_timeout text)');
  await knex.raw("insert into seen_settings select current_setting('lock_timeout'), current_setting('statement_timeout')");
}
export async function down(knex) { await knex.raw('drop table seen_settings'); }
`,
    );
  });
  after(async () => {
    await t?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the migration sees the configured limits', async () => {
    await run({ action: 'up', dir, timeouts: { lockTimeoutMs: 1234, statementTimeoutMs: 120_000 } }, contextOver(t.db).ctx);
    const rows = await t.db.knex('seen_settings').select();
    assert.deepEqual(rows, [{ lock_timeout: '1234ms', statement_timeout: '2min' }]);
  });

  it('a migration blocked by another session’s lock fails fast, commits nothing and exits 1', async () => {
    writeFileSync(
      join(dir, '20990102000000_alter_blocked.ts'),
      `export async function up(knex) {
  await knex.raw('create table alter_marker (id int)');
  await knex.raw('alter table seen_settings add column extra text');
}
export async function down(knex) { await knex.raw('drop table alter_marker'); }
`,
    );
    const blocker = new pg.Client({ connectionString: t.url });
    await blocker.connect();
    try {
      await blocker.query('begin');
      await blocker.query('lock table seen_settings in access share mode');
      const started = Date.now();
      await assert.rejects(
        run({ action: 'latest', dir, timeouts: { lockTimeoutMs: 200, statementTimeoutMs: 60_000 } }, contextOver(t.db).ctx),
        (err: unknown) => err instanceof CliError && err.exitCode === 1 && /lock_timeout/.test(err.message),
      );
      assert.ok(Date.now() - started < 5000, 'failed within seconds, not after the blocker finished');
    } finally {
      await blocker.query('rollback');
      await blocker.end();
    }
    assert.equal(await t.db.knex.schema.hasTable('alter_marker'), false, 'the failed migration was rolled back');
    const applied = (await t.db.knex('knex_migrations').pluck('name')) as string[];
    assert.deepEqual(applied, ['20990101000000_record_settings']);
  });
});

describe('secops migrate make', () => {
  let dir: string;
  before(() => {
    dir = tempDir('make');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('creates <UTC timestamp>_<snake_name>.ts with up and down, which knex picks up', async () => {
    const { ctx, stdout } = contextOver({} as never);
    const result = await run({ action: 'make', name: 'add-message-tokens', dir, now: new Date('2027-03-04T05:06:07Z') }, ctx);
    assert.equal(result.action === 'make' && result.file, join(dir, '20270304050607_add_message_tokens.ts'));
    assert.match(stdout(), /Created .*20270304050607_add_message_tokens\.ts/);
    assert.deepEqual(
      listMigrationFiles(dir).map((f) => f.name),
      ['20270304050607_add_message_tokens'],
    );
    const module = (await import(pathToFileURL(join(dir, '20270304050607_add_message_tokens.ts')).href)) as Record<string, unknown>;
    assert.equal(typeof module.up, 'function');
    assert.equal(typeof module.down, 'function');
  });

  it('refuses bad names and duplicates with a usage error (exit 2), writing nothing', async () => {
    for (const name of ['drop table!', '1st_try', '_x', 'a'.repeat(61), 'add__double', '../escape']) {
      const { io, stderr } = captureIo();
      assert.equal(await main(['migrate', 'make', name, '--dir', dir], io), 2, name);
      assert.match(stderr(), /invalid migration name/);
    }
    const { io, stderr } = captureIo();
    assert.equal(await main(['migrate', 'make', 'add_message_tokens', '--dir', dir], io), 2);
    assert.match(stderr(), /already exists/);
    assert.equal(readdirSync(dir).length, 1);
  });

  it('the generated migration applies and rolls back', needsPostgres, async () => {
    const t = await createTestDatabase({ migrated: false });
    try {
      assert.deepEqual((await run({ action: 'latest', dir }, contextOver(t.db).ctx)).action, 'latest');
      const down = await run({ action: 'down', dir }, contextOver(t.db).ctx);
      assert.deepEqual(down.action === 'down' && down.rolledBack, ['20270304050607_add_message_tokens']);
    } finally {
      await t.drop();
    }
  });
});

describe('secops migrate unlock', needsPostgres, () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase({ migrated: true });
  });
  after(() => t?.drop());

  it('clears a stale knex_migrations_lock row left by a dead run', async () => {
    await t.db.knex(KNEX_LOCK_TABLE).update({ is_locked: 1 });
    const { io, stdout } = captureIo();
    assert.equal(await main(['--json', '--database-url', t.url as string, 'migrate', 'unlock'], io), 0);
    const doc = JSON.parse(stdout()) as { knexLock: string; advisoryLock: { held: boolean } };
    assert.equal(doc.knexLock, 'cleared');
    assert.equal(doc.advisoryLock.held, false);
    assert.deepEqual(await t.db.knex(KNEX_LOCK_TABLE).pluck('is_locked'), [0]);
  });

  it('reports the session holding the advisory lock and kills nothing without --terminate', async () => {
    const holder = new pg.Client({ connectionString: t.url, application_name: 'stuck-migrator' });
    await holder.connect();
    holder.on('error', () => undefined);
    try {
      await holder.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      const pid = (await holder.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid;
      await t.db.knex(KNEX_LOCK_TABLE).update({ is_locked: 1 });

      const first = captureIo();
      assert.equal(await main(['--database-url', t.url as string, 'migrate', 'unlock'], first.io), 1);
      assert.match(first.stderr(), new RegExp(`backend ${pid} \\(stuck-migrator`));
      assert.match(first.stderr(), /--terminate/);
      assert.deepEqual(await t.db.knex(KNEX_LOCK_TABLE).pluck('is_locked'), [1], 'a running migration keeps its knex lock');
      assert.equal((await holder.query('select 1 as ok')).rows[0]?.ok, 1, 'the holder is alive');

      const second = captureIo();
      assert.equal(await main(['--json', '--database-url', t.url as string, 'migrate', 'unlock', '--terminate'], second.io), 0, second.stderr());
      const doc = JSON.parse(second.stdout()) as { terminated: number[]; knexLock: string };
      assert.deepEqual(doc.terminated, [pid]);
      assert.equal(doc.knexLock, 'cleared');
      await assert.rejects(holder.query('select 1'));
    } finally {
      await holder.end().catch(() => undefined);
    }
  });
});
