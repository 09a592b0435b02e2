/**
 * No enumeration, measured (issue 18). Signup with EMAIL_VERIFICATION=required, the verification
 * resend, the password-reset request and the email change answer an address that has an account and
 * one that has none with the same status, the same bytes (but the request id) and the same headers —
 * and in the same time: the address-dependent work runs after the answer (platform/deferred-work.ts).
 *
 * Timing: after a warm-up, requests alternate existing/unknown (or taken/free), the order of each pair
 * reversed every other pair (A B, B A, …) so neither side always follows the other; each one's wall time
 * is measured with performance.now() around the in-process request (app.request: the app's whole
 * handling, the answer buffered whole, no socket). Between two requests, outside the measurement, the
 * test waits for the previous request's after-answer work (`auth.settled()`): under strict
 * alternation the heavier work of an existing address would otherwise overlap the *next* request —
 * always one of the other side — and bias the comparison with what that request did not do. The two
 * samples are then compared with a two-sample Kolmogorov–Smirnov test: D = sup |F₁ − F₂| against the
 * asymptotic critical value c(α)·√((n+m)/(nm)), c(α) = √(−ln(α/2)/2), failing only at α = 0.001 so
 * scheduler noise on a shared machine cannot fail it while a real difference (a database lookup, an
 * argon2 hash on one side only) would show as D near 1. Medians, p90 and D are printed with
 * t.diagnostic. The argon2 cost is the default (OWASP minimum): signup hashes on both paths, so its
 * sample is smaller (16 per side) rather than the hash cheaper.
 *
 * Finally the work did run: the existing addresses got their mail over SMTP, the unknown ones none.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import { assertResponseMatchesOpenApi } from '../../../helpers/openapi.js';
import { api } from '../../../helpers/client.js';
import { TEST_PASSWORD, uniqueEmail } from '../../../helpers/users.js';
import { type AccountWorld, accountWorld, verifiedAccount } from './account-fixture.js';

// ---- the statistics -------------------------------------------------------------------------------

/** The two-sample Kolmogorov–Smirnov statistic: the largest gap between the two empirical CDFs (ties handled). */
export function ksStatistic(a: readonly number[], b: readonly number[]): number {
  const x = [...a].sort((p, q) => p - q);
  const y = [...b].sort((p, q) => p - q);
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i] as number, y[j] as number);
    while (i < x.length && (x[i] as number) <= v) i++;
    while (j < y.length && (y[j] as number) <= v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  return d;
}

/** The asymptotic critical value of D at level α for samples of n and m: c(α)·√((n+m)/(nm)). */
export function ksCriticalValue(n: number, m: number, alpha: number): number {
  return Math.sqrt(-Math.log(alpha / 2) / 2) * Math.sqrt((n + m) / (n * m));
}

/** The asymptotic p-value of D (Kolmogorov's distribution, with Stephens' small-sample correction). */
export function ksPValue(d: number, n: number, m: number): number {
  const en = Math.sqrt((n * m) / (n + m));
  const lambda = (en + 0.12 + 0.11 / en) * d;
  if (lambda < 0.2) return 1;
  let sum = 0;
  for (let k = 1; k <= 100; k++) sum += 2 * (-1) ** (k - 1) * Math.exp(-2 * k * k * lambda * lambda);
  return Math.min(1, Math.max(0, sum));
}

function quantile(sample: readonly number[], q: number): number {
  const s = [...sample].sort((p, r) => p - r);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return (s[lo] as number) + ((s[hi] as number) - (s[lo] as number)) * (at - lo);
}

const ALPHA = 0.001;

/** Reports the two samples (median, p90, D, critical value, p) and fails only when D exceeds the critical value at α. */
function assertSameDistribution(t: TestContext, flow: string, sides: Record<string, number[]>): void {
  const [[nameA, a], [nameB, b]] = Object.entries(sides) as [[string, number[]], [string, number[]]];
  const d = ksStatistic(a, b);
  const critical = ksCriticalValue(a.length, b.length, ALPHA);
  const p = ksPValue(d, a.length, b.length);
  const figures = (name: string, s: number[]) =>
    `${name} n=${s.length} median=${quantile(s, 0.5).toFixed(3)} ms p90=${quantile(s, 0.9).toFixed(3)} ms`;
  t.diagnostic(`${flow}: ${figures(nameA, a)}; ${figures(nameB, b)}; KS D=${d.toFixed(3)} critical(α=${ALPHA})=${critical.toFixed(3)} p≈${p.toFixed(3)}`);
  assert.ok(
    d <= critical,
    `${flow}: the latency distributions differ (KS D=${d.toFixed(3)} > ${critical.toFixed(3)} at α=${ALPHA}); ${nameA}: ${a.map((v) => v.toFixed(2)).join(' ')}; ${nameB}: ${b.map((v) => v.toFixed(2)).join(' ')}`,
  );
}

