import { setTimeout as delay } from 'node:timers/promises';
import { generate } from 'otplib';
import type { OperatorAudit } from '../../../../service/src/public/auth.js';
import type { Database } from '../../../../service/src/public/db.js';
import type { CheckResult } from './http.js';
import {
  auditCounts,
  awaitAccount,
  DEFAULT_PROBE_DOMAIN,
  deleteProbeAccount,
  deletionRow,
  LEFTOVER_TABLES,
  leftovers,
  newProbeIdentity,
  type OwnedIds,
  ownedIds,
  PROBE_OPERATOR,
  type ProbeIdentity,
  probeAudit,
  verificationToken,
} from './probe/account.js';
import { type ProbeCheckId, PROBE_CHECK_IDS, failed, judged, passed } from './probe/checks.js';
import { type Answer, codeOf, createProbeClient, type ProbeClient, parsePolicy, shownAnswer } from './probe/client.js';

/**
 * `secops readiness --probe-account`: the active tier. A throwaway account is created on the live
 * deployment, driven through signup, verification, login, refresh rotation and reuse, logout, the
 * lockout (its owner's device still signing in), MFA enrolment and the request limits, and deleted at
 * the end through the service's own deletion — in a `finally`, also when a check fails or the run is
 * interrupted. Every request names the probe's own address; nothing printed holds a token or a password.
 * Request counts and safety rules: docs/readiness-probes.md.
 */
export { PROBE_CHECK_IDS, PROBE_CHECKS, type ProbeCheckId } from './probe/checks.js';
export { DEFAULT_PROBE_DOMAIN, PROBE_OPERATOR } from './probe/account.js';

export interface ProbeOptions {
  url: URL;
  /** Per request, and the bound on waiting for the account row after a 202 signup. */
  timeoutMs: number;
  /** The service's database (`ctx.database()`): verification token, audit rows, deletion. */
  database: Database;
  /** The probe address's domain (default example.invalid); must be one the service's validation accepts. */
  domain?: string;
  /** AUDIT_HASH_KEY, so the probe's operator rows carry the email hash the service's own rows carry. */
  emailHashKey?: Uint8Array;
  /** REFRESH_REUSE_GRACE_SECONDS of the deployment (default 10): the reuse check waits one second past it. */
  refreshReuseGraceSeconds?: number;
  /** MAX_REQUEST_SIZE_BYTES of the deployment (default 262144): the body-limit check declares one byte more. */
  maxRequestSizeBytes?: number;
  /** Ctrl-C: aborts the requests in flight; the account is still deleted before probeChecks settles. */
  signal?: AbortSignal;
}

/** Wrong passwords the lockout check sends at most: the documented LOGIN_MAX_FAILURES default. */
export const LOCKOUT_ATTEMPTS = 5;
/** Authenticated reads the per-user check sends at most while the per-IP bucket is the tightest. */
export const USER_LIMIT_READS = 20;

interface Pair {
  access: string;
  refresh: string;
}

/** What one check hands the next. */
interface Run {
  id: ProbeIdentity;
  client: ProbeClient;
  db: Database;
  audit: OperatorAudit;
  options: ProbeOptions;
  signal: AbortSignal;
  results: Map<ProbeCheckId, CheckResult>;
  /** The password the account has (the short one when the policy let it through). */
  password?: string;
  signupStatus?: number;
  /** The address a 201 signup answered with. */
  answeredEmail?: string;
  userId?: string;
  /** The session of the signup or the verification (the logout check ends it). */
  first?: Pair;
  /** The session of the login (MFA, the limits, rotation and reuse). */
  second?: Pair;
  device?: string;
  loginAnswer?: Answer;
  firstRead?: Answer;
  rotated?: { at: number; old: string; successor: string };
  wrongAttempts: number;
}

const pairOf = (a: Answer): Pair | undefined =>
  typeof a.json?.access_token === 'string' && typeof a.json.refresh_token === 'string'
    ? { access: a.json.access_token, refresh: a.json.refresh_token }
    : undefined;
const deviceOf = (a: Answer): string | undefined => (typeof a.json?.device_token === 'string' ? a.json.device_token : undefined);

