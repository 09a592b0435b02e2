import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';
import { signedUpUser } from '../../../helpers/users.js';

/** Cheap hashes (refused in production, fine here). */
const FAST = { ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' };

/**
 * What a login costs the database, statement by statement: every round trip is CPU on both sides
 * that a login flood takes from the hashes (docs/performance.md "Logins at the machine's capacity").
 * A new statement on this path has to be worth it; this test makes adding one a decision.
 */
describe('the statements of a login', () => {
  it('a password login from a new device runs five statements, and its audit row leaves in a batch', async (t) => {
    const app = await startTestApp({ env: FAST });
    t.after(() => app.close());
    const user = await signedUpUser(app);
    await app.deps.audit.log.flush(); // the signup's audit rows, written behind its request
    const statements: string[] = [];
    const record = (query: { sql: string }) => {
      // The mail outbox's background worker shares the pool; it is not the login's.
      if (!/mail_outbox/.test(query.sql)) statements.push(query.sql.replace(/\s+/g, ' ').trim());
    };
    app.database.db.knex.on('query', record);
    t.after(() => app.database.db.knex.off('query', record));

    const res = await api(app, 'POST', '/v1/auth/login', { json: { email: user.email, password: user.password } });
    assert.equal(res.status, 200, res.text);
    await app.deps.audit.log.flush(); // the login's own audit row leaves in a batch behind the answer
    app.database.db.knex.off('query', record);

    const expected = [
      /^select .* from "users" where "email" = /, // the account
      /^select exists \(select 1 from mfa_totp .* exists \(select 1 from webauthn_credentials/, // its second factors, both at once
      /^with u as \(.*insert into sessions.*insert into refresh_tokens/, // the session and its refresh token, if the password is still the same
      /^update sessions set revoked_at = .*'evicted'/, // sessions beyond MAX_SESSIONS_PER_USER
      /^with issued as \( insert into device_tokens .* delete from device_tokens/, // the new device, and the cap on devices
      /^insert into "audit_events"/, // login_succeeded (batched with other requests' rows under load)
    ];
    assert.equal(statements.length, expected.length, `statements:\n${statements.join('\n')}`);
    for (const [i, pattern] of expected.entries()) assert.match(statements[i] as string, pattern, `statement ${i + 1}`);
  });
});
