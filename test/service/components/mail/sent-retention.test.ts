import assert from 'node:assert/strict';
import { test } from 'node:test';
import { enqueueCommitted, outboxRows, smtpEnv, startMail, testDatabase, testSmtp, verificationMail } from './mail-fixture.js';

test('sent mails leave the outbox once MAIL_SENT_RETENTION_DAYS is over; waiting and dead ones stay', async (t) => {
  const { db } = await testDatabase(t);
  const smtp = await testSmtp(t);
  const { mail, clock } = startMail(t, { db, env: { ...smtpEnv(smtp), MAIL_SENT_RETENTION_DAYS: '2', MAIL_MAX_ATTEMPTS: '2' } });
  await enqueueCommitted(db, mail, [verificationMail('kept@example.com'), verificationMail('old@example.com')]);
  await mail.sender.deliverDue();
  assert.deepEqual((await outboxRows(db)).map((r) => r.status), ['sent', 'sent']);

  // A dead letter and a waiting mail, which retention never touches.
  smtp.refuse(550);
  await enqueueCommitted(db, mail, [verificationMail('refused@example.com')]);
  await mail.sender.deliverDue(); // the first refusal: tried again 15–30 s later
  await clock.tick(61_000);
  await mail.sender.deliverDue(); // the second: dead-lettered
  await smtp.down();
  await enqueueCommitted(db, mail, [verificationMail('waiting@example.com')]);

  await clock.tick(2 * 86_400_000 + 60_000);
  await mail.sender.deliverDue();
  const left = await outboxRows(db);
  assert.deepEqual(left.map((r) => [r.to_address, r.status]).sort(), [
    ['refused@example.com', 'dead'],
    ['waiting@example.com', 'pending'],
  ]);
});