describe('the Kolmogorov–Smirnov test used here', () => {
  it('gives 0 for the same sample, 1 for disjoint ones, and the textbook critical values', () => {
    assert.equal(ksStatistic([1, 2, 3, 4], [4, 3, 2, 1]), 0);
    assert.equal(ksStatistic([1, 2, 3], [10, 11, 12]), 1);
    assert.equal(ksStatistic([1, 2, 3, 4], [3, 4, 5, 6]), 0.5);
    assert.equal(ksStatistic([1, 1, 1, 2], [1, 2, 2, 2]), 0.5, 'ties are stepped over together');
    // c(0.05) = 1.358, c(0.001) = 1.949 (the usual table).
    assert.ok(Math.abs(ksCriticalValue(1, 1, 0.05) / Math.SQRT2 - 1.358) < 0.001);
    assert.ok(Math.abs(ksCriticalValue(1, 1, 0.001) / Math.SQRT2 - 1.949) < 0.001);
    assert.ok(Math.abs(ksPValue(ksCriticalValue(40, 40, 0.05), 40, 40) - 0.05) < 0.02);
    const shifted = Array.from({ length: 40 }, (_, i) => i + 30);
    const base = Array.from({ length: 40 }, (_, i) => i);
    assert.ok(ksStatistic(base, shifted) > ksCriticalValue(40, 40, ALPHA), 'a shift of most of the range is detected');
  });
});

// ---- the measurements -----------------------------------------------------------------------------

interface Timed {
  ms: number;
  status: number;
  headers: Headers;
  text: string;
}

/** Headers that differ from one request to the next whatever the address. */
const PER_REQUEST_HEADERS = new Set(['x-request-id', 'date', 'traceparent']);

/** One POST, timed from the call into the app to the answer read whole; then checked against OpenAPI (untimed). */
async function timedPost(w: AccountWorld, path: string, json: unknown, token?: string): Promise<Timed> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const body = JSON.stringify(json);
  const started = performance.now();
  const res = await w.app.request(path, { method: 'POST', headers, body });
  const text = await res.text();
  const ms = performance.now() - started;
  assertResponseMatchesOpenApi({ method: 'POST', path }, { status: res.status, headers: res.headers, body: text === '' ? text : JSON.parse(text) });
  return { ms, status: res.status, headers: res.headers, text };
}

