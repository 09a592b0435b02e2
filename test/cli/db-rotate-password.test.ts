import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { run as runDb } from '../../cli/src/commands/db.js';
import { createContext } from '../../cli/src/lib/context.js';
import { openConfiguredDatabase } from '../../cli/src/lib/database.js';
import { scramSha256Verifier } from '../../cli/src/lib/db-roles/scram.js';
import { exitCodeFor } from '../../cli/src/lib/errors.js';
import { main } from '../../cli/src/main.js';
import { createDatabase } from '../../service/src/platform/db.js';
import { migrateLatest } from '../../service/src/platform/migrations.js';
import { createSecretStore } from '../../service/src/platform/secrets/store.js';
import type { SecretStore } from '../../service/src/platform/secrets/types.js';
import { captureIo } from './capture.js';
import { type PrivatePostgres, privatePostgresAvailable, startPrivatePostgres } from '../helpers/private-postgres.js';
import { TEST_PASSWORD } from '../helpers/users.js';

/**
 * Rotation needs a server that checks passwords: these tests run a private cluster with
 * SCRAM-SHA-256 for every connection (test/helpers/private-postgres.ts).
 */
const cluster = privatePostgresAvailable()
  ? await startPrivatePostgres({ auth: 'scram-sha-256', logStatements: true })
  : undefined;
const DB = 'rampart';
after(async () => {
  await cluster?.dispose();
});

