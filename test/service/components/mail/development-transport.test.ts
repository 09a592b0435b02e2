/**
 * Development without MAIL_URL: mails are not sent anywhere; each is written as an .eml file under
 * DATA_DIR/mail/ (a mail client opens it) and logged with its recipient, subject and text, so the
 * link in it can be followed from the terminal.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { simpleParser } from 'mailparser';
import { tokenFromMail } from '../../../helpers/smtp-server.js';
import {
  APP_URL,
  cleanup,
  enqueueCommitted,
  outboxRows,
  sentTotal,
  startMail,
  testDatabase,
  verificationMail,
} from './mail-fixture.js';

test('without MAIL_URL a mail is written as an .eml file under DATA_DIR/mail/ and logged with its recipient, subject and link', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rampart-mail-dev-'));
  cleanup(t, () => rmSync(dataDir, { recursive: true, force: true }));
  const { db } = await testDatabase(t);
  const { mail, metrics, logs } = startMail(t, { db, env: { DATA_DIR: dataDir } });
  assert.equal(mail.transportKind, 'development');

  await enqueueCommitted(db, mail, [verificationMail('alice@example.com', 'alice-dev-token')]);
  await mail.sender.deliverDue();

  const dir = join(dataDir, 'mail');
  const files = readdirSync(dir);
  assert.equal(files.length, 1);
  const [file] = files as [string];
  assert.match(file, /-verify_email-[0-9a-f]{6}\.eml$/);
  assert.equal(statSync(dir).mode & 0o777, 0o700, 'the directory is private');
  assert.equal(statSync(join(dir, file)).mode & 0o777, 0o600, 'the file is private: it holds a one-time link');

  const [row] = await outboxRows(db);
  const eml = await simpleParser(readFileSync(join(dir, file)));
  assert.equal(eml.subject, 'Confirm your email address');
  assert.equal(eml.messageId, row?.message_id);
  assert.match(eml.html || '', /href="https:\/\/app\.rampart\.test\/verify-email\?token=alice-dev-token"/);
  assert.equal(tokenFromMail({ text: eml.text ?? '' }, `${APP_URL}/verify-email`), 'alice-dev-token');

  const line = logs().find((l) => l.msg === 'mail written (development: MAIL_URL is not set)');
  const logged = line?.mail as { to: string; subject: string; file: string; text: string } | undefined;
  assert.equal(logged?.to, 'alice@example.com');
  assert.equal(logged?.subject, 'Confirm your email address');
  assert.equal(logged?.file, join(dir, file));
  assert.equal(
    tokenFromMail({ text: logged?.text ?? '' }, `${APP_URL}/verify-email`),
    'alice-dev-token',
    'the link can be followed from the log',
  );

  assert.equal(row?.status, 'sent');
  assert.equal(row?.text_body, null);
  assert.equal(await sentTotal(metrics, 'sent', 'verify_email'), 1);
});
