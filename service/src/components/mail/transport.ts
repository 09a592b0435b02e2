import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext, getCACertificates } from 'node:tls';
import nodemailer from 'nodemailer';
import type { Logger } from '../../platform/logger.js';
import type { OutgoingMail } from './message.js';

/** Where mail goes: an SMTP server (MAIL_URL), or — in development only — the log and .eml files. */
export interface MailTransport {
  readonly kind: 'smtp' | 'development';
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}

/** A failed send, described without the server's credentials. `permanent`: the server said 5xx. */
export class MailSendError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'MailSendError';
  }
}

export interface SmtpTransportOptions {
  /** MAIL_URL: smtp://user:pass@host:587 (STARTTLS required unless ?tls=off) or smtps://host:465. */
  readonly url: string;
  /** Extra CA certificates (PEM) the server's certificate may chain to (MAIL_CA_FILE), besides the default trust store. */
  readonly caFile?: string;
  /** Per-connection and per-command limits (ms). */
  readonly timeoutMs?: number;
}

/**
 * nodemailer over SMTP. STARTTLS is required on smtp:// (a server that does not offer it, or a
 * downgrade by a man in the middle, fails the send instead of sending in clear), unless the URL says
 * `tls=off`; smtps:// is TLS from the first byte. One connection per send: the outbox sends few mails,
 * and a pooled connection that went stale would turn into a failed send.
 */
export function createSmtpTransport(options: SmtpTransportOptions): MailTransport {
  const url = new URL(options.url);
  const plaintext = url.searchParams.get('tls') === 'off';
  const secure = url.protocol === 'smtps:';
  const timeoutMs = options.timeoutMs ?? 20_000;
  // TLS's `ca` replaces the default trust store, so MAIL_CA_FILE's certificates go in with the defaults —
  // built once: parsing the store takes tens of milliseconds of the event loop, too much for every send.
  const secureContext = options.caFile
    ? createSecureContext({ minVersion: 'TLSv1.2', ca: [...getCACertificates('default'), readFileSync(options.caFile, 'utf8')] })
    : undefined;
  const transporter = nodemailer.createTransport({
    host: url.hostname,
    port: url.port ? Number(url.port) : secure ? 465 : 587,
    secure,
    requireTLS: !secure && !plaintext,
    ignoreTLS: plaintext,
    auth: url.username ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } : undefined,
    tls: { minVersion: 'TLSv1.2', ...(secureContext ? { secureContext } : {}) },
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  return {
    kind: 'smtp',
    async send(mail) {
      try {
        await transporter.sendMail({
          from: mail.from,
          to: mail.to,
          subject: mail.subject,
          text: mail.text,
          html: mail.html,
          messageId: mail.messageId,
        });
      } catch (err) {
        throw describeSmtpError(err);
      }
    },
    close: () => transporter.close(),
  };
}

/** The code and the server's reply code, never the URL (it holds the password). */
function describeSmtpError(err: unknown): MailSendError {
  const e = err as { code?: string; responseCode?: number; message?: string; command?: string };
  const reply = typeof e.responseCode === 'number' ? ` ${e.responseCode}` : '';
  const command = e.command ? ` after ${e.command}` : '';
  const message = `${e.code ?? 'ESEND'}${reply}${command}: ${(e.message ?? String(err)).split('\n', 1)[0]?.slice(0, 200)}`;
  return new MailSendError(message, typeof e.responseCode === 'number' && e.responseCode >= 500);
}

/**
 * Development without MAIL_URL: each mail is logged (recipient, subject and text, so the links can be
 * followed from the terminal) and written to `dir` as an .eml file a mail client opens. Production
 * refuses to start without MAIL_URL, so one-time links are never logged there.
 */
export function createDevelopmentTransport(dir: string, logger: Logger): MailTransport {
  const builder = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    kind: 'development',
    async send(mail) {
      const info = await builder.sendMail({ from: mail.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, messageId: mail.messageId });
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${mail.template}-${randomBytes(3).toString('hex')}.eml`);
      writeFileSync(file, info.message as Buffer, { mode: 0o600 });
      logger.info({ mail: { to: mail.to, subject: mail.subject, file, text: mail.text } }, 'mail written (development: MAIL_URL is not set)');
    },
    close: () => builder.close(),
  };
}