export async function probeChecks(options: ProbeOptions): Promise<CheckResult[]> {
  const controller = new AbortController();
  const stop = () => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) stop();
  options.signal?.addEventListener('abort', stop, { once: true });
  const run: Run = {
    id: newProbeIdentity(options.domain ?? DEFAULT_PROBE_DOMAIN),
    client: createProbeClient({ url: options.url, timeoutMs: options.timeoutMs, signal: controller.signal }),
    db: options.database,
    audit: probeAudit(options.emailHashKey),
    options,
    signal: controller.signal,
    results: new Map(),
    wrongAttempts: 0,
  };
  let stoppedBy: string | undefined;
  try {
    for (const step of STEPS) {
      if (controller.signal.aborted) break;
      try {
        await step(run);
      } catch (err) {
        if (controller.signal.aborted) break;
        stoppedBy = (err as Error).message;
        break;
      }
    }
  } finally {
    options.signal?.removeEventListener('abort', stop);
    const result = await cleanup(run);
    run.results.set('probe.cleanup', { ...result, evidence: `${result.evidence}; ${requestSummary(run.client.counts)}` });
  }
  const why = controller.signal.aborted
    ? 'interrupted (SIGINT/SIGTERM) before this check'
    : `not run: the probe stopped (${stoppedBy ?? 'an earlier check failed'})`;
  return PROBE_CHECK_IDS.map((id) => run.results.get(id) ?? failed(id, why));
}

const STEPS: readonly ((run: Run) => Promise<void>)[] = [
  emailValidation,
  passwordPolicyAndSignup,
  emailVerification,
  login,
  mfa,
  userLimits,
  endpointLimits,
  contentType,
  bodyLimit,
  refreshRotation,
  logout,
  lockout,
  refreshReuse,
  auditTrail,
];

/** Runs one check's body; an error (not an interrupt) fails that check with what was being done. */
async function check(run: Run, id: ProbeCheckId, body: () => Promise<CheckResult>): Promise<void> {
  try {
    run.results.set(id, await body());
  } catch (err) {
    if (run.signal.aborted) throw err;
    run.results.set(id, failed(id, `request failed: ${(err as Error).message}`));
  }
}

/** An address without an @ sign, then (in the signup below) the probe's own with upper-case letters. */
async function emailValidation(run: Run): Promise<void> {
  await check(run, 'probe.email-validation', async () => {
    const local = run.id.email.split('@')[0] as string;
    const a = await run.client.send('POST', '/v1/auth/signup', {
      json: { email: `${local}.no-at-sign`, password: run.id.password },
    });
    const evidence = `POST /v1/auth/signup with an address without @ → ${shownAnswer(a)}`;
    // The normalization half is judged once the account exists (emailVerification).
    return judged(a.status === 400 && codeOf(a) === 'invalid_email', 'probe.email-validation', evidence);
  });
}

async function passwordPolicyAndSignup(run: Run): Promise<void> {
  const signup = (password: string) =>
    run.client.send('POST', '/v1/auth/signup', { json: { email: run.id.signupEmail, password } });
  // The short password goes to the probe's own address: should the policy let it through, the account it
  // creates is the probe's, used from then on and deleted at the end like any other.
  const short = await signup(run.id.shortPassword);
  const shortSeen = `POST /v1/auth/signup with an 11-character random password → ${shownAnswer(short)}`;
  let created: Answer;
  if (short.status === 400 && codeOf(short) === 'weak_password') {
    run.results.set('probe.password-policy', passed('probe.password-policy', shortSeen));
    created = await signup(run.id.password);
    run.password = run.id.password;
  } else {
    run.results.set(
      'probe.password-policy',
      failed(
        'probe.password-policy',
        `${shortSeen}: passwords under 12 characters are accepted (PASSWORD_MIN_LENGTH below the documented 12?)`,
      ),
    );
    created = short;
    run.password = run.id.shortPassword;
  }
  run.signupStatus = created.status;
  const user = created.json?.user as { email?: unknown } | undefined;
  if (typeof user?.email === 'string') run.answeredEmail = user.email;
  const pair = pairOf(created);
  if (created.status === 201 && pair) {
    run.first = pair;
    run.device = deviceOf(created);
  }
  const body =
    created.status === 202
      ? `, status ${JSON.stringify(created.json?.status)}`
      : pair
        ? ', with access and refresh tokens'
        : ', no tokens';
  const evidence = `POST /v1/auth/signup (${run.id.email}) → ${shownAnswer(created)}${body}`;
  run.results.set(
    'probe.signup',
    judged(
      (created.status === 201 && pair !== undefined) || (created.status === 202 && created.json?.status === 'verification_sent'),
      'probe.signup',
      evidence,
    ),
  );
  if (created.status !== 201 && created.status !== 202) throw new Error(`signup answered ${shownAnswer(created)}`);
}

