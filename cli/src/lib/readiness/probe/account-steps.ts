import { generate } from 'otplib';
import { awaitAccount, verificationToken } from './account.js';
import { failed, judged, passed } from './checks.js';
import { type Answer, codeOf, shownAnswer } from './client.js';
import { check, deviceOf, loginBody, type Pair, pairOf, type Run } from './run.js';

/** The account's own flows: address validation, password policy, signup, verification, login, MFA enrolment. */

/** An address without an @ sign, then (in the signup below) the probe's own with upper-case letters. */
export async function emailValidation(run: Run): Promise<void> {
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

export async function passwordPolicyAndSignup(run: Run): Promise<void> {
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

export async function emailVerification(run: Run): Promise<void> {
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

export async function login(run: Run): Promise<void> {
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

export async function mfa(run: Run): Promise<void> {
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