async function login(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

async function canLogin(url: string): Promise<true | string> {
  try {
    const client = await login(url);
    await client.end();
    return true;
  } catch (err) {
    return (err as Error).message;
  }
}

async function whoAmI(client: pg.Client): Promise<string> {
  return (await client.query<{ u: string }>('select current_user as u')).rows[0]?.u as string;
}

async function adminQuery(sql: string, params: unknown[] = []) {
  const client = await login((cluster as PrivatePostgres).url(DB));
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

describe('SCRAM-SHA-256 verifiers computed on the client', { skip: !cluster && 'needs the PostgreSQL server binaries' }, () => {
  it('the server accepts the password behind a verifier it never saw in plaintext, and only that one', async () => {
    const c = cluster as PrivatePostgres;
    const password = TEST_PASSWORD;
    const verifier = scramSha256Verifier(password);
    assert.match(verifier, /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
    const admin = await login(c.url());
    try {
      await admin.query(`create role scram_probe login password '${verifier}'`);
      const stored = await admin.query('select rolpassword from pg_authid where rolname = $1', ['scram_probe']);
      assert.equal(stored.rows[0]?.rolpassword, verifier, 'stored as given, not re-hashed');
      const probe = await login(c.url('postgres', { user: 'scram_probe', password }));
      assert.equal(await whoAmI(probe), 'scram_probe');
      await probe.end();
      assert.match(
        String(await canLogin(c.url('postgres', { user: 'scram_probe', password: `${password}!` }))),
        /password authentication failed/,
      );
      assert.ok(!c.log().includes(password), 'the plaintext never reached the server log');
    } finally {
      await admin.query('drop role if exists scram_probe');
      await admin.end();
    }
  });

  it('a fixed salt gives a fixed verifier; non-ASCII passwords are refused', () => {
    const salt = Buffer.alloc(16, 1);
    assert.equal(scramSha256Verifier('pw', { salt }), scramSha256Verifier('pw', { salt }));
    assert.notEqual(scramSha256Verifier('pw', { salt }), scramSha256Verifier('pw2', { salt }));
    assert.throws(() => scramSha256Verifier('pässword'), /printable ASCII/);
    assert.throws(() => scramSha256Verifier(''), /printable ASCII/);
  });
});

describe('secops db rotate-password end to end (file: reference)', {
  skip: !cluster && 'needs the PostgreSQL server binaries',
}, () => {
  let c: PrivatePostgres;
  let dir: string;
  let secretFile: string;
  let ref: string;
  let adminUrl: string;
  const open: pg.Client[] = [];
  const read = () => readFileSync(secretFile, 'utf8');
  const stored = () => new URL(read());

  async function rotate(...extra: string[]) {
    const captured = captureIo({});
    const code = await main(['--json', '--database-url', adminUrl, 'db', 'rotate-password', '--ref', ref, ...extra], captured.io);
    const out = captured.stdout();
    return {
      code,
      stdout: out,
      stderr: captured.stderr(),
      report: code === 0 ? (JSON.parse(out) as Record<string, unknown>) : undefined,
    };
  }

  before(async () => {
    c = cluster as PrivatePostgres;
    const admin = await login(c.url());
    await admin.query(`create database ${DB}`);
    await admin.query("create role rampart_legacy login password 'legacy-password-1234567890'");
    await admin.end();
    adminUrl = c.url(DB);
    const db = createDatabase({ url: adminUrl, poolMax: 2, acquireTimeoutMs: 10_000, statementTimeoutMs: 60_000 });
    try {
      await migrateLatest(db);
    } finally {
      await db.close();
    }
    const applied = captureIo({});
    assert.equal(await main(['--database-url', adminUrl, 'db', 'roles', 'apply'], applied.io), 0, applied.stderr());
    dir = mkdtempSync(join(tmpdir(), 'rampart-rotate-'));
    secretFile = join(dir, 'database-url');
    ref = `file:${secretFile}`;
    // Before the first rotation the service runs as some other user.
    writeFileSync(
      secretFile,
      `${c.url(DB, { user: 'rampart_legacy', password: 'legacy-password-1234567890' })}?application_name=rampart&sslmode=disable\n`,
    );
  });

  after(async () => {
    for (const client of open) await client.end().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a stored user outside the pair without --adopt, and changes nothing', async () => {
    const before = read();
    const { code, stderr } = await rotate();
    assert.equal(code, 1);
    assert.match(stderr, /step "plan".*"rampart_legacy" is neither "rampart_app_a" nor "rampart_app_b".*--adopt/s);
    assert.equal(read(), before);
  });

  it('refuses a read-only env: reference as a usage error (exit 2) before touching the database', async () => {
    const captured = captureIo({ DATABASE_URL: 'postgres://x:y@127.0.0.1:1/none' });
    const code = await main(['--database-url', adminUrl, 'db', 'rotate-password', '--ref', 'env:DATABASE_URL'], captured.io);
    assert.equal(code, 2);
    assert.match(captured.stderr(), /env:DATABASE_URL cannot be written/);
    assert.doesNotMatch(captured.stderr(), /x:y@/);
  });

  it('--dry-run reports the plan and changes nothing', async () => {
    const before = read();
    const passwords = await adminQuery(
      "select rolname, rolpassword from pg_authid where rolname like 'rampart_app_%' order by 1",
    );
    const { code, report, stderr } = await rotate('--adopt', '--dry-run');
    assert.equal(code, 0, stderr);
    assert.deepEqual(
      { previous: report?.previous_user, active: report?.active_user, dry: report?.dry_run },
      { previous: 'rampart_legacy', active: 'rampart_app_a', dry: true },
    );
    assert.equal(read(), before);
    assert.deepEqual(
      (await adminQuery("select rolname, rolpassword from pg_authid where rolname like 'rampart_app_%' order by 1")).rows,
      passwords.rows,
    );
  });

  let firstUrl: string;
  it('the first rotation makes rampart_app_a active: the stored URL logs in and keeps its options; the password is never shown', async () => {
    const { code, stdout, stderr, report } = await rotate('--adopt');
    assert.equal(code, 0, stderr);
    firstUrl = read();
    const url = stored();
    assert.equal(url.username, 'rampart_app_a');
    assert.ok(url.password.length >= 43, 'at least 32 random bytes');
    assert.equal(url.searchParams.get('application_name'), 'rampart');
    assert.equal(url.searchParams.get('sslmode'), 'disable');
    assert.equal(url.host, `127.0.0.1:${c.port}`);
    assert.deepEqual(report, {
      previous_user: 'rampart_legacy',
      active_user: 'rampart_app_a',
      stored_version: createHash('sha256').update(readFileSync(secretFile)).digest('hex'),
      dry_run: false,
      ref,
      target: `postgres://rampart_app_a@127.0.0.1:${c.port}/${DB}`,
    });
    for (const text of [stdout, stderr, c.log()]) {
      assert.ok(!text.includes(decodeURIComponent(url.password)), 'the password appears in no output and no server log');
    }
    const client = await login(firstUrl);
    open.push(client);
    assert.equal(await whoAmI(client), 'rampart_app_a');
    assert.ok(await client.query('select count(*) from messages'));
  });

  it('the second rotation switches to rampart_app_b; rampart_app_a’s open connection and its password keep working', async () => {
    const { code, stderr, report } = await rotate();
    assert.equal(code, 0, stderr);
    assert.equal(report?.previous_user, 'rampart_app_a');
    assert.equal(report?.active_user, 'rampart_app_b');
    assert.equal(stored().username, 'rampart_app_b');
    const b = await login(read());
    open.push(b);
    assert.equal(await whoAmI(b), 'rampart_app_b');
    const [a] = open;
    assert.equal(await whoAmI(a as pg.Client), 'rampart_app_a', 'the connection opened before still works');
    assert.equal(await canLogin(firstUrl), true, 'rampart_app_a can still log in until the next rotation');
  });

  it('refuses to re-key rampart_app_a while a session of it is still open (pods not rolled yet)', async () => {
    const before = read();
    const { code, stderr } = await rotate();
    assert.equal(code, 1);
    assert.match(stderr, /1 session\(s\) of "rampart_app_a" are still open.*rollout status/s);
    assert.equal(read(), before);
    assert.equal(await canLogin(firstUrl), true);
  });

  it('the third rotation gives rampart_app_a a new password: the old one no longer logs in', async () => {
    await (open.shift() as pg.Client).end();
    const { code, stderr, report } = await rotate();
    assert.equal(code, 0, stderr);
    assert.equal(report?.active_user, 'rampart_app_a');
    assert.equal(stored().username, 'rampart_app_a');
    assert.notEqual(read(), firstUrl);
    assert.match(String(await canLogin(firstUrl)), /password authentication failed for user "rampart_app_a"/);
    assert.equal(await canLogin(read()), true);
    assert.equal(await whoAmI(open[0] as pg.Client), 'rampart_app_b', 'rampart_app_b’s connection is untouched');
  });

  it('a failed login test leaves the stored URL unchanged (exit 1, names the step); re-running after the fix succeeds', async () => {
    await (open.shift() as pg.Client).end(); // rampart_app_b is next: no session of it may be open
    await adminQuery('revoke select on users from rampart_runtime');
    const before = read();
    const failed = await rotate();
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /step "test-login".*permission denied for table users.*stored connection URL is unchanged/s);
    assert.equal(read(), before);
    assert.equal(await canLogin(before), true, 'the active user still logs in');

    const reapply = captureIo({});
    assert.equal(await main(['--database-url', adminUrl, 'db', 'roles', 'apply'], reapply.io), 0, reapply.stderr());
    const again = await rotate();
    assert.equal(again.code, 0, again.stderr);
    assert.equal(stored().username, 'rampart_app_b');
  });

  it('a store write that conflicts (the URL changed since it was read) writes nothing and exits 1', async () => {
    const fileStore = createSecretStore();
    const concurrent = `${c.url(DB, { user: 'rampart_app_b', password: 'written-by-someone-else' })}`;
    // Another writer replaces the URL between this rotation's read and its write.
    const racing: SecretStore = {
      async read(r) {
        const value = await fileStore.read(r);
        writeFileSync(secretFile, concurrent);
        return value;
      },
      write: (r, v, o) => fileStore.write(r, v, o),
    };
    const captured = captureIo({});
    const ctx = createContext(captured.io, { json: true, databaseUrl: adminUrl }, openConfiguredDatabase);
    const options = {
      ref,
      users: ['rampart_app_a', 'rampart_app_b'] as const,
      runtime: 'rampart_runtime',
      schema: 'public',
      dryRun: false,
      adopt: false,
      force: false,
    };
    const err = await runDb({ action: 'rotate-password', ...options }, ctx, { store: racing }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof Error);
    assert.equal(exitCodeFor(err), 1);
    assert.match(err.message, /step "write".*changed since it was read.*Re-run/s);
    assert.equal(read(), concurrent, 'the other writer’s value stands; the rotation wrote nothing');
    assert.equal(captured.stdout(), '');
  });
});