async function emailVerification(run: Run): Promise<void> {
  const account = await awaitAccount(run.db, run.id.email, run.options.timeoutMs, run.signal);
  const validation = run.results.get('probe.email-validation');
  if (validation) {
    const answered = run.answeredEmail === undefined ? '' : `, answered as ${run.answeredEmail}`;
    const stored = `${account ? `stored as ${account.email}` : 'no account found under the lower-cased address'}${answered}`;
    const normalized = account?.email === run.id.email && (run.answeredEmail === undefined || run.answeredEmail === run.id.email);
    run.results.set(
      'probe.email-validation',
      judged(
        validation.status === 'passed' && normalized,
        'probe.email-validation',
        `${validation.evidence}; signed up as ${run.id.signupEmail} → ${stored}`,
      ),
    );
  }
  if (!account) {
    run.results.set(
      'probe.email-verification',
      failed('probe.email-verification', `no account for ${run.id.email} within ${run.options.timeoutMs} ms of the signup`),
    );
    throw new Error('the signup created no account');
  }
  run.userId = account.id;
  await check(run, 'probe.email-verification', async () => {
    if (run.signupStatus === 201) {
      return failed(
        'probe.email-verification',
        'signup → 201 with tokens: a new account uses the API before its address is verified (EMAIL_VERIFICATION=off; production requires it)',
      );
    }
    const token = await verificationToken(run.db, account.id, run.audit);
    if (!token)
      return failed(
        'probe.email-verification',
        `signup → 202 but the account is already verified (email_verified_at ${account.email_verified_at})`,
      );
    const a = await run.client.send('POST', '/v1/auth/verify-email', { json: { token } });
    const pair = pairOf(a);
    if (pair) run.first = pair;
    run.device = deviceOf(a) ?? run.device;
    const evidence = `signup → 202 without tokens; a verification token issued to the probe (audited as operator_verification_token_issued), POST /v1/auth/verify-email → ${shownAnswer(a)}${pair ? ' with tokens' : ''}`;
    return judged(a.status === 200 && pair !== undefined, 'probe.email-verification', evidence);
  });
}

const loginBody = (run: Run, password: string, device?: string) => ({
  json: { email: run.id.email, password, ...(device ? { device_token: device } : {}) },
});

async function login(run: Run): Promise<void> {
  await check(run, 'probe.login', async () => {
    const a = await run.client.send('POST', '/v1/auth/login', loginBody(run, run.password as string));
    run.loginAnswer = a;
    const pair = pairOf(a);
    if (pair) run.second = pair;
    const device = deviceOf(a);
    run.device = device ?? run.device;
    const evidence = `POST /v1/auth/login → ${shownAnswer(a)}: access token ${pair ? 'present' : 'absent'}, refresh token ${pair ? 'present' : 'absent'}, device token ${device ? 'present' : 'absent'}`;
    return judged(a.status === 200 && pair !== undefined && device !== undefined, 'probe.login', evidence);
  });
  if (!run.second) throw new Error('the probe could not sign in');
}

