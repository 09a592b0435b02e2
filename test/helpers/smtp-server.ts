import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type AddressObject, type Headers, simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';

/**
 * A real SMTP server for tests (smtp-server over TCP on 127.0.0.1, an ephemeral port):
 *
 * - STARTTLS offered with a throwaway self-signed certificate made per server (openssl, in a temp dir
 *   removed by `close()`); `caFile` is its path, for MAIL_CA_FILE. `{ starttls: false }` starts one that
 *   does not offer STARTTLS (and then takes AUTH in clear).
 * - AUTH PLAIN or LOGIN required, with a generated user and password (`mailUrl` carries them).
 * - Every delivered message is parsed (mailparser) and kept in `messages`, with how it came: over TLS
 *   or not, which AUTH method and user, the envelope.
 * - A message counts as delivered only when its final reply (250) goes to a client still connected:
 *   one that hangs up while the server holds DATA (`delay`) is `dropped` — as a relay that commits a
 *   message only with its answer, which is what makes a kill during the hold a clean "not sent".
 * - Faults switched at runtime: `refuse(code, at)` answers RCPT or DATA with `code` (451, 550…),
 *   `delay(ms)` holds the reply to DATA, `down()` stops listening (connections refused) and `up()`
 *   listens again on the same port.
 *
 * Waiting is event-driven and bounded: `until()` re-checks its condition on every server event and
 * rejects after its timeout; nothing here sleeps.
 */
export interface ReceivedMail {
  /** The To header's addresses, as text (`a@example.com`). */
  readonly to: string;
  readonly from: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  readonly messageId: string;
  readonly headers: Headers;
  readonly envelope: { readonly mailFrom: string; readonly rcptTo: readonly string[] };
  /** The session had been upgraded with STARTTLS when the message came. */
  readonly tls: boolean;
  /** How the client authenticated (`PLAIN` or `LOGIN`), and as whom. */
  readonly auth: { readonly method: string; readonly user: string } | undefined;
}

export interface TestSmtpServerOptions {
  /** Offer STARTTLS (default true). */
  starttls?: boolean;
}

export interface TestSmtpServer {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** The server's self-signed certificate (PEM): the CA to trust (MAIL_CA_FILE). */
  readonly caFile: string;
  /** `smtp://user:pass@127.0.0.1:port` */
  readonly mailUrl: string;
  /** Delivered messages, in order of acceptance. */
  readonly messages: readonly ReceivedMail[];
  /** Every AUTH a client tried: its method, whether the session was under TLS, whether it succeeded. */
  readonly authAttempts: readonly { readonly method: string; readonly tls: boolean; readonly ok: boolean }[];
  /** Messages never delivered because their client hung up (or the server went down) while their DATA reply was held. */
  readonly dropped: number;
  /** DATA replies being held right now (`delay`). */
  readonly holding: number;
  /** Answer RCPT TO (default) or the end of DATA with `code` (4xx: try later, 5xx: refused); null: accept again. */
  refuse(code: number | null, at?: 'RCPT' | 'DATA'): void;
  /**
   * Hold the reply to each message's DATA for `ms` before accepting it (0: answer at once). It applies
   * to the replies held now too: `delay(0)` releases them.
   */
  delay(ms: number): void;
  /** Stop listening and drop open connections: new connections are refused. */
  down(): Promise<void>;
  /** Listen again, on the same port. */
  up(): Promise<void>;
  /** Resolves once `condition()` holds (checked now and after every server event); rejects after `timeoutMs`. */
  until(what: string, condition: () => boolean, timeoutMs?: number): Promise<void>;
  /** The first message (already received or yet to come) to `to` (and with `subject`, when given). */
  waitForMail(filter: { to: string; subject?: string; timeoutMs?: number }): Promise<ReceivedMail>;
  /** Stops the server, ends held replies and removes the certificate's directory. */
  close(): Promise<void>;
}

const run = promisify(execFile);

