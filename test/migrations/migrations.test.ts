import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listMigrationFiles, migratorConfig, withMigrationLock } from '../../service/src/platform/migrations.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const APP_TABLES = ['users', 'sessions', 'refresh_tokens', 'audit_events', 'conversations', 'messages', 'account_tokens', 'mail_outbox', 'device_tokens', 'mfa_totp', 'mfa_recovery_codes', 'webauthn_credentials', 'idempotency_keys', 'reply_events', 'model_budgets', 'model_usage'];

async function tables(t: TestDatabase): Promise<string[]> {
  const r = await t.db.knex.raw(
    "select table_name from information_schema.tables where table_schema = current_schema() and table_name not like 'knex_%' order by 1",
  );
  return (r.rows as { table_name: string }[]).map((x) => x.table_name);
}

describe('migrations', () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase({ migrated: false });
  });
  after(() => t.drop());

  it('every migration goes up, down and up again on a fresh database', async () => {
    const cfg = migratorConfig();
    const files = listMigrationFiles();
    assert.ok(files.length >= 4);
    for (const file of files) {
      await t.db.knex.migrate.up(cfg);
      const [, pending] = (await t.db.knex.migrate.list(cfg)) as [unknown[], unknown[]];
      assert.equal(pending.length, files.length - files.indexOf(file) - 1, `after ${file.name}`);
    }
    assert.deepEqual(await tables(t), [...APP_TABLES].sort());
    for (const file of [...files].reverse()) {
      await t.db.knex.migrate.down(cfg);
      const [done] = (await t.db.knex.migrate.list(cfg)) as [unknown[], unknown[]];
      assert.equal(done.length, files.indexOf(file), `after rolling back ${file.name}`);
    }
    assert.deepEqual(await tables(t), []);
    await withMigrationLock(t.db, () => t.db.knex.migrate.latest(cfg));
    assert.deepEqual(await tables(t), [...APP_TABLES].sort());
  });

  it('indexes messages on (conversation_id, created_at) and conversations on (user_id, updated_at)', async () => {
    const r = await t.db.knex.raw("select indexname, indexdef from pg_indexes where tablename in ('messages', 'conversations')");
    const defs = (r.rows as { indexdef: string }[]).map((x) => x.indexdef);
    assert.ok(defs.some((d) => /ON \S*messages USING btree \(conversation_id, created_at/.test(d)), defs.join('\n'));
    assert.ok(defs.some((d) => /ON \S*conversations USING btree \(user_id, updated_at DESC/.test(d)), defs.join('\n'));
  });

  it('deleting a user removes their sessions, tokens, conversations and messages but keeps audit events', async () => {
    const k = t.db.knex;
    const [user] = await k('users').insert({ email: 'cascade@example.com', password_hash: 'x' }).returning('id');
    const [session] = await k('sessions').insert({ user_id: user.id, expires_at: k.raw("now() + interval '1 day'") }).returning('id');
    await k('refresh_tokens').insert({ session_id: session.id, token_hash: Buffer.alloc(32, 1), expires_at: k.raw('now()') });
    const [conv] = await k('conversations').insert({ user_id: user.id, title: 't' }).returning('id');
    await k('messages').insert({ conversation_id: conv.id, role: 'user', content: 'hi' });
    await k('audit_events').insert({ type: 'signup_succeeded', user_id: user.id });
    await k('users').where({ id: user.id }).delete();
    for (const table of ['sessions', 'refresh_tokens', 'conversations', 'messages']) {
      assert.equal(Number((await k(table).count({ n: '*' }))[0]?.n), 0, table);
    }
    assert.equal(Number((await k('audit_events').count({ n: '*' }))[0]?.n), 1);
  });

  it('refuses invalid message roles and statuses at the database level', async () => {
    const k = t.db.knex;
    const [user] = await k('users').insert({ email: 'checks@example.com', password_hash: 'x' }).returning('id');
    const [conv] = await k('conversations').insert({ user_id: user.id }).returning('id');
    await assert.rejects(k('messages').insert({ conversation_id: conv.id, role: 'system', content: 'x' }));
    await assert.rejects(k('messages').insert({ conversation_id: conv.id, role: 'user', content: 'x', status: 'weird' }));
    await assert.rejects(k('users').insert({ email: 'checks@example.com', password_hash: 'y' }), /users_email_unique/);
  });
});