async function mfa(run: Run): Promise<void> {
  const token = (run.second as Pair).access;
  await check(run, 'probe.mfa', async () => {
    const enrol = await run.client.send('POST', '/v1/auth/mfa/totp', { token });
    const secret = enrol.json?.secret;
    const uri = enrol.json?.otpauth_uri;
    if (enrol.status !== 200 || typeof secret !== 'string' || typeof uri !== 'string' || !uri.startsWith('otpauth://totp/')) {
      return failed(
        'probe.mfa',
        `POST /v1/auth/mfa/totp → ${shownAnswer(enrol)}, secret ${typeof secret === 'string' ? 'present' : 'absent'}, otpauth_uri ${typeof uri === 'string' ? 'present' : 'absent'}`,
      );
    }
    const confirm = await run.client.send('POST', '/v1/auth/mfa/totp/confirm', {
      token,
      json: { code: await generate({ secret }) },
    });
    const codes = confirm.json?.recovery_codes;
    const n = Array.isArray(codes) ? codes.length : 0;
    const evidence = `POST /v1/auth/mfa/totp → 200 with a secret and an otpauth:// URI; confirm with a computed code → ${shownAnswer(confirm)}, ${n} recovery code(s)`;
    return judged(confirm.status === 200 && n === 10, 'probe.mfa', evidence);
  });
}

/** The policy a response names, for evidence. */
const policyText = (a: Answer | undefined) => a?.headers.get('ratelimit-policy') ?? 'no RateLimit-Policy';

async function userLimits(run: Run): Promise<void> {
  const token = (run.second as Pair).access;
  await check(run, 'probe.user-limits', async () => {
    // A conversation of the probe's, so the cleanup shows conversations go with the account.
    const created = await run.client.send('POST', '/v1/conversations', { token, json: { title: 'readiness probe' } });
    if (created.status !== 201) return failed('probe.user-limits', `POST /v1/conversations → ${shownAnswer(created)}`);
    // The headers name the bucket closest to its limit: the per-user one shows once this user's share of
    // it exceeds the client address's share of the per-IP bucket. A few reads get there; bounded.
    for (let n = 1; n <= USER_LIMIT_READS; n++) {
      const read = await run.client.send('GET', '/v1/me', { token });
      run.firstRead ??= read;
      if (read.status !== 200) return failed('probe.user-limits', `GET /v1/me → ${shownAnswer(read)}`);
      const policy = parsePolicy(read.headers.get('ratelimit-policy'));
      if (policy?.name === 'user') {
        return passed(
          'probe.user-limits',
          `GET /v1/me (read ${n}) → 200, RateLimit-Policy: ${policyText(read)}, RateLimit: ${read.headers.get('ratelimit') ?? 'absent'}`,
        );
      }
      if (!policy) return failed('probe.user-limits', `GET /v1/me → 200 without a RateLimit-Policy header`);
    }
    return failed(
      'probe.user-limits',
      `${USER_LIMIT_READS} GET /v1/me never named a "user" bucket (last: ${policyText(run.firstRead)}): no per-user limit, or this address's per-IP bucket is much busier; rerun from a quieter address`,
    );
  });
}

async function endpointLimits(run: Run): Promise<void> {
  await check(run, 'probe.endpoint-limits', async () => {
    const auth = parsePolicy(run.loginAnswer?.headers.get('ratelimit-policy') ?? null);
    const read = parsePolicy(run.firstRead?.headers.get('ratelimit-policy') ?? null);
    const rate = (p: { quota: number; windowSeconds: number }) => p.quota / p.windowSeconds;
    const shown = (p: ReturnType<typeof parsePolicy>) =>
      p ? `"${p.name}";q=${p.quota};w=${p.windowSeconds} (${rate(p).toFixed(2)}/s)` : 'absent';
    const evidence = `POST /v1/auth/login RateLimit-Policy ${shown(auth)}; GET /v1/me ${shown(read)}`;
    return judged(auth !== undefined && read !== undefined && rate(auth) < rate(read), 'probe.endpoint-limits', evidence);
  });
}

async function contentType(run: Run): Promise<void> {
  const token = (run.second as Pair).access;
  await check(run, 'probe.content-type', async () => {
    const a = await run.client.send('POST', '/v1/conversations', {
      token,
      raw: { contentType: 'text/plain', body: '{"title":"readiness probe"}' },
    });
    const type = a.headers.get('content-type') ?? 'no content-type';
    const evidence = `POST /v1/conversations (authenticated) text/plain → ${shownAnswer(a)}, ${type}`;
    return judged(
      a.status === 415 && codeOf(a) === 'unsupported_media_type' && type.startsWith('application/problem+json'),
      'probe.content-type',
      evidence,
    );
  });
}

