import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createReplyBus } from '../../../../service/src/components/chat/reply-bus.js';
import { createLogger } from '../../../../service/src/platform/logger.js';
import { adminQuery, createTestDatabase } from '../../../helpers/database.js';
import { realPostgresAvailable, testDatabaseUrl } from '../../../helpers/services.js';
import { waitFor } from '../../../helpers/wait.js';

// Before any describe: node:test starts the registered suites at the first top-level await.
const skip = !(await realPostgresAvailable()) && 'needs a real PostgreSQL (LISTEN/NOTIFY)';
const silent = () => createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

const listenersOn = async (database: string) =>
  Number(
    (
      await adminQuery(
        testDatabaseUrl() as string,
        "select count(*)::int as n from pg_stat_activity where application_name = 'rampart-reply-bus' and datname = $1",
        [database],
      )
    ).rows[0]?.n,
  );
const nameOf = (u: string) => new URL(u).pathname.slice(1);

describe('reply bus: the LISTEN connection follows DATABASE_URL', { skip }, () => {
  it('a connection string reloaded while the listener was being opened is followed without waiting for a publish', async (t) => {
    const first = await createTestDatabase({ migrated: false });
    t.after(() => first.drop());
    const second = await createTestDatabase({ migrated: false });
    t.after(() => second.drop());
    // The bus reads the URL when it opens its session (the first database); by the time its LISTEN
    // has answered, the URL names the second.
    let reads = 0;
    const bus = createReplyBus({
      url: () => {
        reads += 1;
        return reads === 1 ? (first.url as string) : (second.url as string);
      },
      notify: async () => undefined,
      logger: silent(),
      reconnectMs: 10,
    });
    t.after(() => bus.close());
    await waitFor(
      'the listener on the second database',
      async () => (await listenersOn(nameOf(second.url as string))) === 1,
      10_000,
    );
    await waitFor('no listener left on the first', async () => (await listenersOn(nameOf(first.url as string))) === 0, 10_000);
  });

  it('after the connection string changes (a reload: another server), the next publish moves the listener there', async (t) => {
    const first = await createTestDatabase({ migrated: false });
    t.after(() => first.drop());
    const second = await createTestDatabase({ migrated: false });
    t.after(() => second.drop());
    let url = first.url as string;
    const bus = createReplyBus({
      url: () => url,
      notify: async (channel, payload) => void (await adminQuery(url, 'select pg_notify($1, $2)', [channel, payload])),
      logger: silent(),
      reconnectMs: 10,
    });
    t.after(() => bus.close());
    await waitFor(
      'the listener on the first database',
      async () => (await listenersOn(nameOf(first.url as string))) === 1,
      10_000,
    );

    url = second.url as string;
    await bus.publish('00000000-0000-0000-0000-000000000001');
    await waitFor(
      'the listener on the second database',
      async () => (await listenersOn(nameOf(second.url as string))) === 1,
      10_000,
    );
    await waitFor('no listener left on the first', async () => (await listenersOn(nameOf(first.url as string))) === 0, 10_000);
    assert.equal(await listenersOn(nameOf(second.url as string)), 1);
  });
});
