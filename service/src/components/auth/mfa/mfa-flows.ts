import { createHash, randomBytes } from 'node:crypto';
import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import { AppError } from '../../../platform/errors.js';
import type { AuthContext, AuthServiceDeps, RequestMeta, TokenResponse } from '../auth-types.js';
import { looksLikeDeviceToken } from '../device-tokens.js';
import type { FlowOutcomes } from '../flow-outcomes.js';
import { mfaChangedMail } from '../mail-templates.js';
import type { SessionOpening } from '../session-opening.js';
import { toPublicUser, type UserRow } from '../users-repo.js';
import { generateRecoveryCodes, hashRecoveryCode, normalizeRecoveryCode } from './recovery-codes.js';
import { acceptTotpCode, generateTotpSecret, otpauthUri } from './totp.js';

/** What a login answers instead of tokens when the account has a second factor. */
export interface MfaRequired {
  mfa_required: true;
  mfa_token: string;
  methods: ('totp' | 'recovery_code' | 'webauthn')[];
  /** With a passkey on the account: the assertion options (PublicKeyCredentialRequestOptionsJSON) for `{mfa_token, webauthn}`. */
  webauthn?: unknown;
}

/** A second factor as a request carries it (verify and reauthenticate): exactly one of these. */
export interface SecondFactorInput {
  code?: string;
  recovery_code?: string;
  /** A passkey assertion (AuthenticationResponseJSON) answering options issued for this flow. */
  webauthn?: AuthenticationResponseJSON;
}

/** What the MFA step needs of the passkeys (webauthn/passkey-second-factor.ts). */
export interface PasskeySecondFactor {
  hasPasskeys(userId: string): Promise<boolean>;
  passkeySecondFactorOptions(userId: string, flow: 'mfa' | 'reauth'): Promise<unknown>;
  verifyPasskeySecondFactor(userId: string, response: AuthenticationResponseJSON, flow: 'mfa' | 'reauth', meta?: RequestMeta): Promise<{ amr: string[] }>;
}

type Method = 'totp' | 'recovery_code' | 'webauthn';

const MFA_TOKEN_TTL_SECONDS = 300;
const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');

/** What the MFA token stands for between the password and the second factor (kept in the one-time store). */
interface PendingLogin {
  userId: string;
  passwordHash: string;
  /** Bound to the client that passed the password: same address (hashed) and same device token (hashed). */
  ip: string;
  device: string | null;
}

/**
 * TOTP enrolment and the second step of a login (docs/api.md "Multi-factor authentication"). A
 * wrong code counts toward the second factor's own lockout — per device for a known device, else per
 * (account, address) with a per-account hourly cap, on every replica — so a 6-digit code cannot be
 * brute-forced; each code is accepted once (the time step is stored), recovery codes once each.
 */