async function bodyLimit(run: Run): Promise<void> {
  const token = (run.second as Pair).access;
  const limit = run.options.maxRequestSizeBytes ?? 262_144;
  await check(run, 'probe.body-limit', async () => {
    const declared = limit + 1;
    const a = await run.client.withheldBody('/v1/conversations', declared, token);
    if (a.status === undefined) {
      return failed(
        'probe.body-limit',
        `POST /v1/conversations with Content-Length ${declared}, no body sent: no answer within ${run.options.timeoutMs} ms (the service waits for the body: the limit is above ${limit}, or it buffers first)`,
      );
    }
    const evidence = `POST /v1/conversations with Content-Length ${declared} (MAX_REQUEST_SIZE_BYTES ${limit} + 1), no body sent → ${a.status}${a.code ? ` ${a.code}` : ''}`;
    return judged(a.status === 413 && a.code === 'payload_too_large', 'probe.body-limit', evidence);
  });
}

async function refreshRotation(run: Run): Promise<void> {
  const old = (run.second as Pair).refresh;
  await check(run, 'probe.refresh-rotation', async () => {
    const a = await run.client.send('POST', '/v1/auth/refresh', { json: { refresh_token: old } });
    const next = pairOf(a);
    if (a.status !== 200 || !next)
      return failed('probe.refresh-rotation', `POST /v1/auth/refresh → ${shownAnswer(a)}, no new pair`);
    run.rotated = { at: Date.now(), old, successor: next.refresh };
    if (next.refresh === old)
      return failed('probe.refresh-rotation', 'POST /v1/auth/refresh → 200 with the same refresh token: not rotated');
    const retry = await run.client.send('POST', '/v1/auth/refresh', { json: { refresh_token: old } });
    const again = pairOf(retry);
    const grace = run.options.refreshReuseGraceSeconds ?? 10;
    // Within the grace window a retry gets the same successor (a lost answer); with no grace it is reuse at once.
    const sameSuccessor = retry.status === 200 && again?.refresh === next.refresh;
    const refusedAtOnce = grace === 0 && retry.status === 401;
    const seen =
      retry.status === 200 ? (sameSuccessor ? 'the same successor' : 'a different refresh token (a fork)') : shownAnswer(retry);
    const evidence = `POST /v1/auth/refresh → 200 with a new pair (refresh token changed); the old token again at once (grace ${grace} s) → ${retry.status}, ${seen}`;
    return judged(sameSuccessor || refusedAtOnce, 'probe.refresh-rotation', evidence);
  });
}

async function logout(run: Run): Promise<void> {
  await check(run, 'probe.logout', async () => {
    const session = run.first;
    if (!session) return failed('probe.logout', 'no session from the signup or the verification to end');
    const out = await run.client.send('POST', '/v1/auth/logout', { json: { refresh_token: session.refresh } });
    const after = await run.client.send('POST', '/v1/auth/refresh', { json: { refresh_token: session.refresh } });
    const evidence = `POST /v1/auth/logout → ${shownAnswer(out)}; its refresh token then → ${shownAnswer(after)}`;
    return judged(out.status === 204 && after.status === 401, 'probe.logout', evidence);
  });
}

