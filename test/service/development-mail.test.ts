/**
 * The development default works from a fresh clone: `npm start` (bin/rampart.js) with nothing
 * configured — no DATABASE_URL (embedded PGlite), no MAIL_URL, no JWT secret — sends no mail anywhere
 * but writes each one to the log and as an .eml file under DATA_DIR/mail/, so a developer can follow
 * the verification link of a signup (EMAIL_VERIFICATION is off outside production: signup answers 201
 * and still mails the optional link) to `${APP_URL}/verify-email?token=…` (APP_URL defaults to the
 * client's dev server, http://localhost:5173) and confirm it with POST /v1/auth/verify-email.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import { spawnService } from '../helpers/service-process.js';
import { tokenFromMail } from '../helpers/smtp-server.js';

const LINK = 'http://localhost:5173/verify-email';
const WRITTEN = 'mail written (development: MAIL_URL is not set)';

interface LogLine {
  level?: number;
  msg?: string;
  mail?: { to: string; subject: string; file: string; text: string };
  [key: string]: unknown;
}

const logLines = (output: string): LogLine[] =>
  output.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return [];
    try {
      return [JSON.parse(line) as LogLine];
    } catch {
      return [];
    }
  });

describe('npm start in development, from a fresh clone', () => {
  it('logs the verification mail of a signup and writes it under DATA_DIR/mail/; its link verifies the address', async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rampart-dev-mail-'));
    t.after(() => rmSync(dataDir, { recursive: true, force: true }));
    // Only what a developer's shell has: no DATABASE_URL, MAIL_URL, APP_URL, JWT or NODE_ENV setting
    // leaks in from the test run. DATA_DIR points the embedded database and the mail at a temp dir.
    const service = await spawnService({
      entry: 'bin/rampart.js',
      inherit: { PATH: process.env.PATH, HOME: process.env.HOME ?? dataDir, TMPDIR: process.env.TMPDIR ?? tmpdir() },
      env: { DATA_DIR: dataDir },
      startTimeoutMs: 120_000,
    });
    t.after(() => service.stop());
    const base = service.baseUrl;

    const startup = logLines(service.output());
    assert.equal(startup.find((l) => l.msg === 'rampart starting')?.env, 'development');
    assert.equal(startup.find((l) => l.msg === 'rampart starting')?.database, 'pglite');
    assert.ok(
      startup.some((l) => l.msg === `WARNING: MAIL_URL is not set: mails are written to the log and to ${dataDir}/mail/ instead of being sent (development only; production refuses to start without MAIL_URL).`),
      'the startup warning says where mail goes',
    );
    assert.equal(startup.find((l) => l.msg === 'mail sender started')?.transport, 'development');

    const email = 'dev@example.com';
    const signup = await fetch(`${base}/v1/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: 'quiet harbour lanterns drift 42' }),
    });
    assert.equal(signup.status, 201, await signup.clone().text());
    assert.equal(typeof ((await signup.json()) as { access_token?: unknown }).access_token, 'string', 'verification is off: signed in at once');

    // The mail goes out after the commit (the sender is woken at once); bounded wait for its log line.
    let written: LogLine | undefined;
    for (let i = 0; i < 200 && !written; i++) {
      written = logLines(service.output()).find((l) => l.msg === WRITTEN);
      if (!written) await sleep(50);
    }
    assert.ok(written?.mail, `no "${WRITTEN}" line:\n${service.output()}`);
    assert.equal(written.mail.to, email);
    assert.equal(written.mail.subject, 'Confirm your email address');
    const token = tokenFromMail({ text: written.mail.text }, LINK);
    assert.match(written.mail.text, new RegExp(`${LINK.replace(/[.?]/g, '\\$&')}\\?token=${token}`));

    // The same mail as an .eml file a mail client opens, where the log line says.
    const mailDir = join(dataDir, 'mail');
    const files = readdirSync(mailDir);
    assert.equal(files.length, 1, files.join(', '));
    assert.match(files[0] as string, /-verify_email-[0-9a-f]{6}\.eml$/);
    assert.equal(written.mail.file, join(mailDir, files[0] as string));
    const eml = await simpleParser(readFileSync(written.mail.file));
    assert.equal(eml.subject, 'Confirm your email address');
    assert.equal(tokenFromMail({ text: eml.text ?? '' }, LINK), token, 'the file carries the same link');
    assert.match(eml.html || '', new RegExp(`href="${LINK.replace(/[.?]/g, '\\$&')}\\?token=${token}"`));

    // Following the link: the client POSTs its token; the address is proved and a session opens.
    const verify = await fetch(`${base}/v1/auth/verify-email`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    });
    assert.equal(verify.status, 200, await verify.clone().text());
    const verified = (await verify.json()) as { user?: { email?: string }; access_token?: unknown; refresh_token?: unknown };
    assert.equal(verified.user?.email, email);
    assert.equal(typeof verified.access_token, 'string');
    assert.equal(typeof verified.refresh_token, 'string');

    const replay = await fetch(`${base}/v1/auth/verify-email`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    });
    assert.equal(replay.status, 400, 'a link works once');
    assert.equal(((await replay.json()) as { code?: string }).code, 'invalid_or_expired_token');

    assert.equal(await service.stop(), 0, service.output());
  });
});
