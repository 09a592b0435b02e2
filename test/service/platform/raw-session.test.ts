import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openSession, withSession } from '../../../service/src/platform/db.js';
import { adminQuery } from '../../helpers/database.js';
import { realPostgresAvailable, testDatabaseUrl } from '../../helpers/services.js';
import { waitFor } from '../../helpers/wait.js';

const skip = !(await realPostgresAvailable()) && 'needs a real PostgreSQL (TEST_DATABASE_URL, or initdb for npm test to start one)';

describe('raw PostgreSQL sessions (platform/db openSession)', { skip }, () => {
  it('survives its connection being terminated: no crash, lost() names the cause, close() resolves', async (t) => {
    const url = testDatabaseUrl() as string;
    const session = await openSession(url, { applicationName: 'rampart-test-raw-session' });
    t.after(() => session.close());
    const { rows } = await session.client.query<{ pid: number }>('select pg_backend_pid() as pid');
    assert.equal(session.lost(), undefined);
    await adminQuery(url, 'select pg_terminate_backend($1)', [rows[0]!.pid]);
    // The server closes the socket; pg emits 'error' on the idle client. Without a listener that
    // event would be uncaught and end the process (a long backup dump, before this helper).
    await waitFor('the session noticing its connection is gone', () => session.lost() !== undefined, 10_000);
    assert.match(String(session.lost()?.message), /terminat/i);
    await assert.rejects(session.client.query('select 1'));
    await session.close();
  });

  it('bounds statements when asked: statement_timeout is the session setting', async () => {
    const url = testDatabaseUrl() as string;
    const setting = await withSession(url, { applicationName: 'rampart-test-raw-session', statementTimeoutMs: 1234 }, async (s) => {
      const r = await s.client.query<{ statement_timeout: string }>('show statement_timeout');
      return r.rows[0]?.statement_timeout;
    });
    assert.equal(setting, '1234ms');
    await assert.rejects(
      withSession(url, { applicationName: 'rampart-test-raw-session', statementTimeoutMs: 50 }, (s) => s.client.query('select pg_sleep(5)')),
      /statement timeout/,
    );
  });
});