async function lockout(run: Run): Promise<void> {
  await check(run, 'probe.lockout', async () => {
    const seen: string[] = [];
    let locked: Answer | undefined;
    for (let i = 1; i <= LOCKOUT_ATTEMPTS && !locked; i++) {
      const a = await run.client.send('POST', '/v1/auth/login', loginBody(run, run.id.wrongPassword));
      if (a.status === 429) locked = a;
      else if (a.status !== 401)
        return failed('probe.lockout', `wrong password ${i} → ${shownAnswer(a)} (expected 401 invalid_credentials)`);
      else run.wrongAttempts += 1;
      seen.push(shownAnswer(a));
    }
    let lockSeen = `${seen.length} wrong password(s) without a device token → ${seen.join(', ')}`;
    if (!locked) {
      // While locked even the right password is refused.
      const right = await run.client.send('POST', '/v1/auth/login', loginBody(run, run.password as string));
      lockSeen += `; the right password without a device token → ${shownAnswer(right)}`;
      if (right.status !== 429) {
        return failed(
          'probe.lockout',
          `${lockSeen}: no lock after ${LOCKOUT_ATTEMPTS} failures (LOGIN_MAX_FAILURES above the documented 5, or the lockout is off)`,
        );
      }
      locked = right;
    }
    const lockedAt = Date.now();
    const retryAfter = locked.headers.get('retry-after');
    const lockedOk =
      codeOf(locked) === 'too_many_attempts' && retryAfter !== null && /^\d+$/.test(retryAfter) && Number(retryAfter) >= 1;
    lockSeen += ` (Retry-After: ${retryAfter ?? 'absent'})`;
    if (!run.device) return failed('probe.lockout', `${lockSeen}; no device token from the signup, verification or login to try`);
    // Sent while the lock holds (Retry-After from the refusal), or it proves nothing about devices.
    const sentAfter = Date.now() - lockedAt;
    const owner = await run.client.send('POST', '/v1/auth/login', loginBody(run, run.password as string, run.device));
    const withinLock = retryAfter !== null && sentAfter < Number(retryAfter) * 1000;
    const signedIn = owner.status === 200 && (pairOf(owner) !== undefined || owner.json?.mfa_required === true);
    const mfaNext = owner.json?.mfa_required === true ? ' mfa_required (the second factor is next)' : '';
    const lapsed = withinLock
      ? ''
      : ' — sent after the lock’s Retry-After: it proves nothing about the device; rerun from closer to the service';
    const evidence = `${lockSeen}; the right password with the probe’s device token, sent ${sentAfter} ms later → ${shownAnswer(owner)}${mfaNext}${lapsed}`;
    return judged(lockedOk && signedIn && withinLock, 'probe.lockout', evidence);
  });
}

async function refreshReuse(run: Run): Promise<void> {
  await check(run, 'probe.refresh-reuse', async () => {
    const rotated = run.rotated;
    if (!rotated) return failed('probe.refresh-reuse', 'no rotated refresh token (probe.refresh-rotation failed)');
    const grace = run.options.refreshReuseGraceSeconds ?? 10;
    // The service's grace window, not a timer of ours: the old token is reuse only once it has passed.
    const wait = rotated.at + (grace + 1) * 1000 - Date.now();
    if (wait > 0) await delay(wait, undefined, { signal: run.signal });
    const reused = await run.client.send('POST', '/v1/auth/refresh', { json: { refresh_token: rotated.old } });
    const successor = await run.client.send('POST', '/v1/auth/refresh', { json: { refresh_token: rotated.successor } });
    const evidence = `${grace + 1} s after the rotation, the old refresh token → ${shownAnswer(reused)}; its successor then → ${shownAnswer(successor)}`;
    return judged(
      reused.status === 401 && codeOf(reused) === 'refresh_token_reused' && successor.status === 401,
      'probe.refresh-reuse',
      evidence,
    );
  });
}

/** The service writes these rows for what the probe did (signup, login, the wrong passwords and the lock). */
async function auditTrail(run: Run): Promise<void> {
  const userId = run.userId as string;
  await check(run, 'probe.audit', async () => {
    // Failures are aggregated by the service (the first row at once, repeats in a summary row when its
    // one-minute window closes): one login_failed row is what a run can see before it deletes the account.
    const expected: Record<string, number> = { signup_succeeded: 1, login_succeeded: 1, login_failed: 1 };
    if (run.results.get('probe.lockout')?.status === 'passed') expected.login_locked_out = 1;
    // Rows of requests already answered may still be on their way (written after the answer): bounded wait.
    const deadline = Date.now() + run.options.timeoutMs;
    let counts: Record<string, number>;
    for (;;) {
      counts = await auditCounts(run.db, userId);
      const missing = Object.entries(expected).filter(([type, n]) => (counts[type] ?? 0) < n);
      if (missing.length === 0 || Date.now() >= deadline) {
        const shown = Object.keys(expected)
          .map((type) => `${type} ${counts[type] ?? 0}`)
          .join(', ');
        return missing.length === 0
          ? passed(
              'probe.audit',
              `audit_events of the probe’s user: ${shown} (the service summarizes repeated failures when its one-minute window closes)`,
            )
          : failed(
              'probe.audit',
              `audit_events of the probe’s user: ${shown}; missing: ${missing.map(([t, n]) => `${t} (≥ ${n})`).join(', ')}`,
            );
      }
      await delay(50, undefined, { signal: run.signal });
    }
  });
}

