import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type InProcessTestApp, startTestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';
import { signedUpUser } from '../../../helpers/users.js';

/** Cheap hashes (refused in production, fine here). */
const FAST = { ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' };

/**
 * What a login costs the database, statement by statement: every round trip is CPU on both sides
 * that a login flood takes from the hashes (docs/performance.md "Logins at the machine's capacity").
 * A new statement on this path has to be worth it; this test makes adding one a decision.
 */
/** The statements one login runs, in order, up to its batched audit row. */
async function statementsOfLogin(app: InProcessTestApp, body: Record<string, unknown>): Promise<{ statements: string[]; body: Record<string, unknown> }> {
  await app.deps.audit.log.flush(); // earlier requests' audit rows, written behind them
  const statements: string[] = [];
  const record = (query: { sql: string }) => {
    // The mail outbox's background worker shares the pool; it is not the login's.
    if (!/mail_outbox/.test(query.sql)) statements.push(query.sql.replace(/\s+/g, ' ').trim());
  };
  app.database.db.knex.on('query', record);
  try {
    const res = await api(app, 'POST', '/v1/auth/login', { json: body });
    assert.equal(res.status, 200, res.text);
    await app.deps.audit.log.flush(); // the login's own audit row leaves in a batch behind the answer
    return { statements, body: res.body as Record<string, unknown> };
  } finally {
    app.database.db.knex.off('query', record);
  }
}

function assertStatements(statements: string[], expected: RegExp[]) {
  assert.equal(statements.length, expected.length, `statements:\n${statements.join('\n')}`);
  for (const [i, pattern] of expected.entries()) assert.match(statements[i] as string, pattern, `statement ${i + 1}`);
}

/** Once the password is verified: the second factors, the session and its refresh token, the eviction beyond the cap and a new device (migrations/20261206002400_open_password_login.ts). */
const WRITE = /^select outcome, opened_session, evicted_sessions from open_password_login\(/;
/** login_succeeded, batched with other requests' rows under load. */
const AUDIT = /^insert into "audit_events"/;

describe('the statements of a login', () => {
  it('a password login from a new device runs two statements, and its audit row leaves in a batch', async (t) => {
    const app = await startTestApp({ env: FAST });
    t.after(() => app.close());
    const user = await signedUpUser(app);
    const { statements } = await statementsOfLogin(app, { email: user.email, password: user.password });
    assertStatements(statements, [/^select .* from "users" where "email" = /, WRITE, AUDIT]);
  });

  it('a password login from a known device reads the account and marks the device used in its first statement', async (t) => {
    const app = await startTestApp({ env: FAST });
    t.after(() => app.close());
    const user = await signedUpUser(app);
    const first = await statementsOfLogin(app, { email: user.email, password: user.password });
    const device_token = first.body.device_token;
    assert.equal(typeof device_token, 'string');
    const { statements, body } = await statementsOfLogin(app, { email: user.email, password: user.password, device_token });
    assertStatements(statements, [/^with d as \( update device_tokens set last_used_at = .* from users where email = /, WRITE, AUDIT]);
    assert.equal(body.device_token, device_token, 'a known device keeps its token');
  });
});
