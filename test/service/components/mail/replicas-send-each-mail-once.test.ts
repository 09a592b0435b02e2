/**
 * Any number of replicas run a sender on the one outbox: each mail is claimed by one of them
 * (FOR UPDATE SKIP LOCKED, under a lease) and delivered once — counted by Message-ID at a real SMTP server.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDatabase } from '../../../../service/src/platform/db.js';
import { skipUnlessRealPostgres } from '../../../helpers/services.js';
import {
  cleanup,
  DEFAULT_LEASE_MS,
  duplicates,
  enqueueCommitted,
  mailClock,
  outboxRows,
  sentTotal,
  smtpEnv,
  startMail,
  testDatabase,
  testSmtp,
  verificationMail,
} from './mail-fixture.js';

test('two senders on one outbox (two replicas, each with its own pool) deliver 200 mails concurrently, every one exactly once', {
  skip: await skipUnlessRealPostgres(),
}, async (t) => {
  const database = await testDatabase(t);
  const otherPool = createDatabase({
    url: database.url,
    poolMax: 10,
    acquireTimeoutMs: 5000,
    statementTimeoutMs: 30_000,
    applicationName: 'rampart-test-replica-b',
  });
  cleanup(t, () => otherPool.close());
  const smtp = await testSmtp(t);
  const a = startMail(t, { db: database.db, env: smtpEnv(smtp) });
  const b = startMail(t, { db: otherPool, env: smtpEnv(smtp) });

  const total = 200;
  for (let batch = 0; batch < total / 50; batch++) {
    await enqueueCommitted(
      database.db,
      a.mail,
      Array.from({ length: 50 }, (_, i) => verificationMail(`user${batch * 50 + i}@example.com`)),
    );
  }
  const started = performance.now();
  await Promise.all([a.mail.sender.deliverDue(), b.mail.sender.deliverDue()]);
  const elapsed = performance.now() - started;

  await smtp.until(`${total} mails at the server`, () => smtp.messages.length >= total, 10_000);
  const delivered = smtp.messages.map((m) => m.messageId);
  const rows = await outboxRows(database.db);
  assert.deepEqual(duplicates(delivered), [], 'no mail delivered twice');
  assert.equal(delivered.length, total);
  assert.deepEqual(
    new Set(delivered),
    new Set(rows.map((r) => r.message_id)),
    'the delivered Message-IDs are exactly the enqueued ones',
  );
  assert.ok(
    rows.every((r) => r.status === 'sent' && r.attempts === 1),
    'every row sent at its first claim',
  );
  const byA = await sentTotal(a.metrics, 'sent');
  const byB = await sentTotal(b.metrics, 'sent');
  assert.equal(byA + byB, total);
  assert.ok(byA > 0 && byB > 0, `both replicas took part (a: ${byA}, b: ${byB})`);
  t.diagnostic(`200 mails over STARTTLS+AUTH by two senders in ${Math.round(elapsed)} ms (a: ${byA}, b: ${byB})`);
});

test('a batch that outlives the lease it was claimed with: the mail another sender took over is sent by that sender alone, not again by the first', async (t) => {
  const { db } = await testDatabase(t);
  const smtp = await testSmtp(t);
  const clock = mailClock(); // both replicas see the same time, which the test moves
  const a = startMail(t, { db, env: smtpEnv(smtp), clock });
  const b = startMail(t, { db, env: smtpEnv(smtp), clock });
  await enqueueCommitted(
    db,
    a.mail,
    ['first', 'second', 'third'].map((n) => verificationMail(`${n}@example.com`)),
  );

  // The server holds every DATA until the test lets it answer; each send below takes 70 s of the
  // sender's clock — well within the 120 s lease — but two of them outlast the lease of the batch.
  const SLOW_SEND_MS = 70_000;
  assert.ok(SLOW_SEND_MS < DEFAULT_LEASE_MS && 2 * SLOW_SEND_MS > DEFAULT_LEASE_MS);
  const HOLD = 600_000;
  smtp.delay(HOLD);
  const passA = a.mail.sender.deliverDue(); // A claims all three, starts on the first
  await smtp.until('A sending the first mail', () => smtp.holding === 1);
  await clock.tick(SLOW_SEND_MS);
  smtp.delay(0);
  await smtp.until('the first mail accepted', () => smtp.messages.length === 1);
  smtp.delay(HOLD);
  await smtp.until('A sending the second mail', () => smtp.holding === 1);
  await clock.tick(SLOW_SEND_MS); // 140 s since A claimed the batch: past its lease

  const passB = b.mail.sender.deliverDue(); // B claims what it finds past its lease
  await smtp.until('B sending', () => smtp.holding === 2);
  smtp.delay(0);
  await Promise.all([passA, passB]);

  const delivered = smtp.messages.map((m) => m.to);
  assert.deepEqual(duplicates(delivered), [], `no mail delivered twice (${delivered.join(', ')})`);
  assert.deepEqual([...delivered].sort(), ['first@example.com', 'second@example.com', 'third@example.com']);
  assert.ok(
    (await outboxRows(db)).every((r) => r.status === 'sent'),
    'every row sent',
  );
  assert.equal(await sentTotal(a.metrics, 'sent'), 2, 'A sent the two it was sending');
  assert.equal(await sentTotal(b.metrics, 'sent'), 1, 'B sent the one A had not begun');
  assert.ok(
    a.logs().some((l) => l.msg === 'mail taken over by another sender after this claim expired; left to it'),
    'A says it left the third mail to the sender that took it over',
  );
});
