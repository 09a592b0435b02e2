/**
 * A mail server that is down, slow or refusing never loses a mail: the send is retried after its
 * backoff (our manual clock moves past it; nothing sleeps for our timers), delivered once the server
 * recovers, and dead-lettered — kept, counted — after MAIL_MAX_ATTEMPTS. The mail_* metrics follow.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSmtpTransport } from '../../../../service/src/components/mail/transport.js';
import {
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

/** How far ahead of the sender's clock a failed mail's next try was set (ms). */
function nextTryIn(rows: { next_attempt_at: Date }[], now: Date): number[] {
  return rows.map((r) => r.next_attempt_at.getTime() - now.getTime());
}

test('a server that is down loses no mail: retried after its backoff (not before), delivered once the server is back, with the metrics following', async (t) => {
  const { db } = await testDatabase(t);
  const smtp = await testSmtp(t);
  const { mail, metrics, clock } = startMail(t, { db, env: smtpEnv(smtp) });
  await smtp.down();
  await enqueueCommitted(db, mail, [
    verificationMail('alice@example.com'),
    { ...verificationMail('bob@example.com'), template: 'reset_password' },
  ]);

  await mail.sender.deliverDue();
  let rows = await outboxRows(db);
  assert.deepEqual(
    rows.map((r) => [r.status, r.attempts]),
    [
      ['pending', 1],
      ['pending', 1],
    ],
  );
  assert.ok(
    rows.every((r) => /ECONNREFUSED/.test(r.last_error ?? '')),
    rows.map((r) => r.last_error).join('; '),
  );
  for (const wait of nextTryIn(rows, clock.now()))
    assert.ok(wait >= 15_000 && wait <= 30_000, `first retry in 15–30 s, got ${wait} ms`);
  assert.equal(rows[0]?.text_body, verificationMail('alice@example.com').text, 'the body is kept until the mail is sent');
  assert.equal(await sentTotal(metrics, 'retry', 'verify_email'), 1);
  assert.equal(await sentTotal(metrics, 'retry', 'reset_password'), 1);
  const first = await outboxGauges(metrics);
  assert.equal(first.pending, 2);
  assert.equal(first.dead, 0);
  assert.ok(first.oldestAgeSeconds > 0, 'the oldest waiting mail has an age');

  await mail.sender.deliverDue(); // before the backoff ran out: nothing is tried
  assert.deepEqual(
    (await outboxRows(db)).map((r) => r.attempts),
    [1, 1],
  );

  await clock.tick(30_000);
  await mail.sender.deliverDue(); // still down
  rows = await outboxRows(db);
  assert.deepEqual(
    rows.map((r) => [r.status, r.attempts]),
    [
      ['pending', 2],
      ['pending', 2],
    ],
  );
  for (const wait of nextTryIn(rows, clock.now()))
    assert.ok(wait >= 30_000 && wait <= 60_000, `second retry in 30–60 s, got ${wait} ms`);
  const second = await outboxGauges(metrics);
  assert.equal(second.pending, 2);
  assert.ok(
    Math.abs(second.oldestAgeSeconds - first.oldestAgeSeconds - 30) < 1e-6,
    'the oldest age grew by the 30 s that passed',
  );
  assert.equal(await sentTotal(metrics, 'retry'), 4);

  await smtp.up();
  await clock.tick(60_000);
  await mail.sender.deliverDue();
  await smtp.waitForMail({ to: 'alice@example.com', timeoutMs: 5000 });
  await smtp.waitForMail({ to: 'bob@example.com', timeoutMs: 5000 });
  assert.equal(smtp.messages.length, 2, 'each mail delivered once');
  rows = await outboxRows(db);
  assert.deepEqual(
    rows.map((r) => [r.status, r.attempts, r.text_body, r.last_error]),
    [
      ['sent', 3, null, null],
      ['sent', 3, null, null],
    ],
  );
  assert.equal(await sentTotal(metrics, 'sent', 'verify_email'), 1);
  assert.equal(await sentTotal(metrics, 'sent', 'reset_password'), 1);
  assert.equal(await sentTotal(metrics, 'retry'), 4);
  assert.deepEqual(await outboxGauges(metrics), { pending: 0, dead: 0, oldestAgeSeconds: 0 });
});

