/**
 * The outbox delivered to a real SMTP server (test/helpers/smtp-server.ts): what a flow commits goes
 * out, over STARTTLS with AUTH, to a server whose certificate is verified; what it rolls back never does.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import tls from 'node:tls';
import { tokenFromMail } from '../../../helpers/smtp-server.js';
import {
  APP_URL,
  cleanup,
  enqueueCommitted,
  mailClock,
  outboxGauges,
  outboxRows,
  sentTotal,
  smtpEnv,
  startMail,
  testDatabase,
  testSmtp,
  verificationMail,
} from './mail-fixture.js';

test('a mail written in a committed transaction goes out over STARTTLS with AUTH, text and HTML, and its row ends sent with the bodies wiped; one rolled back never goes out', async (t) => {
  const { db } = await testDatabase(t);
  const smtp = await testSmtp(t);
  const { mail, metrics } = startMail(t, { db, env: smtpEnv(smtp) });

  await enqueueCommitted(db, mail, [verificationMail('alice@example.com', 'alice-token')]);
  await assert.rejects(
    db.knex.transaction(async (trx) => {
      await mail.outbox.enqueue(trx, verificationMail('mallory@example.com', 'mallory-token'));
      throw new Error('the flow failed after writing its mail');
    }),
    /the flow failed/,
  );
  await mail.sender.deliverDue();

  const got = await smtp.waitForMail({ to: 'alice@example.com', timeoutMs: 5000 });
  assert.equal(got.tls, true, 'the session was upgraded with STARTTLS before the mail');
  assert.deepEqual(got.auth && { user: got.auth.user, method: ['PLAIN', 'LOGIN'].includes(got.auth.method) }, {
    user: smtp.user,
    method: true,
  });
  assert.ok(
    smtp.authAttempts.length > 0 && smtp.authAttempts.every((a) => a.tls && a.ok),
    'the password only ever crossed under TLS',
  );
  assert.equal(got.subject, 'Confirm your email address');
  assert.equal(got.from, 'no-reply@rampart.test');
  assert.deepEqual(got.envelope, { mailFrom: 'no-reply@rampart.test', rcptTo: ['alice@example.com'] });
  assert.equal(tokenFromMail(got, `${APP_URL}/verify-email`), 'alice-token');
  assert.match(got.html, /<a href="https:\/\/app\.rampart\.test\/verify-email\?token=alice-token">/);
  assert.equal(
    (got.headers.get('content-type') as { value: string } | undefined)?.value,
    'multipart/alternative',
    'a text part and an HTML part',
  );

  const rows = await outboxRows(db);
  assert.equal(rows.length, 1, 'the rolled-back transaction left no row');
  const [row] = rows;
  assert.equal(got.messageId, row?.message_id, 'the Message-ID is the one stored with the row');
  assert.match(row?.message_id ?? '', /^<[0-9a-f-]{36}@rampart\.test>$/);
  assert.equal(row?.status, 'sent');
  assert.equal(row?.attempts, 1);
  assert.equal(row?.text_body, null, 'the text body (a one-time link) is wiped once sent');
  assert.equal(row?.html_body, null, 'the HTML body is wiped once sent');
  assert.equal(row?.claim_id, null);
  assert.ok(row?.sent_at instanceof Date);

  assert.deepEqual(
    smtp.messages.map((m) => m.to),
    ['alice@example.com'],
    'the rolled-back mail was never sent',
  );
  assert.equal(await sentTotal(metrics, 'sent', 'verify_email'), 1);
  assert.deepEqual(await outboxGauges(metrics), { pending: 0, dead: 0, oldestAgeSeconds: 0 });
});

test('STARTTLS is required: a server that does not offer it gets neither the mail nor the password, and the mail waits for a retry; with ?tls=off it goes out in clear', async (t) => {
  const { db } = await testDatabase(t);
  const smtp = await testSmtp(t, { starttls: false });
  const clock = mailClock();
  const strict = startMail(t, { db, env: smtpEnv(smtp), clock });

  await enqueueCommitted(db, strict.mail, [verificationMail('alice@example.com')]);
  await strict.mail.sender.deliverDue();

  assert.equal(smtp.messages.length, 0, 'nothing was sent without TLS');
  assert.equal(smtp.authAttempts.length, 0, 'the password was not sent in clear');
  const [failed] = await outboxRows(db);
  assert.equal(failed?.status, 'pending', 'the mail is kept for a retry');
  assert.equal(failed?.attempts, 1);
  assert.match(failed?.last_error ?? '', /^ETLS .*STARTTLS/);
  assert.doesNotMatch(failed?.last_error ?? '', new RegExp(smtp.password), 'the error does not carry the password');
  assert.equal(await sentTotal(strict.metrics, 'retry'), 1);

  // The operator's explicit choice for a local relay: plaintext, still authenticated.
  const plaintext = startMail(t, { db, env: smtpEnv(smtp, { tlsOff: true }), clock });
  await clock.tick(30_000);
  await plaintext.mail.sender.deliverDue();
  const got = await smtp.waitForMail({ to: 'alice@example.com', timeoutMs: 5000 });
  assert.equal(got.tls, false);
  assert.equal(got.auth?.user, smtp.user);
  const [sent] = await outboxRows(db);
  assert.equal(sent?.status, 'sent');
  assert.equal(sent?.attempts, 2);
});

test('the server certificate is verified: a certificate of a private CA is refused without MAIL_CA_FILE or with another CA in it, and nothing is sent; with its CA the mail goes out', async (t) => {
  const { db } = await testDatabase(t);
  const smtp = await testSmtp(t);
  const stranger = await testSmtp(t); // only its CA file is used
  const clock = mailClock();
  const untrusting = startMail(t, { db, env: { MAIL_URL: smtp.mailUrl }, clock });

  await enqueueCommitted(db, untrusting.mail, [verificationMail('alice@example.com')]);
  await untrusting.mail.sender.deliverDue();
  assert.equal(smtp.messages.length, 0);
  assert.equal(smtp.authAttempts.length, 0, 'no password for a server that could not prove who it is');
  const [failed] = await outboxRows(db);
  assert.equal(failed?.status, 'pending');
  assert.match(failed?.last_error ?? '', /certificate/);

  const wrongCa = startMail(t, { db, env: { MAIL_URL: smtp.mailUrl, MAIL_CA_FILE: stranger.caFile }, clock });
  await clock.tick(30_000);
  await wrongCa.mail.sender.deliverDue();
  assert.equal(smtp.authAttempts.length, 0);
  const [stillFailed] = await outboxRows(db);
  assert.deepEqual([stillFailed?.status, stillFailed?.attempts], ['pending', 2]);
  assert.match(stillFailed?.last_error ?? '', /certificate/);

  const trusting = startMail(t, { db, env: smtpEnv(smtp), clock });
  await clock.tick(60_000);
  await trusting.mail.sender.deliverDue();
  assert.equal((await smtp.waitForMail({ to: 'alice@example.com', timeoutMs: 5000 })).tls, true);
});

test('MAIL_CA_FILE adds to the trusted CAs rather than replacing them: a relay the default trust store vouches for still gets the mail', async (t) => {
  const { db } = await testDatabase(t);
  const privateRelay = await testSmtp(t); // the CA of MAIL_CA_FILE
  const relay = await testSmtp(t); // a relay whose certificate the process's default store trusts
  const defaults = tls.getCACertificates('default');
  tls.setDefaultCACertificates([...defaults, readFileSync(relay.caFile, 'utf8')]);
  cleanup(t, () => tls.setDefaultCACertificates(defaults));
  const { mail } = startMail(t, { db, env: { MAIL_URL: relay.mailUrl, MAIL_CA_FILE: privateRelay.caFile } });

  await enqueueCommitted(db, mail, [verificationMail('alice@example.com')]);
  await mail.sender.deliverDue();

  const [row] = await outboxRows(db);
  assert.equal(row?.status, 'sent', `sent, not refused (${row?.last_error})`);
  assert.equal((await relay.waitForMail({ to: 'alice@example.com', timeoutMs: 5000 })).tls, true);

  // The control: without MAIL_CA_FILE the same relay is trusted through the default store alone.
  const plain = startMail(t, { db, env: { MAIL_URL: relay.mailUrl } });
  await enqueueCommitted(db, plain.mail, [verificationMail('bob@example.com')]);
  await plain.mail.sender.deliverDue();
  assert.equal((await relay.waitForMail({ to: 'bob@example.com', timeoutMs: 5000 })).tls, true);
  assert.equal(privateRelay.messages.length, 0);
});