export function createMfaFlows(deps: AuthServiceDeps, outcomes: FlowOutcomes, opening: SessionOpening, passkeys: PasskeySecondFactor) {
  const { knex, users, devices, clock, mail, accounts, metrics } = deps;
  const { repo, keyring, oneTime, lockout, issuer } = deps.mfa;
  const { auditEvent, fail, succeed } = outcomes;

  async function confirmedTotp(userId: string) {
    const row = await repo.totp(userId);
    return row?.confirmed_at ? row : undefined;
  }

  /**
   * The TOTP secret in clear. A secret this replica cannot open (its key is not in MFA_ENCRYPTION_KEY:
   * a rotation done out of order) is an operator's problem, not the user's: 503 and an error in the log.
   */
  function secretOf(row: { user_id: string; key_id: string; secret_ciphertext: Buffer }): string {
    try {
      return keyring().decrypt(row.key_id, row.secret_ciphertext, row.user_id).toString('utf8');
    } catch (err) {
      deps.logger.error({ user_id: row.user_id, key_id: row.key_id, err: (err as Error).message }, 'TOTP secret cannot be decrypted with MFA_ENCRYPTION_KEY (is its key missing from the keyring?)');
      throw new AppError('service_unavailable', { detail: 'Second factors cannot be checked right now; try again shortly.' });
    }
  }

  async function notify(user: UserRow, what: string, meta: RequestMeta): Promise<void> {
    await mail.enqueue(knex, mfaChangedMail(user.email, accounts.appUrl, what), { requestId: meta.requestId, userId: user.id });
    mail.wake();
  }

  async function userOf(auth: AuthContext): Promise<UserRow> {
    const user = await users.findById(auth.userId);
    if (!user) throw new AppError('invalid_token', { headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });
    return user;
  }

  /**
   * The second factor of `user`, checked under its lockout; throws 429 while locked, 400 `invalid_code`
   * when wrong (counted, audited). Returns the method that proved it.
   */
  async function proveSecondFactor(user: UserRow, input: SecondFactorInput, meta: RequestMeta, deviceId: string | undefined, flow: string): Promise<{ method: Method; amr: string[] }> {
    const method: Method = input.webauthn !== undefined ? 'webauthn' : input.recovery_code !== undefined ? 'recovery_code' : 'totp';
    const locked = await lockout.check(user.id, meta.ip, deviceId);
    if (locked) {
      metrics.mfaChallengesTotal.inc({ method, outcome: 'locked' });
      fail(flow, `mfa_locked_out_${locked.limiter}`);
      await auditEvent(meta, { type: 'mfa_refused_locked', userId: user.id, details: { limiter: locked.limiter, method, flow } });
      throw locked.error;
    }
    const now = clock.now();
    let ok = false;
    let amr: string[] = [];
    if (method === 'webauthn') {
      try {
        amr = (await passkeys.verifyPasskeySecondFactor(user.id, input.webauthn as AuthenticationResponseJSON, flow === 'reauthenticate' ? 'reauth' : 'mfa', meta)).amr;
        ok = true;
      } catch (err) {
        if (!(err instanceof AppError) || err.code !== 'invalid_code') throw err;
      }
    } else if (method === 'totp') {
      const row = await confirmedTotp(user.id);
      const step = row && typeof input.code === 'string' ? await acceptTotpCode(secretOf(row), input.code, now.getTime(), Number(row.last_step)) : undefined;
      // The step is stored compare-and-set: the same code on two replicas at once is accepted once.
      ok = step !== undefined && (await repo.acceptStep(user.id, step, false, now));
    } else {
      const normalized = normalizeRecoveryCode(input.recovery_code);
      ok = normalized !== undefined && (await repo.useRecoveryCode(user.id, hashRecoveryCode(normalized), now));
    }
    if (!ok) {
      metrics.mfaChallengesTotal.inc({ method, outcome: 'failure' });
      fail(flow, `invalid_${method}`);
      await auditEvent(meta, { type: 'mfa_failed', userId: user.id, details: { method, flow } });
      const outcome = await lockout.recordFailure(user.id, meta.ip, deviceId);
      if (outcome.lockStarted) await auditEvent(meta, { type: 'mfa_refused_locked', userId: user.id, details: { lock_seconds: outcome.lockSeconds, method, flow, lock_started: true } });
      const detail = {
        totp: 'That code is not valid (or was already used).',
        recovery_code: 'That recovery code is not valid (or was already used).',
        webauthn: 'The passkey could not be verified. Ask for new options and try again.',
      }[method];
      throw new AppError('invalid_code', { detail });
    }
    await lockout.recordSuccess(user.id, meta.ip, deviceId);
    metrics.mfaChallengesTotal.inc({ method, outcome: 'success' });
    if (method === 'recovery_code') {
      const left = await repo.remainingRecoveryCodes(user.id);
      await auditEvent(meta, { type: 'mfa_recovery_code_used', userId: user.id, details: { remaining: left, flow } });
      await notify(user, `a recovery code was used to sign in (${left} left)`, meta);
    }
    // RFC 8176: what was proved besides the password — a one-time code, or the passkey's key kind (+ user verification).
    return { method, amr: method === 'totp' ? ['otp'] : amr };
  }

  /** A confirmed TOTP or a passkey: one statement, asked by every login once the password is verified. */
  async function hasSecondFactor(userId: string): Promise<boolean> {
    const factors = await users.secondFactors(userId);
    return factors.totp || factors.webauthn;
  }

  return {
    proveSecondFactor,

    hasSecondFactor,

    /** Options for a passkey step-up (POST /v1/auth/reauthenticate {password, webauthn}). */
    async reauthenticationPasskeyOptions(auth: AuthContext): Promise<unknown> {
      return passkeys.passkeySecondFactorOptions(auth.userId, 'reauth');
    },

    /** Password checked, account has MFA: a short-lived, single-use token bound to this client instead of tokens. */
    async beginMfaLogin(user: UserRow, passwordHash: string, meta: RequestMeta, deviceToken: string | undefined): Promise<MfaRequired> {
      const token = randomBytes(32).toString('base64url');
      const pending: PendingLogin = { userId: user.id, passwordHash, ip: sha256(meta.ip), device: looksLikeDeviceToken(deviceToken) ? sha256(deviceToken) : null };
      await oneTime.put(`mfa:${sha256(token)}`, JSON.stringify(pending), MFA_TOKEN_TTL_SECONDS);
      await auditEvent(meta, { type: 'mfa_challenge_issued', userId: user.id, email: user.email });
      const methods: MfaRequired['methods'] = (await confirmedTotp(user.id)) ? ['totp', 'recovery_code'] : [];
      if (!(await passkeys.hasPasskeys(user.id))) return { mfa_required: true, mfa_token: token, methods };
      return { mfa_required: true, mfa_token: token, methods: [...methods, 'webauthn'], webauthn: await passkeys.passkeySecondFactorOptions(user.id, 'mfa') };
    },

    /** The second step of a login: the MFA token and one factor → a token pair whose amr says what was used. */
    async verifyMfa(input: { mfa_token: string; device_token?: string } & SecondFactorInput, meta: RequestMeta): Promise<TokenResponse> {
      const refused = () => new AppError('invalid_mfa_token', { detail: 'The sign-in step expired or was already completed. Sign in again.' });
      if (typeof input.mfa_token !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(input.mfa_token)) throw refused();
      const key = `mfa:${sha256(input.mfa_token)}`;
      const stored = await oneTime.peek(key);
      if (!stored) throw refused();
      const pending = JSON.parse(stored) as PendingLogin;
      const device = looksLikeDeviceToken(input.device_token) ? sha256(input.device_token) : null;
      if (pending.ip !== sha256(meta.ip) || pending.device !== device) {
        fail('mfa_verify', 'mfa_token_binding');
        throw refused();
      }
      const user = await users.findById(pending.userId);
      if (!user || user.disabled_at !== null) throw refused();
      const deviceId = looksLikeDeviceToken(input.device_token) ? await devices.recognise(user.id, input.device_token, clock.now()) : undefined;
      const proof = await proveSecondFactor(user, input, meta, deviceId, 'mfa_verify');
      const method = proof.method;
      // Single use: of two verifications racing with right codes, one takes the token.
      if ((await oneTime.take(key)) === undefined) throw refused();
      const amr = ['pwd', ...proof.amr, 'mfa'];
      const session = await opening.openSession(user.id, pending.passwordHash, meta, undefined, amr);
      if (!session) {
        fail('mfa_verify', 'password_changed');
        throw refused();
      }
      succeed('login');
      await opening.evictBeyondLimit(user.id, meta);
      const deviceToken = deviceId ? (input.device_token as string) : await devices.issue(user.id, clock.now());
      await auditEvent(meta, { type: 'mfa_verified', userId: user.id, email: user.email, details: { method, session_id: session.sessionId } });
      await auditEvent(meta, { type: 'login_succeeded', userId: user.id, email: user.email, details: { session_id: session.sessionId, known_device: deviceId !== undefined, amr } });
      return { ...(await opening.tokenResponse(toPublicUser(user), session.sessionId, session.refreshToken, session.authentication)), device_token: deviceToken };
    },

    /** Starts TOTP enrolment: a new secret, pending until a code confirms it (recent authentication). */
    async enrolTotp(auth: AuthContext, meta: RequestMeta): Promise<{ secret: string; otpauth_uri: string }> {
      const user = await userOf(auth);
      if (await confirmedTotp(user.id)) throw new AppError('mfa_already_enabled', { detail: 'TOTP is already on; turn it off first to enrol a new authenticator.' });
      const secret = generateTotpSecret();
      const sealed = keyring().encrypt(Buffer.from(secret, 'utf8'), user.id);
      if (!(await repo.putPending(user.id, sealed.keyId, sealed.ciphertext))) throw new AppError('mfa_already_enabled');
      await auditEvent(meta, { type: 'mfa_totp_enrolment_started', userId: user.id });
      return { secret, otpauth_uri: otpauthUri(secret, user.email, issuer) };
    },

    /** The first valid code turns TOTP on and answers the recovery codes, shown this once. */
    async confirmTotp(auth: AuthContext, input: { code: string }, meta: RequestMeta): Promise<{ recovery_codes: string[] }> {
      const user = await userOf(auth);
      const row = await repo.totp(user.id);
      const invalid = () => new AppError('invalid_code', { detail: 'That code is not valid; enter the current one from your authenticator app.' });
      if (!row || row.confirmed_at) throw invalid();
      const locked = await lockout.check(user.id, meta.ip);
      if (locked) throw locked.error;
      const now = clock.now();
      const step = await acceptTotpCode(secretOf(row), input.code, now.getTime(), Number(row.last_step));
      if (step === undefined) {
        await lockout.recordFailure(user.id, meta.ip);
        metrics.mfaChallengesTotal.inc({ method: 'totp', outcome: 'failure' });
        throw invalid();
      }
      const codes = generateRecoveryCodes();
      const confirmed = await knex.transaction(async (trx) => {
        if (!(await repo.acceptStep(user.id, step, true, now, trx))) return false;
        await repo.replaceRecoveryCodes(user.id, codes.map((c) => hashRecoveryCode(normalizeRecoveryCode(c) as string)), trx);
        return true;
      });
      if (!confirmed) throw invalid();
      await lockout.recordSuccess(user.id, meta.ip);
      metrics.mfaChallengesTotal.inc({ method: 'totp', outcome: 'success' });
      await auditEvent(meta, { type: 'mfa_totp_enabled', userId: user.id });
      await notify(user, 'an authenticator app (TOTP) was added as a second factor', meta);
      return { recovery_codes: codes };
    },

    async disableTotp(auth: AuthContext, meta: RequestMeta): Promise<void> {
      const user = await userOf(auth);
      const removed = await knex.transaction(async (trx) => {
        const had = await repo.deleteTotp(user.id, trx);
        await repo.deleteRecoveryCodes(user.id, trx);
        return had;
      });
      if (!removed) return;
      await auditEvent(meta, { type: 'mfa_totp_disabled', userId: user.id });
      await notify(user, 'the authenticator app (TOTP) was removed; sign-in now needs the password only', meta);
    },

    async regenerateRecoveryCodes(auth: AuthContext, meta: RequestMeta): Promise<{ recovery_codes: string[] }> {
      const user = await userOf(auth);
      if (!(await confirmedTotp(user.id))) throw new AppError('bad_request', { detail: 'Turn on TOTP first: recovery codes stand in for it.' });
      const codes = generateRecoveryCodes();
      await knex.transaction((trx) => repo.replaceRecoveryCodes(user.id, codes.map((c) => hashRecoveryCode(normalizeRecoveryCode(c) as string)), trx));
      await auditEvent(meta, { type: 'mfa_recovery_codes_regenerated', userId: user.id });
      await notify(user, 'new recovery codes were made; the old ones no longer work', meta);
      return { recovery_codes: codes };
    },
  };
}

export type MfaFlows = ReturnType<typeof createMfaFlows>;