/** What an observer sees besides time: the status, the body minus its request id, every header but the per-request ones. */
function observable(r: Timed): string {
  const headers = [...r.headers]
    .filter(([name]) => !PER_REQUEST_HEADERS.has(name))
    // The remaining quota and the seconds to its reset move with every request, whatever the address.
    .map(([name, value]) => [name, name === 'ratelimit' ? value.replace(/;r=\d+/g, ';r=…').replace(/;t=\d+/g, ';t=…') : value])
    .sort(([p], [q]) => (p as string).localeCompare(q as string));
  return JSON.stringify({ status: r.status, body: r.text.replace(/"request_id":"[^"]*"/g, '"request_id":"…"'), headers });
}

/**
 * Warm-up, then `pairs` alternating requests (A, B, A, B…), each followed — untimed — by the wait for
 * its after-answer work. Every answer must be observably identical to the first; the latencies go to
 * the KS test.
 */
async function measure(
  t: TestContext,
  w: AccountWorld,
  flow: string,
  options: { pairs: number; warmup: number; expected: { status: number; body: unknown } },
  sides: Record<string, (i: number) => Promise<Timed>>,
): Promise<void> {
  const names = Object.keys(sides);
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  let reference: string | undefined;
  for (let i = 0; i < options.warmup + options.pairs; i++) {
    // Counterbalanced (A B, B A, A B, …): the database work an existing address leaves behind (its
    // writes being flushed) lands on whichever request comes next. With A B A B it always fell on the
    // unknown side's request, a bias of the test's order, not of the answer to the address asked about.
    for (const name of i % 2 === 0 ? names : [...names].reverse()) {
      const r = await (sides[name] as (i: number) => Promise<Timed>)(i);
      await w.app.deps.auth.settled();
      assert.equal(r.status, options.expected.status, `${flow} (${name}): ${r.text}`);
      assert.deepEqual(JSON.parse(r.text), options.expected.body, `${flow} (${name})`);
      reference ??= observable(r);
      assert.equal(observable(r), reference, `${flow} (${name}): the answer differs from the first one`);
      if (i >= options.warmup) samples[name]?.push(r.ms);
    }
  }
  assertSameDistribution(t, flow, samples);
}

/** A new address of one fixed shape per tag (the same length exactly), for the existing and the unknown side alike. */
const address = (tag: string) => `${tag}-${randomBytes(8).toString('hex')}@example.com`;

interface OutboxMail {
  id: string;
  to_address: string;
  subject: string;
}

describe('no enumeration: the same answer, in the same time, whatever the address (real SMTP server)', () => {
  let w: AccountWorld;
  // One world for the four flows; its cleanups are run by this suite's own after hook.
  const cleanups: (() => unknown)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  before(async () => {
    w = await accountWorld(
      { after: (fn: () => unknown) => void cleanups.push(fn) },
      {
        // Every request here comes from one IP and the same few addresses: the mail limits must not
        // decide what is mailed (their own tests are elsewhere).
        RATE_LIMIT_MAIL_PER_HOUR: '1000',
        RATE_LIMIT_MAIL_IP_PER_HOUR: '1000000',
      },
    );
  });

  /** Accounts that exist, their address unverified (signup with verification required, link not followed); their mails dropped. */
  async function unverifiedAccounts(count: number, tag: string): Promise<string[]> {
    const emails = Array.from({ length: count }, () => address(tag));
    for (const email of emails) assert.equal((await api(w.app, 'POST', '/v1/auth/signup', { json: { email, password: TEST_PASSWORD } })).status, 202);
    await w.app.deps.auth.settled();
    assert.equal((await w.app.deps.db.knex('users').whereIn('email', emails)).length, count, 'the accounts exist');
    await w.app.deps.db.knex('mail_outbox').where({ status: 'pending' }).delete();
    return emails;
  }

  /** What the after-answer work wrote to the outbox (every mail goes through it), once that work is done. */
  async function outbox(): Promise<OutboxMail[]> {
    await w.app.deps.auth.settled();
    return w.app.deps.db.knex('mail_outbox').where({ status: 'pending' }).orderBy('id').select('id', 'to_address', 'subject');
  }

  const to = (mails: readonly OutboxMail[], addresses: readonly string[], subject?: string) => {
    const set = new Set(addresses);
    return mails.filter((m) => set.has(m.to_address) && (subject === undefined || m.subject === subject));
  };

  /**
   * Sends `keep` over SMTP and drops the rest of the outbox unsent: each SMTP session to the test
   * server costs ~0.1 s (it waits before its greeting), and the outbox counts above already say what
   * the work wrote; one mail of each kind going all the way shows it is real mail.
   */
  async function sendOnly(keep: readonly (OutboxMail | undefined)[]) {
    const ids = keep.map((m) => {
      assert.ok(m, 'a mail to send');
      return m.id;
    });
    await w.app.deps.db.knex('mail_outbox').where({ status: 'pending' }).whereNotIn('id', ids).delete();
    await w.app.deps.mail.sender.deliverDue();
    for (const m of keep as OutboxMail[]) await w.smtp.waitForMail({ to: m.to_address, subject: m.subject, timeoutMs: 10_000 });
    return keep as OutboxMail[];
  }

  it('password reset request: existing vs unknown address', async (t) => {
    const existing = await unverifiedAccounts(4, 'reset');
    const unknown: string[] = [];
    await measure(t, w, 'password reset', { pairs: 48, warmup: 8, expected: { status: 202, body: { status: 'reset_requested' } } }, {
      existing: (i) => timedPost(w, '/v1/auth/password-reset', { email: existing[i % existing.length] }),
      unknown: () => {
        const email = address('reset');
        unknown.push(email);
        return timedPost(w, '/v1/auth/password-reset', { email });
      },
    });
    const mails = await outbox();
    assert.equal(to(mails, existing, 'Reset your password').length, 56, 'a reset link for every request naming an existing address');
    assert.deepEqual(to(mails, unknown), [], 'no mail to an address without an account');
    assert.equal(mails.length, 56);
    const [sent] = await sendOnly([mails[0]]);
    w.token(await w.smtp.waitForMail({ to: sent?.to_address as string, subject: 'Reset your password' }), 'reset-password');
  });

  it('verification resend: existing (unverified) vs unknown address', async (t) => {
    const existing = await unverifiedAccounts(4, 'resend');
    const unknown: string[] = [];
    await measure(t, w, 'verification resend', { pairs: 48, warmup: 8, expected: { status: 202, body: { status: 'verification_sent' } } }, {
      existing: (i) => timedPost(w, '/v1/auth/verify-email/resend', { email: existing[i % existing.length] }),
      unknown: () => {
        const email = address('resend');
        unknown.push(email);
        return timedPost(w, '/v1/auth/verify-email/resend', { email });
      },
    });
    const mails = await outbox();
    assert.equal(to(mails, existing, 'Confirm your email address').length, 56, 'a new link for every resend to an unverified account');
    assert.deepEqual(to(mails, unknown), [], 'no mail to an address without an account');
    assert.equal(mails.length, 56);
    const [sent] = await sendOnly([mails.at(-1)]);
    w.token(await w.smtp.waitForMail({ to: sent?.to_address as string, subject: 'Confirm your email address' }), 'verify-email');
  });

  it('signup (EMAIL_VERIFICATION=required): taken vs free address, both hashing the password', async (t) => {
    const taken = await unverifiedAccounts(2, 'signup');
    const free: string[] = [];
    // The same password and the same shape of address on both sides: the strength check (zxcvbn, which
    // also weighs the address's local part) costs what its input costs, whatever the account.
    await measure(t, w, 'signup (verification required)', { pairs: 16, warmup: 3, expected: { status: 202, body: { status: 'verification_sent' } } }, {
      taken: (i) => timedPost(w, '/v1/auth/signup', { email: taken[i % taken.length], password: TEST_PASSWORD }),
      free: () => {
        const email = address('signup');
        free.push(email);
        return timedPost(w, '/v1/auth/signup', { email, password: TEST_PASSWORD });
      },
    });
    const mails = await outbox();
    assert.equal(to(mails, taken, 'You already have an account').length, 19, 'the owner of a taken address is told, at every attempt');
    assert.deepEqual(to(mails, taken, 'Confirm your email address'), [], 'and is sent no link');
    for (const email of taken) assert.equal((await w.app.deps.db.knex('users').where({ email })).length, 1, 'no second account');
    assert.equal(to(mails, free, 'Confirm your email address').length, free.length, 'every free address got its link');
    assert.equal((await w.app.deps.db.knex('users').whereIn('email', free)).length, free.length, 'and its account');
    assert.equal(mails.length, 38);
    const [notice, link] = await sendOnly([to(mails, taken)[0], to(mails, free)[0]]);
    assert.doesNotMatch((await w.smtp.waitForMail({ to: notice?.to_address as string, subject: notice?.subject })).text, /token=/);
    w.token(await w.smtp.waitForMail({ to: link?.to_address as string, subject: link?.subject }), 'verify-email');
  });

  it('email change (recent authentication): taken vs free new address', async (t) => {
    const owner = await verifiedAccount(w, uniqueEmail('change-owner'));
    const taken = await unverifiedAccounts(2, 'change');
    const free: string[] = [];
    await measure(t, w, 'email change', { pairs: 48, warmup: 8, expected: { status: 202, body: { status: 'confirmation_sent' } } }, {
      taken: (i) => timedPost(w, '/v1/auth/email', { new_email: taken[i % taken.length] }, owner.access),
      free: () => {
        const email = address('change');
        free.push(email);
        return timedPost(w, '/v1/auth/email', { new_email: email }, owner.access);
      },
    });
    const mails = await outbox();
    assert.equal(to(mails, taken, 'This address already has an account').length, 56, 'a taken address is told it has an account');
    assert.deepEqual(to(mails, taken, 'Confirm your new email address'), [], 'and is sent no link');
    assert.equal(to(mails, free, 'Confirm your new email address').length, free.length, 'every free address got its link');
    assert.equal(to(mails, [owner.email], 'A change of your email address was requested').length, 112, 'the old address hears of every request');
    assert.equal(mails.length, 224);
    const [told, link] = await sendOnly([to(mails, taken)[0], to(mails, free)[0], to(mails, [owner.email])[0]]);
    assert.doesNotMatch((await w.smtp.waitForMail({ to: told?.to_address as string, subject: told?.subject })).text, /token=/);
    w.token(await w.smtp.waitForMail({ to: link?.to_address as string, subject: link?.subject }), 'confirm-email');
  });
});
