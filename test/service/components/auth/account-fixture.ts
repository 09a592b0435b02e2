/**
 * The accounts tests' world: the real app (in process) against a throwaway database, a real SMTP
 * server over TCP with STARTTLS and AUTH (test/helpers/smtp-server.ts) that the app's mail component
 * sends to — MAIL_URL, MAIL_CA_FILE as in production — and a clock the test moves. Mail is delivered
 * deterministically: `mailTo()` waits for the requests' after-answer work, runs the outbox sender, and
 * reads the message the SMTP server received.
 */
import type { TestContext } from 'node:test';
import { fakeClock, type FakeClock, type InProcessTestApp, startTestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';
import { createTestDatabase, type TestDatabase } from '../../../helpers/database.js';
import { type ReceivedMail, startSmtpServer, type TestSmtpServer, tokenFromMail } from '../../../helpers/smtp-server.js';
import { TEST_PASSWORD, uniqueEmail } from '../../../helpers/users.js';

export const APP_URL = 'https://app.rampart.test';

export interface AccountWorld {
  readonly app: InProcessTestApp;
  readonly smtp: TestSmtpServer;
  readonly clock: FakeClock;
  readonly database: TestDatabase;
  /** Waits for the after-answer work, sends what the outbox holds, and returns the mail to `to` (with `subject`). */
  mailTo(to: string, subject?: string): Promise<ReceivedMail>;
  /** Everything the SMTP server received for `to` so far (after delivering what is due). */
  mailsTo(to: string): Promise<ReceivedMail[]>;
  /** The one-time token of the link to `${APP_URL}/<page>` in `mail`. */
  token(mail: ReceivedMail, page: 'verify-email' | 'reset-password' | 'confirm-email'): string;
}

export async function accountWorld(
  t: { after: TestContext['after'] } | { after(fn: () => unknown): void },
  env: Record<string, string> = {},
  shared?: { database?: TestDatabase; smtp?: TestSmtpServer; clock?: FakeClock },
): Promise<AccountWorld> {
  const smtp = shared?.smtp ?? (await startSmtpServer());
  const database = shared?.database ?? (await createTestDatabase());
  const clock = shared?.clock ?? fakeClock();
  const app = await startTestApp({
    database,
    clock,
    env: { EMAIL_VERIFICATION: 'required', APP_URL, MAIL_URL: smtp.mailUrl, MAIL_CA_FILE: smtp.caFile, ...env },
  });
  t.after(async () => {
    await app.close();
    if (!shared?.database) await database.drop();
    if (!shared?.smtp) await smtp.close();
  });
  const deliver = async () => {
    await app.deps.auth.settled();
    await app.deps.mail.sender.deliverDue();
  };
  return {
    app,
    smtp,
    clock,
    database,
    async mailTo(to, subject) {
      await deliver();
      return smtp.waitForMail({ to, subject, timeoutMs: 10_000 });
    },
    async mailsTo(to) {
      await deliver();
      return smtp.messages.filter((m) => m.to === to);
    },
    token: (mail, page) => tokenFromMail(mail, `${APP_URL}/${page}`),
  };
}

/** Signs up with verification required (202), follows the mailed link, and returns the signed-in account. */
export async function verifiedAccount(world: AccountWorld, email = uniqueEmail('acct'), password = TEST_PASSWORD) {
  const signup = await api(world.app, 'POST', '/v1/auth/signup', { json: { email, password } });
  if (signup.status !== 202) throw new Error(`signup answered ${signup.status}: ${signup.text}`);
  const mail = await world.mailTo(email, 'Confirm your email address');
  const verified = await api(world.app, 'POST', '/v1/auth/verify-email', { json: { token: world.token(mail, 'verify-email') } });
  if (verified.status !== 200) throw new Error(`verify answered ${verified.status}: ${verified.text}`);
  const login = await api(world.app, 'POST', '/v1/auth/login', { json: { email, password } });
  if (login.status !== 200) throw new Error(`login answered ${login.status}: ${login.text}`);
  return { email, password, userId: login.body.user.id as string, access: login.body.access_token as string, refresh: login.body.refresh_token as string };
}
