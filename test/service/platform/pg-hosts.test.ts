import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import { createDatabase, isDatabaseUnavailable, openSession } from '../../../service/src/platform/db.js';
import { HostWalker, NoSuitableHostError, parseHostList } from '../../../service/src/platform/pg-hosts.js';
import {
  freePort,
  type PrivatePostgres,
  privatePostgresAvailable,
  startPrivatePostgres,
} from '../../helpers/private-postgres.js';
import { realPostgresAvailable, testDatabaseUrl } from '../../helpers/services.js';

// Before any describe: node:test starts the registered suites at the first top-level await.
const skip =
  (!(await realPostgresAvailable()) || !privatePostgresAvailable()) &&
  'needs a real PostgreSQL and initdb for a private read-only server';

describe('parseHostList: libpq multi-host connection strings', () => {
  it('a single-host URL comes back unchanged, as one server', () => {
    const url = 'postgres://u:p@db.internal:6432/app?sslmode=verify-full';
    assert.deepEqual(parseHostList(url), { labels: ['db.internal:6432'], urls: [url], targetSessionAttrs: 'any' });
  });

  it('several hosts: one URL per server with the same credentials, database and parameters; target_session_attrs taken out', () => {
    const list = parseHostList(
      'postgresql://u:p%40ss@a.internal:5432,b.internal,[::1]:5433/app?sslmode=verify-full&target_session_attrs=read-write',
    );
    assert.equal(list.targetSessionAttrs, 'read-write');
    assert.deepEqual(list.labels, ['a.internal:5432', 'b.internal:5432', '[::1]:5433']);
    assert.deepEqual(list.urls, [
      'postgresql://u:p%40ss@a.internal:5432/app?sslmode=verify-full',
      'postgresql://u:p%40ss@b.internal/app?sslmode=verify-full',
      'postgresql://u:p%40ss@[::1]:5433/app?sslmode=verify-full',
    ]);
    for (const label of list.labels) assert.doesNotMatch(label, /p%40ss|u:/, 'labels never carry the credentials');
  });

  it('refuses an unsupported target_session_attrs and an empty host entry', () => {
    assert.throws(
      () => parseHostList('postgres://a,b/db?target_session_attrs=prefer-standby'),
      /target_session_attrs=prefer-standby is not supported/,
    );
    assert.throws(() => parseHostList('postgres://a,,b/db'), /empty host/);
  });

  it('a keyword/value string is passed through as one server', () => {
    assert.deepEqual(parseHostList('host=/run/postgresql dbname=app').urls, ['host=/run/postgresql dbname=app']);
  });
});

describe('HostWalker: the server order', () => {
  const fake = (i: number) => ({ i }) as unknown as pg.Client & { i: number };

  it('skips a server that cannot be reached and starts the next walk at the one that answered', async () => {
    const walker = new HostWalker(parseHostList('postgres://a:1,b:2,c:3/db'));
    const tried: number[] = [];
    const open = async (i: number) => {
      tried.push(i);
      if (i === 0) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      return fake(i);
    };
    assert.equal((await walker.connect(open, async () => undefined)).i, 1);
    assert.equal((await walker.connect(open, async () => undefined)).i, 1);
    assert.deepEqual(tried, [0, 1, 1], 'the dead first server is not retried first once another answered');
  });

  it('every server down: NoSuitableHostError (SQLSTATE 08001) naming each server and why, which the service answers 503', async () => {
    const walker = new HostWalker(parseHostList('postgres://u:hunter2@a:1,b:2/db'));
    const err = await walker
      .connect(
        async () => {
          throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        },
        async () => undefined,
      )
      .catch((e: unknown) => e);
    assert.ok(err instanceof NoSuitableHostError);
    assert.equal(err.code, '08001');
    assert.match(err.message, /no reachable PostgreSQL server among a:1, b:2: a:1: ECONNREFUSED .*; b:2: ECONNREFUSED/);
    assert.doesNotMatch(err.message, /hunter2/);
    assert.equal(isDatabaseUnavailable(err), true);
  });
});

describe('target_session_attrs=read-write against real servers (a refused port, a read-only server, a writable one)', {
  skip,
}, () => {
  let readOnly: PrivatePostgres | undefined;
  let url = '';
  let writablePort = 0;
  before(async () => {
    // A server that accepts connections but no writes: what a hot standby looks like to a client.
    readOnly = await startPrivatePostgres({ settings: { default_transaction_read_only: 'on' } });
    const shared = new URL(testDatabaseUrl() as string);
    writablePort = Number(shared.port || 5432);
    const refused = await freePort();
    url = `postgres://postgres@127.0.0.1:${refused},127.0.0.1:${readOnly.port},${shared.hostname}:${writablePort}/postgres?target_session_attrs=read-write`;
  });
  after(() => readOnly?.dispose());

  it('the pool lands on the writable server, past the refused and the read-only ones', async (t) => {
    const db = createDatabase({ url, poolMax: 2, acquireTimeoutMs: 5000, statementTimeoutMs: 5000 });
    t.after(() => db.close());
    const r = await db.knex.raw<{ rows: { port: number; ro: string }[] }>(
      "select inet_server_port() as port, current_setting('transaction_read_only') as ro",
    );
    assert.deepEqual(r.rows[0], { port: writablePort, ro: 'off' });
  });

  it('a raw session (migrations, advisory locks, the CLI) walks the same list', async (t) => {
    const session = await openSession(url, { applicationName: 'rampart-test-pg-hosts' });
    t.after(() => session.close());
    const r = await session.client.query<{ port: number }>('select inet_server_port() as port');
    assert.equal(r.rows[0]?.port, writablePort);
  });

  it('with no writable server a query fails as "database unavailable" (503), naming the read-only one', async (t) => {
    const onlyReadOnly = `postgres://postgres@127.0.0.1:${readOnly?.port}/postgres?target_session_attrs=read-write`;
    const db = createDatabase({ url: onlyReadOnly, poolMax: 1, acquireTimeoutMs: 5000, statementTimeoutMs: 5000 });
    t.after(() => db.close());
    const err = await db.knex.raw('select 1').catch((e: unknown) => e);
    assert.equal(isDatabaseUnavailable(err), true, String(err));
    assert.match(String((err as Error).message), /not read-write \(a standby or read-only\)/);
  });

  it('target_session_attrs=primary accepts a read-only server that is not in recovery (as libpq does)', async (t) => {
    const db = createDatabase({
      url: `postgres://postgres@127.0.0.1:${readOnly?.port}/postgres?target_session_attrs=primary`,
      poolMax: 1,
      acquireTimeoutMs: 5000,
      statementTimeoutMs: 5000,
    });
    t.after(() => db.close());
    const r = await db.knex.raw<{ rows: { port: number }[] }>('select inet_server_port() as port');
    assert.equal(r.rows[0]?.port, readOnly?.port);
  });
});
