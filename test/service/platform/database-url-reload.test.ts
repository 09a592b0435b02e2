import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../service/src/config/load.js';
import { createDatabaseUrlReloader } from '../../../service/src/platform/database-url-reloader.js';
import { createDatabase } from '../../../service/src/platform/db.js';
import { adminQuery } from '../../helpers/database.js';
import { manualClock } from '../../helpers/clock.js';
import { realPostgresAvailable, testDatabaseUrl } from '../../helpers/services.js';
import { waitFor } from '../../helpers/wait.js';

// Before any describe: node:test starts the registered suites at the first top-level await.
const skip =
  !(await realPostgresAvailable()) && 'needs a real PostgreSQL (TEST_DATABASE_URL, or initdb for npm test to start one)';

function recordingLogger() {
  const lines: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
  const log = (level: string) => (fields: object, msg?: string) =>
    void lines.push({ level, fields: fields as Record<string, unknown>, msg: msg ?? '' });
  return { logger: { info: log('info'), error: log('error') }, lines };
}

describe('DATABASE_URL reloader: re-reads on the injected clock and on demand', () => {
  it('switches the pool on a changed value only, keeps the one in force when a read fails or the value is unusable, and never logs the value', async () => {
    const clock = manualClock();
    const switched: string[] = [];
    let inForce = 'postgres://app:old-secret@db-a:5432/rampart';
    const db = {
      reconfigure(url: string) {
        if (url.includes('target_session_attrs=bogus'))
          throw new Error('target_session_attrs=bogus is not supported: use one of any, read-write, primary');
        if (url === inForce) return false;
        inForce = url;
        switched.push(url);
        return true;
      },
    };
    let next: string | Error = inForce;
    let reads = 0;
    const { logger, lines } = recordingLogger();
    const reloader = createDatabaseUrlReloader({
      db,
      read: async () => {
        reads++;
        if (next instanceof Error) throw next;
        return next;
      },
      intervalMs: 60_000,
      logger,
      clock,
    });

    await clock.tick(60_000);
    assert.equal(reads, 1);
    assert.deepEqual(switched, [], 'the same value: nothing switches');

    next = 'postgres://app:new-secret@db-a:5432,db-b:5432/rampart?target_session_attrs=read-write\n';
    assert.equal(await reloader.reload('signal'), 'changed');
    assert.deepEqual(switched, ['postgres://app:new-secret@db-a:5432,db-b:5432/rampart?target_session_attrs=read-write']);
    assert.deepEqual(lines.at(-1)?.fields.servers, ['db-a:5432', 'db-b:5432']);

    next = new ConfigError(['DATABASE_URL_FILE: cannot read /run/secrets/db (ENOENT)']);
    await clock.tick(60_000);
    assert.equal(reads, 3);
    assert.equal(lines.at(-1)?.level, 'error');
    assert.deepEqual(lines.at(-1)?.fields.problems, ['DATABASE_URL_FILE: cannot read /run/secrets/db (ENOENT)']);

    next = 'postgres://app:other-secret@db-c/rampart?target_session_attrs=bogus';
    assert.equal(await reloader.reload('manual'), 'failed');
    next = '  ';
    assert.equal(await reloader.reload('manual'), 'failed');
    assert.equal(switched.length, 1, 'a failed read or an unusable value leaves the pool where it was');

    reloader.stop();
    await clock.tick(600_000);
    assert.equal(reads, 5, 'no reads after stop');
    assert.doesNotMatch(JSON.stringify(lines), /old-secret|new-secret|other-secret|app:/, 'no logged line carries the connection string');
  });
});

describe('Database.reconfigure against a real PostgreSQL', { skip }, () => {
  it('new connections use the new string at once; a connection busy during the switch finishes its work and is then closed, not reused', async (t) => {
    const base = new URL(testDatabaseUrl() as string);
    const first = new URL(base.href);
    first.pathname = '/postgres';
    const second = new URL(base.href);
    second.pathname = '/template1';
    const applicationName = `rampart-reconfigure-${process.pid}`;
    const db = createDatabase({ url: first.href, poolMax: 2, acquireTimeoutMs: 5000, statementTimeoutMs: 5000, applicationName });
    t.after(() => db.close());
    const current = async () => (await db.knex.raw<{ rows: { db: string }[] }>('select current_database() as db')).rows[0]?.db;
    assert.equal(await current(), 'postgres');

    // A transaction holds one connection to the first database across the switch.
    let releaseBusy!: () => void;
    const busyDone = db.knex.transaction(async (trx) => {
      await trx.raw('select 1');
      await new Promise<void>((resolve) => {
        releaseBusy = resolve;
      });
      return (await trx.raw<{ rows: { db: string }[] }>('select current_database() as db')).rows[0]?.db;
    });
    await waitFor('the transaction holding its connection', () => releaseBusy !== undefined, 5000);

    assert.equal(db.reconfigure(second.href), true);
    assert.equal(db.reconfigure(second.href), false, 'the same string again changes nothing');
    assert.equal(db.url, second.href);
    assert.equal(await current(), 'template1', 'a new query uses the new string');
    releaseBusy();
    assert.equal(await busyDone, 'postgres', 'the busy transaction finished on its own connection');

    for (let i = 0; i < 4; i++) assert.equal(await current(), 'template1', 'the old connection is never handed out again');
    const count = async (datname: string) =>
      Number(
        (
          await adminQuery(
            base.href,
            'select count(*)::int as n from pg_stat_activity where application_name = $1 and datname = $2',
            [applicationName, datname],
          )
        ).rows[0]?.n,
      );
    await waitFor('the connections to the first database closed', async () => (await count('postgres')) === 0, 5000);
  });
});