for (const [code, at] of [
  [451, 'RCPT'],
  [550, 'RCPT'],
  [452, 'DATA'],
  [554, 'DATA'],
] as const) {
  test(`a server answering ${code} to ${at} loses no mail: retried after the backoff and delivered once it accepts`, async (t) => {
    const { db } = await testDatabase(t);
    const smtp = await testSmtp(t);
    const { mail, metrics, clock } = startMail(t, { db, env: smtpEnv(smtp) });
    smtp.refuse(code, at);
    await enqueueCommitted(db, mail, [verificationMail('alice@example.com')]);

    await mail.sender.deliverDue();
    assert.equal(smtp.messages.length, 0);
    const [failed] = await outboxRows(db);
    assert.equal(failed?.status, 'pending');
    assert.equal(failed?.attempts, 1);
    assert.match(failed?.last_error ?? '', new RegExp(`^E\\w+ ${code} after ${at === 'RCPT' ? 'RCPT TO' : 'DATA'}`));
    assert.equal(await sentTotal(metrics, 'retry', 'verify_email'), 1);

    smtp.refuse(null);
    await clock.tick(30_000);
    await mail.sender.deliverDue();
    await smtp.waitForMail({ to: 'alice@example.com', timeoutMs: 5000 });
    assert.equal(smtp.messages.length, 1);
    const [sent] = await outboxRows(db);
    assert.equal(sent?.status, 'sent');
    assert.equal(sent?.attempts, 2);
    assert.equal(await sentTotal(metrics, 'sent', 'verify_email'), 1);
  });
}

test('a slow server: a send that outlasts the SMTP timeouts is abandoned (the server never accepted it) and retried, and a slow accept within them delivers it once', async (t) => {
  const { db } = await testDatabase(t);
  const smtp = await testSmtp(t);
  // The real SMTP transport with a short timeout, so "slower than it" takes a second, not 20.
  const transport = createSmtpTransport({ url: smtp.mailUrl, caFile: smtp.caFile, timeoutMs: 1000 });
  const { mail, clock } = startMail(t, { db, env: smtpEnv(smtp), transport });
  await enqueueCommitted(db, mail, [verificationMail('alice@example.com')]);

  smtp.delay(5000); // longer than the client waits for the reply to DATA
  await mail.sender.deliverDue();
  await smtp.until('the server to see the client give up on the held message', () => smtp.dropped === 1, 10_000);
  assert.equal(smtp.messages.length, 0);
  const [failed] = await outboxRows(db);
  assert.equal(failed?.status, 'pending');
  assert.match(failed?.last_error ?? '', /^ETIMEDOUT/);

  smtp.delay(200); // slow, within the timeouts
  await clock.tick(30_000);
  await mail.sender.deliverDue();
  await smtp.waitForMail({ to: 'alice@example.com', timeoutMs: 5000 });
  assert.equal(smtp.messages.length, 1);
  assert.equal((await outboxRows(db))[0]?.status, 'sent');
});

test('a mail refused MAIL_MAX_ATTEMPTS times is dead-lettered: kept with its bodies wiped, counted by mail_outbox_dead and mail_sent_total{outcome="dead"}, and never tried again', async (t) => {
  const { db } = await testDatabase(t);
  const smtp = await testSmtp(t);
  const clock = mailClock();
  const { mail, metrics, logs } = startMail(t, { db, env: { ...smtpEnv(smtp), MAIL_MAX_ATTEMPTS: '3' }, clock });
  smtp.refuse(550);
  await enqueueCommitted(db, mail, [verificationMail('alice@example.com', 'secret-token')]);

  await mail.sender.deliverDue(); // try 1
  await clock.tick(30_000);
  await mail.sender.deliverDue(); // try 2
  assert.equal((await outboxRows(db))[0]?.status, 'pending');
  await clock.tick(60_000);
  await mail.sender.deliverDue(); // try 3: the last

  const [dead] = await outboxRows(db);
  assert.equal(dead?.status, 'dead');
  assert.equal(dead?.attempts, 3);
  assert.equal(dead?.text_body, null, 'the one-time link is wiped from a dead letter');
  assert.equal(dead?.html_body, null);
  assert.equal(dead?.claim_id, null);
  assert.match(dead?.last_error ?? '', /550/);
  assert.equal(dead?.to_address, 'alice@example.com', 'the row is kept: who was not reached, and why');
  assert.equal(await sentTotal(metrics, 'retry', 'verify_email'), 2);
  assert.equal(await sentTotal(metrics, 'dead', 'verify_email'), 1);
  assert.equal(await sentTotal(metrics, 'sent'), 0);
  assert.deepEqual(await outboxGauges(metrics), { pending: 0, dead: 1, oldestAgeSeconds: 0 });
  const line = logs().find((l) => l.msg === 'mail dead-lettered after its last attempt');
  assert.equal(String(line?.mail_id), dead?.id);
  assert.equal(line?.attempt, 3);
  assert.ok(!JSON.stringify(logs()).includes('secret-token'), 'the link never reaches the log');

  smtp.refuse(null);
  await clock.tick(2 * 3_600_000);
  await mail.sender.deliverDue();
  assert.equal(smtp.messages.length, 0, 'a dead letter is not tried again');
  assert.equal((await outboxRows(db))[0]?.attempts, 3);
  assert.equal(await sentTotal(metrics, 'dead'), 1);
});
