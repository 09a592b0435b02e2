/**
 * The commands of the mail runbooks, run for real: the SMTP relay check of runbooks/mail-delivery.md
 * (the script an on-call pastes into `kubectl exec … node -`) against the test SMTP server in each of
 * the ways a relay fails, and every SQL block of the mail runbooks against the migrated schema — the
 * queries print no mail body and no address, and the updates touch only the rows they say they do.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Knex } from '../../service/src/platform/db.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';

const RUNBOOKS = fileURLToPath(new URL('../../runbooks/', import.meta.url));
const read = (file: string) => readFileSync(join(RUNBOOKS, file), 'utf8');
const MAIL_RUNBOOKS = ['mail-delivery.md', 'RampartMailOutboxStuck.md', 'RampartMailSendFailing.md', 'RampartMailDeadLetters.md'];

/** The heredoc the runbook pipes into `node --input-type=module -` in a pod. */
function relayCheckScript(): string {
  const found = /^kubectl -n rampart exec -i deploy\/rampart -- env CHECK_RCPT= node --input-type=module - <<'EOF'\n([\s\S]*?)^EOF$/m.exec(
    read('mail-delivery.md'),
  );
  assert.ok(found, 'runbooks/mail-delivery.md has no relay check (kubectl exec … node --input-type=module - <<EOF)');
  return found[1] as string;
}

/** Runs the script as the pod would: `node --input-type=module -`, the script on stdin, only `env` set. */
function runCheck(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-'], { env: { PATH: process.env.PATH ?? '', ...env } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
    child.stdin.end(relayCheckScript());
  });
}