/** A self-signed certificate for 127.0.0.1 and localhost, valid one day, in a new temp dir. */
async function throwawayCertificate(): Promise<{ dir: string; key: string; cert: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-smtp-'));
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  try {
    const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1'];
    args.push(
      '-subj',
      '/CN=rampart test SMTP',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      key,
      '-out',
      cert,
    );
    await run(process.env.OPENSSL_BIN ?? 'openssl', args, { timeout: 30_000 });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { dir, key, cert };
}

function addresses(value: AddressObject | AddressObject[] | undefined): string {
  const list = Array.isArray(value) ? value : value ? [value] : [];
  return list.flatMap((a) => a.value.map((v) => v.address ?? '')).join(', ');
}

function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

export async function startSmtpServer(options: TestSmtpServerOptions = {}): Promise<TestSmtpServer> {
  const starttls = options.starttls ?? true;
  const host = '127.0.0.1';
  const user = `mailer-${randomBytes(4).toString('hex')}`;
  const password = randomBytes(18).toString('base64url');
  const certificate = await throwawayCertificate();
  const tlsKey = readFileSync(certificate.key);
  const tlsCert = readFileSync(certificate.cert);

  const messages: ReceivedMail[] = [];
  const authAttempts: { method: string; tls: boolean; ok: boolean }[] = [];
  const authBySession = new Map<string, { method: string; user: string }>();
  /** DATA replies being held, by session id: when the hold began, and how it ends (false: the client hung up). */
  const holds = new Map<string, { since: number; timer: NodeJS.Timeout | undefined; end: (deliver: boolean) => void }>();
  const arm = (hold: { since: number; timer: NodeJS.Timeout | undefined; end: (deliver: boolean) => void }) => {
    clearTimeout(hold.timer);
    hold.timer = setTimeout(() => hold.end(true), Math.max(0, hold.since + state.delayMs - Date.now()));
  };
  const waiters = new Set<() => void>();
  const state = { refuse: null as number | null, refuseAt: 'RCPT' as 'RCPT' | 'DATA', delayMs: 0, dropped: 0, closed: false };
  const changed = () => {
    for (const check of [...waiters]) check();
  };

  const serverOptions: SMTPServerOptions = {
    name: 'rampart-test-smtp',
    key: tlsKey,
    cert: tlsCert,
    authMethods: ['PLAIN', 'LOGIN'],
    disabledCommands: starttls ? [] : ['STARTTLS'],
    allowInsecureAuth: !starttls,
    disableReverseLookup: true,
    closeTimeout: 200,
    size: 1024 * 1024,
    onAuth(auth, session, callback) {
      const ok = (auth.method === 'PLAIN' || auth.method === 'LOGIN') && auth.username === user && auth.password === password;
      authAttempts.push({ method: auth.method, tls: session.secure, ok });
      if (ok) {
        authBySession.set(session.id, { method: auth.method, user });
        callback(null, { user });
        return;
      }
      callback(smtpError(535, 'Authentication credentials invalid'));
    },
    onRcptTo(_address, _session, callback) {
      if (state.refuse !== null && state.refuseAt === 'RCPT')
        callback(smtpError(state.refuse, `test server refuses the recipient (${state.refuse})`));
      else callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', () => undefined); // the client went away mid-message: nothing is delivered
      stream.on('end', () => {
        accept(Buffer.concat(chunks), session, callback).catch((err: Error) =>
          callback(smtpError(451, `test server failed: ${err.message}`)),
        );
      });
    },
    onClose(session) {
      authBySession.delete(session.id);
      holds.get(session.id)?.end(false);
    },
  };

  async function accept(raw: Buffer, session: SMTPServerSession, callback: (err?: Error | null, message?: string) => void) {
    if (state.refuse !== null && state.refuseAt === 'DATA') {
      callback(smtpError(state.refuse, `test server refuses the message (${state.refuse})`));
      return;
    }
    const parsed = await simpleParser(raw);
    const envelope = {
      mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
      rcptTo: session.envelope.rcptTo.map((r) => r.address),
    };
    const auth = authBySession.get(session.id);
    const tls = session.secure;
    if (state.delayMs > 0) {
      const deliver = await new Promise<boolean>((resolve) => {
        const hold = {
          since: Date.now(),
          timer: undefined as NodeJS.Timeout | undefined,
          end: (ok: boolean) => {
            clearTimeout(hold.timer);
            holds.delete(session.id);
            resolve(ok);
          },
        };
        holds.set(session.id, hold);
        arm(hold);
        changed();
      });
      if (!deliver) {
        state.dropped++;
        changed();
        return; // the client is gone: no reply, no delivery
      }
    }
    messages.push({
      to: addresses(parsed.to),
      from: addresses(parsed.from),
      subject: parsed.subject ?? '',
      text: parsed.text ?? '',
      html: parsed.html || '',
      messageId: parsed.messageId ?? '',
      headers: parsed.headers,
      envelope,
      tls,
      auth,
    });
    changed();
    callback(null, `queued as ${messages.length}`);
  }

  let server = new SMTPServer(serverOptions);
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', () => undefined); // a client's broken connection is not the test's failure
        resolve((server.server.address() as AddressInfo).port);
      });
    });
  const port = await listen(0);
  let listening = true;

  const stop = async () => {
    if (!listening) return;
    listening = false;
    for (const hold of [...holds.values()]) hold.end(false);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const connection of server.connections) connection.close();
    await closed;
  };

  const smtp: TestSmtpServer = {
    host,
    port,
    user,
    password,
    caFile: certificate.cert,
    mailUrl: `smtp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}`,
    messages,
    authAttempts,
    get dropped() {
      return state.dropped;
    },
    get holding() {
      return holds.size;
    },
    refuse(code, at = 'RCPT') {
      state.refuse = code;
      state.refuseAt = at;
    },
    delay(ms) {
      state.delayMs = ms;
      for (const hold of holds.values()) arm(hold); // a held reply now ends `ms` after its DATA came
    },
    down: stop,
    async up() {
      if (listening || state.closed) return;
      server = new SMTPServer(serverOptions);
      await listen(port);
      listening = true;
    },
    until(what, condition, timeoutMs = 10_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          let ok: boolean;
          try {
            ok = condition();
          } catch (err) {
            finish();
            reject(err);
            return;
          }
          if (ok) {
            finish();
            resolve();
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(
            new Error(
              `timed out after ${timeoutMs} ms waiting for ${what} (${messages.length} delivered, ${state.dropped} dropped, ${holds.size} held)`,
            ),
          );
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async waitForMail({ to, subject, timeoutMs = 10_000 }) {
      const match = (m: ReceivedMail) => m.envelope.rcptTo.includes(to) && (subject === undefined || m.subject === subject);
      await smtp.until(`a mail to ${to}${subject === undefined ? '' : ` "${subject}"`}`, () => messages.some(match), timeoutMs);
      return messages.find(match) as ReceivedMail;
    },
    async close() {
      if (state.closed) return;
      state.closed = true;
      await stop();
      rmSync(certificate.dir, { recursive: true, force: true });
    },
  };
  return smtp;
}

/**
 * The one-time token of the link to `link` (e.g. `${APP_URL}/verify-email`) in a mail's text: the
 * `token` query parameter of `link?token=…`. Throws when the mail has no such link, or two different ones.
 */
export function tokenFromMail(mail: { readonly text: string }, link: string): string {
  const escaped = link.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const found = new Set(
    [...mail.text.matchAll(new RegExp(`${escaped}\\?(?:[^\\s#]*&)?token=([^\\s&#<>"']+)`, 'g'))].map((m) =>
      decodeURIComponent(m[1] as string),
    ),
  );
  if (found.size !== 1) throw new Error(`expected one ${link}?token=… link in the mail, found ${found.size}:\n${mail.text}`);
  return [...found][0] as string;
}
