import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminQuery, createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { asRole as as, dropTestRoles, testRoles, urlAs } from '../helpers/db-roles.js';
import { backupPrerequisites, secops, tempDir } from './backup-fixtures.js';

/**
 * The privilege split (issue 19): the migration Job, the backup Job and the restore drill each log in
 * with a role of their own that `secops db roles apply` creates — and each can do its work and
 * nothing else. Every step runs as the role the Kubernetes Job would use.
 */

const skip = await backupPrerequisites();
const roles = testRoles('rm');

describe('one database role per workload: migrate, backup, drill and retention', { skip }, () => {
  let testDb: TestDatabase;
  let url: string;
  let root: string;
  let backupDir: string;

  before(async () => {
    // Roles first, then the migrations: the order a new environment takes.
    testDb = await createTestDatabase({ migrated: false });
    url = testDb.url as string;
    root = tempDir('maintenance-roles');
  });

  after(async () => {
    await dropTestRoles(url, roles, () => testDb.drop());
    rmSync(root, { recursive: true, force: true });
  });

  it('apply creates the migrator, backup, drill and retention roles and prepares the drill template', async () => {
    const run = await secops(['--json', 'db', 'roles', 'apply', ...roles.flags], url);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { drillTemplate: { status: string; name: string } };
    assert.deepEqual([result.drillTemplate.name, result.drillTemplate.status], [roles.drillTemplate, 'ready']);
    const attributes = await adminQuery(
      url,
      `select rolname, rolcanlogin, rolcreatedb, rolsuper, rolcreaterole from pg_roles where rolname = any($1) order by rolname`,
      [[roles.migrator, roles.backup, roles.drill, roles.retention]],
    );
    assert.deepEqual(
      attributes.rows.map((r) => [r.rolname, r.rolcanlogin, r.rolcreatedb, r.rolsuper, r.rolcreaterole]),
      [
        [roles.backup, true, false, false, false],
        [roles.drill, true, true, false, false],
        [roles.migrator, true, false, false, false],
        [roles.retention, true, false, false, false],
      ],
    );
  });

  it('the migrator runs every migration; what it creates belongs to the owner role, and the runtime role cannot alter audit_events', async () => {
    const run = await secops(['migrate', 'latest'], urlAs(url, roles.migrator));
    assert.equal(run.code, 0, run.stderr);
    const owners = await adminQuery(
      url,
      "select distinct pg_get_userbyid(relowner) as owner from pg_class where relnamespace = 'public'::regnamespace and relkind in ('r', 'S')",
    );
    assert.deepEqual(owners.rows, [{ owner: roles.owner }]);
    await as(url, roles.users[0], async (c) => {
      await c.query("insert into users (email, password_hash) values ('split@example.test', 'x')");
      await c.query("insert into audit_events (type) values ('login.succeeded')");
      await assert.rejects(c.query("update audit_events set type = 'forged'"), /permission denied for table audit_events/);
      await assert.rejects(c.query('delete from audit_events'), /permission denied for table audit_events/);
    });
    await as(url, roles.migrator, async (c) => {
      const who = await c.query('select session_user as login, current_user as acting');
      assert.deepEqual(who.rows[0], { login: roles.migrator, acting: roles.owner });
      await assert.rejects(c.query('create database sneaky_migrator_db'), /permission denied to create database/);
      await assert.rejects(c.query('create role sneaky_migrator_role'), /permission denied to create role/);
    });
  });

  it('re-applied after the migrations, the retention role archives and deletes the aged rows — and can touch nothing else', async () => {
    // The aged tables exist only after the first migration: a new environment applies the roles again.
    const apply = await secops(['db', 'roles', 'apply', ...roles.flags], url);
    assert.equal(apply.code, 0, apply.stderr);
    await adminQuery(
      url,
      `with u as (insert into users (email, password_hash) values ('retention-role@example.test', 'x') returning id),
            c as (insert into conversations (user_id, title, created_at, updated_at)
                  select id, t, now() - interval '200 days', now() - interval '200 days' from u, unnest(array['old', 'kept']) t returning id, title)
       insert into messages (conversation_id, role, content, status, created_at)
       select c.id, 'user', c.title, 'complete', case when c.title = 'old' then now() - interval '120 days' else now() - interval '1 day' end from c`,
    );
    await adminQuery(
      url,
      "insert into audit_events (type, occurred_at) values ('login.succeeded', now() - interval '500 days'), ('login.succeeded', now() - interval '1 day')",
    );
    const archive = join(root, 'retention-archive');
    const run = await secops(
      ['--json', 'retention', 'run', '--older-than', '90d', '--audit-older-than', '400d', '--archive-dir', archive],
      urlAs(url, roles.retention),
    );
    assert.equal(run.code, 0, run.stderr);
    const left = await adminQuery(
      url,
      `select (select count(*)::int from messages m join conversations c on c.id = m.conversation_id where c.title in ('old', 'kept')) as messages,
              (select string_agg(title, ',' order by title) from conversations where title in ('old', 'kept')) as conversations,
              (select count(*)::int from audit_events where occurred_at < now() - interval '400 days') as old_audit`,
    );
    assert.deepEqual(left.rows[0], { messages: 1, conversations: 'kept', old_audit: 0 });
    await as(url, roles.retention, async (c) => {
      await assert.rejects(c.query('select email from users'), /permission denied for table users/);
      await assert.rejects(c.query("insert into audit_events (type) values ('forged')"), /permission denied for table audit_events/);
      await assert.rejects(c.query("update audit_events set type = 'forged'"), /permission denied for table audit_events/);
      await assert.rejects(c.query("update messages set content = 'forged'"), /permission denied for table messages/);
      await assert.rejects(c.query('truncate messages'), /permission denied for table messages/);
      await assert.rejects(c.query('create table sneaky (id int)'), /permission denied for schema public/);
    });
    // Leave the database as the backup test below expects it (one user).
    await adminQuery(
      url,
      `delete from messages where conversation_id in (select id from conversations where title = 'kept');
       delete from conversations where title = 'kept';
       delete from users where email = 'retention-role@example.test'`,
    );
  });

  it('the backup role takes a backup with pg_dump but cannot write, create or delete anything', async () => {
    const run = await secops(['--json', 'backup', 'create', '--dir', root, '--jobs', '2'], urlAs(url, roles.backup));
    assert.equal(run.code, 0, run.stderr);
    backupDir = (JSON.parse(run.stdout) as { dir: string }).dir;
    const manifest = JSON.parse(readFileSync(join(backupDir, 'manifest.json'), 'utf8')) as { tables: { name: string; rows: number }[] };
    assert.equal(manifest.tables.find((t) => t.name === 'users')?.rows, 1);
    await as(url, roles.backup, async (c) => {
      assert.equal((await c.query('select count(*)::int as n from users')).rows[0].n, 1);
      await assert.rejects(c.query("insert into users (email, password_hash) values ('b@example.test', 'x')"), /permission denied for table users/);
      await assert.rejects(c.query('delete from users'), /permission denied for table users/);
      await assert.rejects(c.query('update knex_migrations_lock set is_locked = 1'), /permission denied/);
      await assert.rejects(c.query('create table sneaky (id int)'), /permission denied for schema public/);
      await assert.rejects(c.query('create database sneaky_backup_db'), /permission denied to create database/);
    });
  });

  it('the drill role restores into a scratch database of its own, index-checks it through the template, and drops it — yet cannot read the live tables', async () => {
    const run = await secops(
      ['--json', 'backup', 'drill', '--from', backupDir, '--template', roles.drillTemplate, '--report', join(root, 'drill.json')],
      urlAs(url, roles.drill),
    );
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as { ok: boolean; amcheck: { status: string }; scratchDropped: boolean; scratchDatabase: string };
    assert.equal(report.ok, true);
    assert.equal(report.amcheck.status, 'passed', 'amcheck ran as the drill role, from the template');
    assert.equal(report.scratchDropped, true);
    assert.equal((await adminQuery(url, 'select 1 from pg_database where datname = $1', [report.scratchDatabase])).rowCount, 0);
    await as(url, roles.drill, async (c) => {
      await assert.rejects(c.query('select * from users'), /permission denied for table users/);
      await assert.rejects(c.query('select * from audit_events'), /permission denied for table audit_events/);
    });
  });

  it('without the template the drill still proves the backup, and says the index check was skipped and why', async () => {
    const run = await secops(
      ['--json', 'backup', 'drill', '--from', backupDir, '--template', `${roles.drillTemplate}_absent`, '--report', join(root, 'drill-2.json')],
      urlAs(url, roles.drill),
    );
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as { ok: boolean; amcheck: { status: string; detail: string } };
    assert.equal(report.amcheck.status, 'skipped');
    assert.match(report.amcheck.detail, /secops db roles apply/);
  });

  it('roles check --as holds each credential to its own profile, and refuses one used for another job', async () => {
    for (const [kind, user] of [
      ['migrator', roles.migrator],
      ['backup', roles.backup],
      ['drill', roles.drill],
      ['retention', roles.retention],
      ['runtime', roles.users[0]],
    ] as const) {
      const check = await secops(['--json', 'db', 'roles', 'check', '--as', kind, '--owner', roles.owner, '--runtime', roles.runtime, '--user', user], url);
      assert.equal(check.code, 0, `${kind}: ${check.stdout}${check.stderr}`);
      assert.equal((JSON.parse(check.stdout) as { as: string }).as, kind);
    }
    // The checks read the catalog as seen from the credential itself too (no --user: its session user).
    const self = await secops(['db', 'roles', 'check', '--as', 'backup'], urlAs(url, roles.backup));
    assert.equal(self.code, 0, self.stdout + self.stderr);

    // The API's credential in the backup Job, the backup's in the drill, the migrator as a backup: refused.
    const wrong = [
      ['backup', roles.users[0], /privileges\.read-only.*(INSERT|UPDATE|DELETE)/],
      ['drill', roles.backup, /privileges\.none.*SELECT on public\.audit_events/],
      ['backup', roles.migrator, /role\.memberships/],
      ['migrator', roles.backup, /role\.acts-as-owner/],
      ['retention', roles.backup, /privileges\.retention-only.*SELECT on public\./],
      ['retention', roles.drill, /privileges\.needed.*no SELECT on public\.messages/],
    ] as const;
    for (const [kind, user, failure] of wrong) {
      const check = await secops(['db', 'roles', 'check', '--as', kind, '--owner', roles.owner, '--user', user], url);
      assert.equal(check.code, 1, `${user} as ${kind} must fail`);
      assert.match(check.stdout.replace(/\n/g, ' '), new RegExp(`FAIL\\] ${failure.source}`));
    }
  });

  it('rotate-password --role gives one maintenance role a password and stores its URL', async () => {
    const secretFile = join(root, 'backup-database-url');
    writeFileSync(secretFile, `${urlAs(url, 'rampart_someone_else')}\n`);
    const refused = await secops(['db', 'rotate-password', '--role', roles.backup, '--ref', `file:${secretFile}`], url);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /is not ".*_backup".*--adopt/s);
    const run = await secops(['--json', 'db', 'rotate-password', '--role', roles.backup, '--adopt', '--ref', `file:${secretFile}`], url);
    assert.equal(run.code, 0, run.stderr);
    const stored = new URL(readFileSync(secretFile, 'utf8').trim());
    assert.equal(stored.username, roles.backup);
    assert.ok(stored.password.length >= 32, 'a generated password');
    assert.ok(!run.stdout.includes(stored.password), 'the password is never printed');
    const verifier = await adminQuery(url, 'select rolpassword from pg_authid where rolname = $1', [roles.backup]);
    assert.match(String(verifier.rows[0]?.rolpassword), /^SCRAM-SHA-256\$/);
    // A second rotation needs no --adopt: the stored user is the role.
    const again = await secops(['db', 'rotate-password', '--role', roles.backup, '--ref', `file:${secretFile}`], url);
    assert.equal(again.code, 0, again.stderr);
    assert.notEqual(new URL(readFileSync(secretFile, 'utf8').trim()).password, stored.password);
  });
});