describe('runbooks/mail-delivery.md: the SMTP relay check', () => {
  let smtp: TestSmtpServer;
  let plain: TestSmtpServer;
  let dir: string;
  let urlFile: string;

  before(async () => {
    smtp = await startSmtpServer();
    plain = await startSmtpServer({ starttls: false });
    dir = mkdtempSync(join(tmpdir(), 'rampart-relay-check-'));
    urlFile = join(dir, 'mail-url');
    writeFileSync(urlFile, `${smtp.mailUrl}\n`, { mode: 0o600 });
  });
  after(async () => {
    await smtp?.close();
    await plain?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const noCredentials = (out: string) => {
    assert.doesNotMatch(out, new RegExp(smtp.password), 'the password is never printed');
    assert.doesNotMatch(out, new RegExp(smtp.user), 'the user is never printed');
  };

  it('passes through STARTTLS, the certificate trusted via MAIL_CA_FILE and AUTH, reading MAIL_URL_FILE; sends no mail', async () => {
    const { code, out } = await runCheck({ MAIL_URL_FILE: urlFile, MAIL_CA_FILE: smtp.caFile });
    assert.equal(code, 0, out);
    assert.match(out, /server 127\.0\.0\.1:\d+, smtp, STARTTLS required, extra CA /);
    assert.match(out, /< 220 .*ESMTP/);
    assert.match(out, /TLS TLSv1\.[23], certificate "rampart test SMTP" \(IP Address:127\.0\.0\.1, DNS:localhost\).*valid until/);
    assert.match(out, /certificate verified/);
    assert.match(out, /> AUTH PLAIN <credentials>\n< 235/);
    assert.match(out, /^OK: the relay is reachable, TLS and AUTH work$/m);
    assert.deepEqual(smtp.authAttempts.at(-1), { method: 'PLAIN', tls: true, ok: true });
    assert.equal(smtp.messages.length, 0);
    noCredentials(out);
  });

  it('stops at a certificate it cannot trust (no MAIL_CA_FILE) before sending the credentials', async () => {
    const attempts = smtp.authAttempts.length;
    const { code, out } = await runCheck({ MAIL_URL_FILE: urlFile });
    assert.equal(code, 1, out);
    assert.match(out, /FAIL certificate not trusted: DEPTH_ZERO_SELF_SIGNED_CERT \(self-signed or a private CA: MAIL_CA_FILE/);
    assert.doesNotMatch(out, /^> AUTH/m);
    assert.equal(smtp.authAttempts.length, attempts, 'no AUTH over an untrusted connection');
    noCredentials(out);
  });

  it('says so when the relay refuses the credentials', async () => {
    const wrong = smtp.mailUrl.replace(`:${encodeURIComponent(smtp.password)}@`, ':not-the-password@');
    const { code, out } = await runCheck({ MAIL_URL: wrong, MAIL_CA_FILE: smtp.caFile });
    assert.equal(code, 1, out);
    assert.match(out, /< 535 .*\nFAIL AUTH refused: the user or password in MAIL_URL is wrong/);
    noCredentials(out);
  });

  it('CHECK_RCPT: asks whether the relay takes a recipient (MAIL FROM of MAIL_FROM, RCPT TO, RSET) and sends nothing', async () => {
    const accepted = await runCheck({
      MAIL_URL_FILE: urlFile,
      MAIL_CA_FILE: smtp.caFile,
      MAIL_FROM: 'Rampart <no-reply@rampart.test>',
      CHECK_RCPT: 'alice@example.com',
    });
    assert.equal(accepted.code, 0, accepted.out);
    assert.match(accepted.out, /> MAIL FROM:<no-reply@rampart\.test>\n< 250/);
    assert.match(accepted.out, /> RCPT TO:<alice@example\.com>\n< 250 .*\nrecipient accepted/);
    assert.match(accepted.out, /> RSET\n< 250/);

    smtp.refuse(550);
    try {
      const refused = await runCheck({ MAIL_URL_FILE: urlFile, MAIL_CA_FILE: smtp.caFile, CHECK_RCPT: 'bob@example.com' });
      assert.equal(refused.code, 1, refused.out);
      assert.match(refused.out, /recipient REFUSED \(550\)/);
      assert.match(refused.out, /^FAIL the relay works but refuses this recipient$/m);
    } finally {
      smtp.refuse(null);
    }
    assert.equal(smtp.messages.length, 0, 'no mail was sent');
  });

  it('refuses to go on when STARTTLS is not offered, and accepts plaintext only with tls=off', async () => {
    const required = await runCheck({ MAIL_URL: plain.mailUrl });
    assert.equal(required.code, 1, required.out);
    assert.match(required.out, /FAIL STARTTLS is not offered: the service refuses to send in clear/);
    assert.equal(plain.authAttempts.length, 0, 'no AUTH in clear');

    const local = await runCheck({ MAIL_URL: `${plain.mailUrl}?tls=off` });
    assert.equal(local.code, 0, local.out);
    assert.match(local.out, /smtp with tls=off \(plaintext\)/);
    assert.match(local.out, /AUTH accepted/);
  });

  it('names the network error when nothing listens, and a missing MAIL_URL_FILE', async () => {
    const down = await startSmtpServer({ starttls: false });
    await down.close();
    const refused = await runCheck({ MAIL_URL: down.mailUrl });
    assert.equal(refused.code, 1, refused.out);
    assert.match(refused.out, /FAIL ECONNREFUSED/);

    const missing = await runCheck({ MAIL_URL_FILE: join(dir, 'absent') });
    assert.equal(missing.code, 1, missing.out);
    assert.match(missing.out, /FAIL cannot read MAIL_URL_FILE \(ENOENT\)/);
  });
});

/** Every ```sql block of a runbook (list items indent theirs), with its psql `\set` variables. */
function sqlBlocks(file: string): { file: string; sql: string; vars: Map<string, string> }[] {
  return [...read(file).matchAll(/^( *)```sql\n([\s\S]*?)^\1```/gm)].map((m) => {
    const vars = new Map<string, string>();
    const lines: string[] = [];
    for (const line of (m[2] as string).split('\n')) {
      const set = /^\s*\\set (\w+) (.*)$/.exec(line);
      if (set) vars.set(set[1] as string, set[2] as string);
      else lines.push(line);
    }
    return { file, sql: lines.join('\n').trim(), vars };
  });
}

/** psql's interpolation of `:'name'` (a quoted literal) and `:name` (as is), with the test's values. */
function interpolate(sql: string, values: Record<string, string>): string {
  return sql.replace(/:'(\w+)'|(?<!:):(\w+)\b/g, (all, quoted: string | undefined, bare: string | undefined) => {
    const name = (quoted ?? bare) as string;
    if (!(name in values)) return all;
    const value = values[name] as string;
    return quoted ? `'${value.replaceAll("'", "''")}'` : value;
  });
}

const statements = (sql: string) =>
  sql
    .split(/;\s*$/m)
    .map((s) => s.trim())
    .filter(Boolean);

describe('the SQL of the mail runbooks', () => {
  let database: TestDatabase;
  let knex: Knex;
  const ids: Record<string, string> = {};
  const ADDRESS = 'alice@example.com';

  before(async () => {
    database = await createTestDatabase();
    knex = database.db.knex;
    const user = await knex.raw(`insert into users (email, password_hash) values (?, 'not-a-hash') returning id`, [ADDRESS]);
    const userId = (user.rows[0] as { id: string }).id;
    await knex.raw(
      `insert into audit_events (type, user_id, email_hash, details) values ('mail_rate_limited', ?, 'h', '{"template":"reset_password"}')`,
      [userId],
    );
    const mail = async (name: string, row: Record<string, unknown>) => {
      const [inserted] = await knex('mail_outbox')
        .insert({
          template: 'reset_password',
          to_address: ADDRESS,
          subject: 'Reset your password',
          text_body: 'https://app.example.test/reset-password?token=secret-link',
          html_body: '<a href="https://app.example.test/reset-password?token=secret-link">reset</a>',
          message_id: `<${name}@rampart.test>`,
          ...row,
        })
        .returning('id');
      ids[name] = String((inserted as { id: string }).id);
    };
    const minutes = (n: number) => new Date(Date.now() + n * 60_000);
    // Waiting for its next try in 40 minutes, after 6 failures.
    await mail('backingOff', { status: 'pending', attempts: 6, next_attempt_at: minutes(40), last_error: 'ECONNREFUSED: connect ECONNREFUSED 10.10.3.7:587' });
    // Failed twice, next try in 2 minutes.
    await mail('retrying', { status: 'pending', attempts: 2, next_attempt_at: minutes(2), last_error: 'EAUTH 535 after AUTH PLAIN: bad credentials' });
    // Due now: the sender takes it on its next look anyway.
    await mail('due', { status: 'pending', attempts: 0, next_attempt_at: minutes(-1) });
    // A sender holds it.
    await mail('inFlight', { status: 'sending', attempts: 3, next_attempt_at: minutes(-5), claim_id: '00000000-0000-4000-8000-000000000001', locked_until: minutes(2) });
    await mail('dead', { status: 'dead', attempts: 8, text_body: null, html_body: null, next_attempt_at: minutes(-30), last_error: 'EENVELOPE 550 after RCPT TO: no such user' });
    await mail('sent', { status: 'sent', attempts: 1, text_body: null, html_body: null, sent_at: minutes(-10) });
  });
  after(() => database?.drop());

  const blocks = () => MAIL_RUNBOOKS.flatMap(sqlBlocks);
  const values = () => ({ address: ADDRESS, id: ids.retrying as string });

  /** Runs `sql` in a transaction that is rolled back, `inspect` seeing its effect first. */
  async function inTransaction<T>(sql: string, inspect: (trx: Knex.Transaction, results: { rows: Record<string, unknown>[]; fields?: { name: string }[] }[]) => Promise<T>): Promise<T> {
    const trx = await knex.transaction();
    try {
      const results = [];
      for (const statement of statements(sql)) results.push(await trx.raw(statement));
      return await inspect(trx, results);
    } finally {
      await trx.rollback();
    }
  }

  it('the runbooks have SQL, and every psql variable they use is set in the block or known here', () => {
    const all = blocks();
    assert.ok(all.length >= 6, `only ${all.length} sql blocks`);
    for (const block of all) {
      const used = [...block.sql.matchAll(/:'(\w+)'|(?<!:):([a-z_]\w*)\b/g)].map((m) => m[1] ?? m[2]);
      for (const name of used) assert.ok(name && (block.vars.has(name) || name === 'address'), `${block.file}: :${name} is never set`);
    }
  });

  it('every block runs against the migrated schema and shows neither a mail body nor an address', async () => {
    for (const block of blocks()) {
      await inTransaction(interpolate(block.sql, values()), async (_trx, results) => {
        for (const result of results) {
          const columns = [...(result.fields?.map((f) => f.name) ?? []), ...Object.keys(result.rows?.[0] ?? {})];
          for (const hidden of ['text_body', 'html_body', 'to_address', 'email', 'email_hash']) {
            assert.ok(!columns.includes(hidden), `${block.file}: a query shows ${hidden}:\n${block.sql}`);
          }
          for (const row of result.rows ?? []) {
            assert.doesNotMatch(JSON.stringify(row), /secret-link|alice@example\.com/, `${block.file}: a query printed a body or the address:\n${block.sql}`);
          }
        }
      });
    }
  });

  it("the user's outbox rows and audit events are found by the address", async () => {
    const [outbox] = blocks().filter((b) => /from mail_outbox\s+where to_address = lower\(trim\(:'address'\)\)/.test(b.sql));
    assert.ok(outbox);
    await inTransaction(interpolate(outbox.sql, values()), async (_trx, [result]) => {
      assert.equal(result?.rows.length, 6);
      assert.deepEqual(new Set(result?.rows.map((r) => r.status)), new Set(['pending', 'sending', 'dead', 'sent']));
    });
    const [audit] = blocks().filter((b) => /from audit_events/.test(b.sql));
    assert.ok(audit);
    await inTransaction(interpolate(audit.sql, { address: '  Alice@Example.com ' }), async (_trx, [result]) => {
      assert.deepEqual(result?.rows.map((r) => r.type), ['mail_rate_limited']);
    });
  });

  it('"send the waiting mail now" brings forward only pending mails that still have their bodies', async () => {
    const [now] = blocks().filter((b) => /set next_attempt_at = now\(\)\s/.test(b.sql) && !/attempts = 0/.test(b.sql));
    assert.ok(now);
    await inTransaction(now.sql, async (trx, [result]) => {
      assert.deepEqual(new Set(result?.rows.map((r) => String(r.id))), new Set([ids.backingOff, ids.retrying]));
      const rows = await trx('mail_outbox').select('id', 'status', 'next_attempt_at', 'claim_id');
      const byId = new Map(rows.map((r) => [String(r.id), r]));
      assert.equal(byId.get(ids.dead as string)?.status, 'dead', 'a dead letter stays dead');
      assert.equal(byId.get(ids.inFlight as string)?.status, 'sending', 'a mail a sender holds is left to it');
      assert.ok(byId.get(ids.inFlight as string)?.claim_id);
    });
  });

  it('the reset of the attempt count touches only pending mails with bodies near their last try', async () => {
    const [reset] = blocks().filter((b) => /set attempts = 0, next_attempt_at = now\(\)/.test(b.sql));
    assert.ok(reset);
    await inTransaction(reset.sql, async (_trx, [result]) => {
      assert.deepEqual(result?.rows.map((r) => String(r.id)), [ids.backingOff]);
    });
  });

  it('giving one mail up by hand wipes its bodies and cannot touch a mail in flight', async () => {
    const [giveUp] = blocks().filter((b) => /set status = 'dead'/.test(b.sql));
    assert.ok(giveUp);
    assert.match(giveUp.vars.get('id') ?? '', /^[A-Z_0-9]+$/, 'the id placeholder fails in psql if pasted unchanged');
    await inTransaction(interpolate(giveUp.sql, { id: ids.retrying as string }), async (trx, [result]) => {
      assert.equal(result?.rows.length, 1);
      const row = await trx('mail_outbox').where({ id: ids.retrying }).first();
      assert.equal(row.status, 'dead');
      assert.equal(row.text_body, null);
      assert.equal(row.html_body, null);
      assert.match(row.last_error, /^given up by hand: EAUTH 535/);
    });
    await inTransaction(interpolate(giveUp.sql, { id: ids.inFlight as string }), async (_trx, [result]) => {
      assert.equal(result?.rows.length, 0);
    });
  });

  it('no statement sets a mail back to pending: a dead letter has no body left to send', () => {
    for (const { file, sql } of blocks()) {
      for (const [, assignments] of sql.matchAll(/\bset\b((?:(?!\bwhere\b)[^;])*)/gi)) {
        assert.doesNotMatch(assignments ?? '', /\bstatus\s*=\s*'(pending|sending)'/i, `${file} requeues mails by status:\n${sql}`);
      }
    }
    assert.match(read('mail-delivery.md'), /Dead letters cannot be resent/);
    assert.match(read('RampartMailDeadLetters.md'), /cannot be resent/);
  });
});
