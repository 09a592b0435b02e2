/**
 * Crash safety: a sender process killed (SIGKILL) in the middle of a batch loses no mail and sends none
 * twice. The sender runs in a child process (sender-process.ts) against a slow SMTP server; once some
 * of its mails were accepted it is killed, and a fresh sender drains the outbox after the dead one's
 * lease ran out.
 *
 * Where the kill lands is chosen, not raced. Between the server's acceptance of a mail and the row's
 * update there is a window no sender can detect (sender.ts says so: a kill there means one more copy,
 * with the same Message-ID). So the test kills the child while the server is *holding* its reply to
 * DATA: that mail has not been accepted (the server delivers only with its 250, to a client still
 * connected), and every mail before it has been — and marked sent, because a sender starts its next
 * mail only after recording the last one. The exact assertion then holds: the Message-IDs delivered
 * are the Message-IDs enqueued, each once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { skipUnlessRealPostgres } from '../../../helpers/services.js';
import {
  cleanup,
  DEFAULT_LEASE_MS,
  duplicates,
  enqueueCommitted,
  outboxRows,
  smtpEnv,
  startMail,
  testDatabase,
  testSmtp,
  verificationMail,
} from './mail-fixture.js';

const SENDER_PROCESS = fileURLToPath(new URL('./sender-process.ts', import.meta.url));

test('a sender killed (SIGKILL) in the middle of a batch loses no mail and sends none twice', {
  skip: await skipUnlessRealPostgres(),
  timeout: 90_000,
}, async (t) => {
  const database = await testDatabase(t);
  const smtp = await testSmtp(t);
  const fresh = startMail(t, { db: database.db, env: smtpEnv(smtp) });
  const total = 25; // the child claims 10 at a time: the kill lands inside its first batch
  await enqueueCommitted(
    database.db,
    fresh.mail,
    Array.from({ length: total }, (_, i) => verificationMail(`user${i}@example.com`)),
  );

  smtp.delay(150); // a slow relay
  const child = spawn(process.execPath, ['--import', 'tsx', SENDER_PROCESS], {
    env: { ...process.env, MAIL_TEST_DATABASE_URL: database.url, ...smtpEnv(smtp) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ?? code)),
  );
  cleanup(t, () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return exited;
  });

  let killed = false;
  const earlyExit = exited.then((how) => {
    if (!killed) throw new Error(`the sender process ended (${how}) before the test killed it:\n${output}`);
  });
  earlyExit.catch(() => undefined);
  const whileChildRuns = (waiting: Promise<void>) => Promise.race([waiting, earlyExit]);

  await whileChildRuns(smtp.until('the child sender to have 4 mails accepted', () => smtp.messages.length >= 4, 60_000));
  smtp.delay(600_000); // from now on the server holds DATA: the child's current or next mail stays in it
  await whileChildRuns(smtp.until("the child's mail held in DATA", () => smtp.holding === 1, 10_000));
  const accepted = smtp.messages.map((m) => m.messageId);
  killed = true;
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  await smtp.until('the server to see the killed sender hang up', () => smtp.dropped === 1 && smtp.holding === 0, 10_000);
  smtp.delay(0);

  let rows = await outboxRows(database.db);
  assert.deepEqual(
    rows.filter((r) => r.status === 'sent').map((r) => r.message_id),
    accepted,
    'every mail the server accepted was marked sent before the child began the next',
  );
  const orphaned = rows.filter((r) => r.status === 'sending');
  assert.ok(orphaned.length >= 1, 'the killed sender left claimed mails behind (at least the one in DATA)');

  // Within the dead sender's lease its claimed mails are left alone; the unclaimed rest goes out.
  await fresh.mail.sender.deliverDue();
  rows = await outboxRows(database.db);
  assert.deepEqual(
    rows.filter((r) => r.status === 'sending').map((r) => r.id),
    orphaned.map((r) => r.id),
    'a live lease is respected',
  );

  await fresh.clock.tick(DEFAULT_LEASE_MS);
  await fresh.mail.sender.deliverDue();

  await smtp.until(`${total} mails delivered`, () => smtp.messages.length >= total, 10_000);
  const delivered = smtp.messages.map((m) => m.messageId);
  rows = await outboxRows(database.db);
  assert.deepEqual(duplicates(delivered), [], 'no mail sent twice');
  assert.deepEqual(
    [...delivered].sort(),
    rows.map((r) => r.message_id).sort(),
    'the delivered Message-IDs are exactly the enqueued ones',
  );
  assert.ok(
    rows.every((r) => r.status === 'sent'),
    'every row ends sent',
  );
  assert.ok(
    orphaned.every((r) => rows.find((x) => x.id === r.id)?.attempts === 2),
    'the orphaned mails were claimed a second time, and sent then',
  );
  t.diagnostic(`killed after ${accepted.length} accepted; ${orphaned.length} orphaned mails sent after the lease`);
});
