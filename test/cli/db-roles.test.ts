import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { main } from '../../cli/src/main.js';
import { adminQuery, createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { asRole as as, dropTestRoles, testRoles, urlAs } from '../helpers/db-roles.js';
import { realPostgresAvailable } from '../helpers/services.js';
import { captureIo } from './capture.js';

const onRealPostgres = await realPostgresAvailable();

/** Roles are cluster-wide: every run uses its own names and drops them at the end. */
const roles = testRoles('rt');
const prefix = roles.owner.replace(/_owner$/, '');
const { owner, runtime } = roles;
const [userA, userB] = roles.users;
const ROLES = roles.all;
const layoutFlags = [...roles.flags, '--connection-limit', '7'];

async function secops(args: string[]) {
  const captured = captureIo({});
  const code = await main(args, captured.io);
  return { code, stdout: captured.stdout(), stderr: captured.stderr() };
}

/** Everything apply decides, as text: role attributes, memberships, database/schema/table ACLs, default ACLs, owners. */
async function privilegeSnapshot(url: string): Promise<string> {
  const q = async (sql: string, params: unknown[] = []) => JSON.stringify((await adminQuery(url, sql, params)).rows);
  return [
    await q(
      `select rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls, rolconnlimit
         from pg_roles where rolname = any($1) order by 1`,
      [ROLES],
    ),
    await q(
      `select m.rolname as member, g.rolname as role from pg_auth_members a join pg_roles m on m.oid = a.member
         join pg_roles g on g.oid = a.roleid where m.rolname = any($1) order by 1, 2`,
      [ROLES],
    ),
    await q('select datacl::text from pg_database where datname = current_database()'),
    await q("select nspacl::text, pg_get_userbyid(nspowner) from pg_namespace where nspname = 'public'"),
    await q(
      `select c.relname, c.relacl::text, pg_get_userbyid(c.relowner) from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind in ('r', 'S') order by 1`,
    ),
    await q('select defaclobjtype, defaclacl::text from pg_default_acl order by 1, 2'),
  ].join('\n');
}

describe('secops db roles apply/check against a fresh migrated database', { skip: !onRealPostgres && 'needs PostgreSQL' }, () => {
  let testDb: TestDatabase;
  let url: string;

  before(async () => {
    testDb = await createTestDatabase();
    url = testDb.url as string;
  });

  after(() => dropTestRoles(url, roles, () => testDb.drop()));

  it('--dry-run prints the SQL and changes nothing', async () => {
    const before = await privilegeSnapshot(url);
    const { code, stdout, stderr } = await secops(['--database-url', url, 'db', 'roles', 'apply', ...layoutFlags, '--dry-run']);
    assert.equal(code, 0, stderr);
    assert.match(stdout, new RegExp(`CREATE ROLE "${owner}" .*NOLOGIN`));
    assert.match(stdout, new RegExp(`CREATE ROLE "${userA}" .*LOGIN .*CONNECTION LIMIT 7 PASSWORD NULL`));
    assert.match(stdout, new RegExp(`GRANT SELECT, INSERT ON TABLE "public"."audit_events", "public"."model_usage" TO "${runtime}"`));
    assert.match(stdout, /REVOKE CREATE ON SCHEMA "public" FROM PUBLIC/);
    assert.equal(await privilegeSnapshot(url), before, 'nothing changed');
    const roles = await adminQuery(url, 'select 1 from pg_roles where rolname = any($1)', [ROLES]);
    assert.equal(roles.rowCount, 0, 'no role was created');
  });

  it('apply creates the roles and grants; a runtime login user passes the check', async () => {
    const { code, stderr, stdout } = await secops(['--json', '--database-url', url, 'db', 'roles', 'apply', ...layoutFlags]);
    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout) as { dryRun: boolean; statements: string[] };
    assert.equal(result.dryRun, false);
    assert.ok(result.statements.length > 10);

    const owners = await adminQuery(
      url,
      `select distinct pg_get_userbyid(relowner) as owner from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and relkind in ('r', 'S')`,
    );
    assert.deepEqual(owners.rows, [{ owner }], 'the owner role owns every table and sequence');
    const [a] = (
      await adminQuery(url, 'select rolcanlogin, rolconnlimit, rolpassword from pg_authid where rolname = $1', [userA])
    ).rows;
    assert.deepEqual(a, { rolcanlogin: true, rolconnlimit: 7, rolpassword: null }, 'login user, limited, no password yet');

    for (const user of [userA, userB]) {
      const check = await secops(['--json', '--database-url', url, 'db', 'roles', 'check', '--runtime', runtime, '--user', user]);
      assert.equal(check.code, 0, check.stdout + check.stderr);
      const report = JSON.parse(check.stdout) as { ok: boolean; user: string; checks: { id: string; ok: boolean }[] };
      assert.equal(report.ok, true);
      assert.equal(report.user, user);
      assert.ok(report.checks.length >= 9);
    }
    // Without --user, the check inspects the connection's own user.
    const self = await secops(['--database-url', urlAs(url, userA), 'db', 'roles', 'check', '--runtime', runtime]);
    assert.equal(self.code, 0, self.stdout + self.stderr);
    assert.match(self.stdout, new RegExp(`Role "${userA}"`));
    assert.match(self.stdout, /\[pass\] audit\.append-only/);
  });

  it('the runtime user cannot CREATE TABLE (nor a temporary one)', async () => {
    await as(url, userA, async (c) => {
      await assert.rejects(c.query('create table sneaky (id int)'), /permission denied for schema public/);
      await assert.rejects(c.query('create temporary table sneaky (id int)'), /permission denied to create temporary tables/);
      await assert.rejects(c.query('create schema sneaky'), /permission denied for database/);
    });
  });

  it('the runtime user can insert and read audit_events but never UPDATE, DELETE or TRUNCATE them', async () => {
    await as(url, userA, async (c) => {
      const inserted = await c.query<{ id: string }>("insert into audit_events (type) values ('login.succeeded') returning id");
      const id = inserted.rows[0]?.id;
      assert.ok(id);
      assert.equal((await c.query('select type from audit_events where id = $1', [id])).rows[0]?.type, 'login.succeeded');
      await assert.rejects(
        c.query("update audit_events set type = 'forged' where id = $1", [id]),
        /permission denied for table audit_events/,
      );
      await assert.rejects(c.query('delete from audit_events where id = $1', [id]), /permission denied for table audit_events/);
      await assert.rejects(c.query('truncate audit_events'), /permission denied for table audit_events/);
    });
  });

  it('the runtime user can insert and read the model_usage ledger but never UPDATE, DELETE or TRUNCATE it', async () => {
    await as(url, userA, async (c) => {
      const inserted = await c.query<{ id: string }>(
        "insert into model_usage (user_id, provider, model, prompt_tokens, completion_tokens, estimated, outcome, latency_ms) values (gen_random_uuid(), 'builtin', 'builtin', 3, 4, true, 'ok', 5) returning id",
      );
      const id = inserted.rows[0]?.id;
      assert.ok(id);
      await assert.rejects(c.query('update model_usage set prompt_tokens = 0 where id = $1', [id]), /permission denied for table model_usage/);
      await assert.rejects(c.query('delete from model_usage where id = $1', [id]), /permission denied for table model_usage/);
      await assert.rejects(c.query('truncate model_usage'), /permission denied for table model_usage/);
    });
  });

  it('the runtime user does DML on messages (and the other app tables), but cannot TRUNCATE or touch the migration lock', async () => {
    await as(url, userB, async (c) => {
      const user = await c.query<{ id: string }>("insert into users (email, password_hash) values ($1, 'x') returning id", [
        `${prefix}@example.test`,
      ]);
      const conversation = await c.query<{ id: string }>('insert into conversations (user_id) values ($1) returning id', [
        user.rows[0]?.id,
      ]);
      const message = await c.query<{ id: string }>(
        "insert into messages (conversation_id, role, content) values ($1, 'user', 'hello') returning id",
        [conversation.rows[0]?.id],
      );
      assert.equal((await c.query("update messages set content = 'edited' where id = $1", [message.rows[0]?.id])).rowCount, 1);
      assert.equal(
        (await c.query('select content from messages where id = $1', [message.rows[0]?.id])).rows[0]?.content,
        'edited',
      );
      assert.equal((await c.query('delete from messages where id = $1', [message.rows[0]?.id])).rowCount, 1);
      await assert.rejects(c.query('truncate messages'), /permission denied for table messages/);
      assert.ok((await c.query('select count(*) from knex_migrations')).rows[0], 'reads the migration state (secops readiness)');
      await assert.rejects(c.query('update knex_migrations_lock set is_locked = 1'), /permission denied/);
      await assert.rejects(c.query('alter table messages add column sneaky int'), /must be owner of table messages/);
    });
  });

  it('the runtime user writes a login through open_password_login, even with EXECUTE taken from PUBLIC; check names a missing EXECUTE', async () => {
    const signature = 'open_password_login(uuid,text,text,text,timestamp with time zone,timestamp with time zone,text[],bytea,timestamp with time zone,integer,bytea,integer)';
    let logins = 0;
    const login = (c: import('pg').Client, userId: string) => {
      logins += 1;
      return c.query<{ outcome: string }>(
        "select outcome from open_password_login($1, 'h', '203.0.113.1', null, now() + interval '1 hour', now(), '{pwd}', $2, now(), 50, $3, 20)",
        [userId, Buffer.from(`${prefix}-refresh-${logins}`), Buffer.from(`${prefix}-device-${logins}`)],
      );
    };
    const userId = (
      await adminQuery(url, "insert into users (email, password_hash) values ($1, 'h') returning id", [`${prefix}-login@example.test`])
    ).rows[0]?.id as string;
    await adminQuery(url, `revoke execute on function ${signature} from public`);
    try {
      // apply granted EXECUTE to the runtime role by name: PUBLIC's default is not what the service relies on.
      await as(url, userA, async (c) => assert.equal((await login(c, userId)).rows[0]?.outcome, 'opened'));
      await adminQuery(url, `revoke execute on function ${signature} from "${runtime}"`);
      const { code, stdout } = await secops(['--json', '--database-url', url, 'db', 'roles', 'check', '--runtime', runtime, '--user', userA]);
      assert.equal(code, 1);
      const needed = (JSON.parse(stdout) as { checks: { id: string; ok: boolean; detail: string }[] }).checks.find((c) => c.id === 'privileges.needed');
      assert.equal(needed?.ok, false);
      assert.match(needed?.detail ?? '', /no EXECUTE on open_password_login\(uuid,text/);
      const reapply = await secops(['--database-url', url, 'db', 'roles', 'apply', ...layoutFlags]);
      assert.equal(reapply.code, 0, reapply.stderr);
      await as(url, userA, async (c) => assert.equal((await login(c, userId)).rows[0]?.outcome, 'opened'));
    } finally {
      await adminQuery(url, `grant execute on function ${signature} to public`);
    }
  });

  it('apply is idempotent: a second run succeeds and changes nothing', async () => {
    const before = await privilegeSnapshot(url);
    const { code, stderr } = await secops(['--database-url', url, 'db', 'roles', 'apply', ...layoutFlags]);
    assert.equal(code, 0, stderr);
    assert.equal(await privilegeSnapshot(url), before);
    const dry = await secops(['--json', '--database-url', url, 'db', 'roles', 'apply', ...layoutFlags, '--dry-run']);
    const statements = (JSON.parse(dry.stdout) as { statements: string[] }).statements;
    assert.ok(
      !statements.some((s) => /^(CREATE|ALTER) ROLE|OWNER TO/.test(s)),
      `nothing left to create or re-own: ${statements.join('\n')}`,
    );
  });

  it('a table a later migration creates as the owner role gets the DML grants by default', async () => {
    await adminQuery(
      url,
      `set role "${owner}"; create table later_notes (id bigint generated always as identity primary key, body text); reset role`,
    );
    await as(url, userA, async (c) => {
      await c.query("insert into later_notes (body) values ('a')");
      assert.equal((await c.query("update later_notes set body = 'b'")).rowCount, 1);
      assert.equal((await c.query('delete from later_notes')).rowCount, 1);
      await assert.rejects(c.query('truncate later_notes'), /permission denied/);
    });
  });

  it('a user with extra privileges fails the check (exit 1) naming each failed check; apply takes them away again', async () => {
    await adminQuery(url, `grant truncate on messages to "${userB}"`);
    await adminQuery(url, `grant update on audit_events to "${runtime}"`);
    await adminQuery(url, `alter role "${userB}" createdb connection limit -1`);
    const { code, stdout, stderr } = await secops([
      '--json',
      '--database-url',
      url,
      'db',
      'roles',
      'check',
      '--runtime',
      runtime,
      '--user',
      userB,
    ]);
    assert.equal(code, 1, stderr);
    const report = JSON.parse(stdout) as { ok: boolean; checks: { id: string; ok: boolean; detail: string }[] };
    assert.equal(report.ok, false);
    const failed = report.checks.filter((c) => !c.ok).map((c) => c.id);
    assert.deepEqual(failed.sort(), [
      'audit.append-only',
      'role.attributes',
      'role.connection-limit',
      'tables.no-truncate-references-trigger',
    ]);
    assert.match(
      report.checks.find((c) => c.id === 'tables.no-truncate-references-trigger')?.detail ?? '',
      /TRUNCATE on public\.messages/,
    );
    assert.match(report.checks.find((c) => c.id === 'role.attributes')?.detail ?? '', /CREATEDB/);
    assert.match(stderr, /tables\.no-truncate-references-trigger/);

    // Membership in another role is excess too.
    await adminQuery(url, `grant "${owner}" to "${userA}"`);
    const member = await secops(['--database-url', url, 'db', 'roles', 'check', '--runtime', runtime, '--user', userA]);
    assert.equal(member.code, 1);
    assert.match(member.stdout, new RegExp(`\\[FAIL\\] role\\.memberships .*"${owner}"`));
    assert.match(member.stdout, /\[FAIL\] tables\.not-owner/);

    const reapply = await secops(['--database-url', url, 'db', 'roles', 'apply', ...layoutFlags]);
    assert.equal(reapply.code, 0, reapply.stderr);
    for (const user of [userA, userB]) {
      const again = await secops(['--database-url', url, 'db', 'roles', 'check', '--runtime', runtime, '--user', user]);
      assert.equal(again.code, 0, again.stdout + again.stderr);
    }
  });

  it('refuses invalid role names as a usage error (exit 2) before connecting', async () => {
    const { code, stderr } = await secops([
      '--database-url',
      url,
      'db',
      'roles',
      'apply',
      '--owner',
      'Robert"; drop table users; --',
    ]);
    assert.equal(code, 2);
    assert.match(stderr, /invalid owner role/);
    assert.equal((await secops(['--database-url', url, 'db', 'roles', 'apply', '--users', 'only_one'])).code, 2);
    assert.equal((await secops(['--database-url', url, 'db', 'roles', 'apply', '--connection-limit', '0'])).code, 2);
  });
});

describe('secops db roles apply as an admin with CREATEROLE only (a managed service’s master user)', {
  skip: !onRealPostgres && 'needs PostgreSQL',
}, () => {
  const managed = testRoles('rc');
  const names = {
    admin: `${managed.owner.replace(/_owner$/, '')}_admin`,
    owner: managed.owner,
    runtime: managed.runtime,
    a: managed.users[0],
  };
  let testDb: TestDatabase;
  let url: string;

  before(async () => {
    testDb = await createTestDatabase();
    url = testDb.url as string;
    const dbName = new URL(url).pathname.slice(1);
    // The admin owns the database, the schema and the tables, as the role that created them would.
    await adminQuery(url, `create role "${names.admin}" login createrole nosuperuser`);
    await adminQuery(url, `alter database ${dbName} owner to "${names.admin}"`);
    await adminQuery(url, `alter schema public owner to "${names.admin}"`);
    const tables = await adminQuery(url, "select tablename from pg_tables where schemaname = 'public'");
    for (const { tablename } of tables.rows) await adminQuery(url, `alter table public."${tablename}" owner to "${names.admin}"`);
  });

  after(() => dropTestRoles(url, managed, () => testDb.drop(), [names.admin]));

  it('joins the owner role itself, hands everything over, and the login users pass the check', async () => {
    const adminUrl = urlAs(url, names.admin);
    const flags = managed.flags;
    const first = await secops(['--database-url', adminUrl, 'db', 'roles', 'apply', ...flags]);
    assert.equal(first.code, 0, first.stderr);
    // CREATE EXTENSION amcheck needs more than CREATEROLE: the roles apply, the drill template is said to be missing.
    assert.match(first.stderr, /drill's template database .* could not be prepared .*will skip its pg_amcheck index check/s);
    const again = await secops(['--json', '--database-url', adminUrl, 'db', 'roles', 'apply', ...flags]);
    assert.equal(again.code, 0, again.stderr);
    assert.ok(!(JSON.parse(again.stdout) as { statements: string[] }).statements.some((s) => s.includes('CURRENT_USER')));
    const check = await secops([
      '--database-url',
      adminUrl,
      'db',
      'roles',
      'check',
      '--runtime',
      names.runtime,
      '--user',
      names.a,
    ]);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    const owners = await adminQuery(
      url,
      "select distinct pg_get_userbyid(relowner) as owner from pg_class where relnamespace = 'public'::regnamespace",
    );
    assert.deepEqual(owners.rows, [{ owner: names.owner }]);
  });
});