/** What the run spent of the per-IP buckets, for the operator (docs/readiness-probes.md has the bounds). */
export function requestSummary(counts: ReadonlyMap<string, number>): string {
  let total = 0;
  let auth = 0;
  for (const [route, n] of counts) {
    total += n;
    if (route.split(' ')[1]?.startsWith('/v1/auth/')) auth += n;
  }
  const of = (route: string) => counts.get(route) ?? 0;
  return `the probe sent ${total} request(s): ${auth} to /v1/auth/* (${of('POST /v1/auth/login')} login, ${of('POST /v1/auth/signup')} signup, ${of('POST /v1/auth/refresh')} refresh)`;
}

/**
 * Deletes the probe's account (through the service's own deletion, audited with the probe's operator
 * name) and proves nothing of it remains but audit rows. Runs whatever happened before, with its own
 * bound: an interrupted run still cleans up (the run's abort signal is not used here).
 */
async function cleanup(run: Run): Promise<CheckResult> {
  const manualFix = `remove it with: secops users delete --email ${run.id.email} --reason "readiness probe" --yes`;
  let userId = run.userId;
  let owned: OwnedIds = { sessions: [], conversations: [] };
  try {
    if (!userId) {
      // A 202 signup creates the account after its answer: give it the run's bound to appear.
      const wait = run.signupStatus === 202 ? run.options.timeoutMs : 0;
      userId = (await awaitAccount(run.db, run.id.email, wait, AbortSignal.timeout(wait + 1000)))?.id;
    }
    if (!userId) {
      return run.signupStatus === undefined
        ? passed(
            'probe.cleanup',
            `no account was created (the probe stopped before its signup); nothing to delete under ${run.id.email}`,
          )
        : failed('probe.cleanup', `no account found under ${run.id.email} to delete; if one appears later, ${manualFix}`);
    }
    owned = await ownedIds(run.db, userId);
    const deleted = await deleteProbeAccount(run.db, userId, run.audit);
    const left = await leftovers(run.db, userId, owned);
    const remaining = Object.entries(left);
    if (remaining.length > 0) {
      return failed(
        'probe.cleanup',
        `user ${userId} deleted: ${deleted}; rows remain: ${remaining.map(([t, n]) => `${t} ${n}`).join(', ')}; ${manualFix}`,
      );
    }
    const audit = await auditCounts(run.db, userId);
    const deletion = await deletionRow(run.db, userId);
    const auditRows = Object.values(audit).reduce((a, b) => a + b, 0);
    const named = deletion?.operator === PROBE_OPERATOR;
    const evidence = `user ${userId} deleted through the operator deletion; 0 rows in ${LEFTOVER_TABLES.join(', ')} (had ${owned.sessions.length} session(s), ${owned.conversations.length} conversation(s)); ${auditRows} audit row(s) remain, the deletion’s with operator ${JSON.stringify(deletion?.operator ?? null)}`;
    return judged(deleted && named, 'probe.cleanup', evidence);
  } catch (err) {
    let state = '';
    if (userId) {
      try {
        const left = await leftovers(run.db, userId, owned);
        state = `; rows remain: ${
          Object.entries(left)
            .map(([t, n]) => `${t} ${n}`)
            .join(', ') || 'none'
        }`;
      } catch {
        state = '; the remaining rows could not be counted';
      }
    }
    return failed('probe.cleanup', `deleting ${run.id.email} failed: ${(err as Error).message}${state}; ${manualFix}`);
  }
}
