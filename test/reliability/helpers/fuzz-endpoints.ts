import fc from 'fast-check';
import { type EndpointSpec, LIVE_TOKEN } from './fuzz-harness.js';
import { hostileString, plausibleEmail, plausiblePassword } from './fuzz-inputs.js';

/** Every JSON endpoint of docs/api.md, as the fuzz suite sees it. */
const credentials = fc.record({ email: plausibleEmail, password: plausiblePassword });
const refresh = fc.record({
  refresh_token: fc.oneof(hostileString, fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('base64url'))),
});

export const signup: EndpointSpec = { name: 'signup', method: 'POST', path: '/v1/auth/signup', authenticated: false, fields: ['email', 'password'], plausible: credentials };
export const login: EndpointSpec = { name: 'login', method: 'POST', path: '/v1/auth/login', authenticated: false, fields: ['email', 'password'], plausible: credentials };
export const password: EndpointSpec = {
  name: 'password',
  method: 'POST',
  path: '/v1/auth/password',
  authenticated: true,
  fields: ['current_password', 'new_password'],
  plausible: fc.record({ current_password: plausiblePassword, new_password: plausiblePassword }),
  onSuccess: (actor, body) => {
    // 204: the password is now the new one (the last duplicate key wins, as in the parser).
    const sent = JSON.parse(body?.toString('utf8') ?? '{}');
    if (typeof sent.new_password === 'string') actor.password = sent.new_password;
  },
};
export const refreshToken: EndpointSpec = { name: 'refresh', method: 'POST', path: '/v1/auth/refresh', authenticated: false, fields: ['refresh_token'], plausible: refresh };
export const logout: EndpointSpec = { name: 'logout', method: 'POST', path: '/v1/auth/logout', authenticated: false, fields: ['refresh_token'], plausible: refresh };
export const logoutAll: EndpointSpec = { name: 'logout-all', method: 'POST', path: '/v1/auth/logout-all', authenticated: true, fields: [], revokesOwnSession: true };
export const sessionsList: EndpointSpec = { name: 'sessions-list', method: 'GET', path: '/v1/auth/sessions', authenticated: true, fields: [], query: true };
export const sessionsDelete: EndpointSpec = { name: 'sessions-delete', method: 'DELETE', path: '/v1/auth/sessions/{id}', ids: 'session', authenticated: true, fields: [], revokesOwnSession: true };
// Some cases send DELETE (another method), which ends the account since DELETE /v1/me exists: the actor is renewed.
export const me: EndpointSpec = { name: 'me', method: 'GET', path: '/v1/me', authenticated: true, fields: [], query: true, deletesAccount: true };

const title = fc.record({ title: fc.oneof(fc.constant('a title'), fc.constant(null), hostileString) }, { requiredKeys: [] });
const content = fc.record({ content: fc.oneof(fc.constant('hello there'), hostileString) });

export const conversationsCreate: EndpointSpec = { name: 'conversations-create', method: 'POST', path: '/v1/conversations', authenticated: true, fields: ['title'], plausible: title };
export const conversationsList: EndpointSpec = { name: 'conversations-list', method: 'GET', path: '/v1/conversations', authenticated: true, fields: [], query: true };
export const conversationsGet: EndpointSpec = { name: 'conversations-get', method: 'GET', path: '/v1/conversations/{id}', ids: 'conversation', authenticated: true, fields: [] };
export const conversationsDelete: EndpointSpec = { name: 'conversations-delete', method: 'DELETE', path: '/v1/conversations/{id}', ids: 'conversation', authenticated: true, fields: [] };
export const messagesList: EndpointSpec = { name: 'messages-list', method: 'GET', path: '/v1/conversations/{id}/messages', ids: 'conversation', authenticated: true, fields: [], query: true };
// Resuming a reply: `{message_id}` is the actor's or the victim's reply, or a hostile segment.
export const replyEvents: EndpointSpec = { name: 'reply-events', method: 'GET', path: '/v1/conversations/{id}/messages/{message_id}/events', ids: 'conversation', authenticated: true, fields: [], query: true };
export const messagesCreate: EndpointSpec = { name: 'messages-create', method: 'POST', path: '/v1/conversations/{id}/messages', ids: 'conversation', authenticated: true, fields: ['content'], plausible: content };

// Accounts (issue 18): verification, recovery, email change, step-up, export, deletion.
/** A one-time token: a live one (mailed for the case), one of the right shape that was never issued, or anything. */
const oneTimeToken = fc.oneof(
  { arbitrary: fc.constant(LIVE_TOKEN), weight: 3 },
  { arbitrary: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('base64url')), weight: 2 },
  { arbitrary: hostileString, weight: 2 },
);
const emailOnly = fc.record({ email: plausibleEmail });

export const verifyEmail: EndpointSpec = { name: 'verify-email', method: 'POST', path: '/v1/auth/verify-email', authenticated: false, fields: ['token'], plausible: fc.record({ token: oneTimeToken }), liveToken: 'verify-email' };
export const verifyEmailResend: EndpointSpec = { name: 'verify-email-resend', method: 'POST', path: '/v1/auth/verify-email/resend', authenticated: false, fields: ['email'], plausible: emailOnly };
export const passwordReset: EndpointSpec = { name: 'password-reset', method: 'POST', path: '/v1/auth/password-reset', authenticated: false, fields: ['email'], plausible: emailOnly };
export const passwordResetConfirm: EndpointSpec = {
  name: 'password-reset-confirm',
  method: 'POST',
  path: '/v1/auth/password-reset/confirm',
  authenticated: false,
  fields: ['token', 'new_password'],
  plausible: fc.record({ token: oneTimeToken, new_password: plausiblePassword }),
  liveToken: 'reset-password',
};
export const emailChange: EndpointSpec = { name: 'email-change', method: 'POST', path: '/v1/auth/email', authenticated: true, recentAuth: true, fields: ['new_email'], plausible: fc.record({ new_email: plausibleEmail }) };
export const emailChangeConfirm: EndpointSpec = { name: 'email-change-confirm', method: 'POST', path: '/v1/auth/email/confirm', authenticated: false, fields: ['token'], plausible: fc.record({ token: oneTimeToken }), liveToken: 'confirm-email' };
/** Wrong guesses spend the account's hourly failure budget (LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR, at most 100): then a new actor. */
export const reauthenticate: EndpointSpec = { name: 'reauthenticate', method: 'POST', path: '/v1/auth/reauthenticate', authenticated: true, fields: ['password'], plausible: fc.record({ password: plausiblePassword }), perAccountBudget: true };
/** Five exports per account an hour: then a new actor. */
export const accountExport: EndpointSpec = { name: 'account-export', method: 'GET', path: '/v1/me/export', authenticated: true, recentAuth: true, fields: [], query: true, perAccountBudget: true };
export const accountDelete: EndpointSpec = { name: 'account-delete', method: 'DELETE', path: '/v1/me', authenticated: true, recentAuth: true, fields: [], deletesAccount: true };

// Second factors (issue 20).
const sixDigits = fc.integer({ min: 0, max: 999_999 }).map((n) => String(n).padStart(6, '0'));
const totpCode = fc.oneof({ arbitrary: sixDigits, weight: 3 }, { arbitrary: hostileString, weight: 1 });
const recoveryCode = fc.oneof(
  { arbitrary: fc.stringMatching(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){5}$/), weight: 2 },
  { arbitrary: hostileString, weight: 1 },
);
const mfaToken = fc.oneof(fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('base64url')), hostileString);
/** Wrong codes spend the second factor's lockout budget: a new actor after a 429 on its own. */
export const mfaVerify: EndpointSpec = {
  name: 'mfa-verify',
  method: 'POST',
  path: '/v1/auth/mfa/verify',
  authenticated: false,
  fields: ['mfa_token', 'code', 'recovery_code'],
  plausible: fc.oneof(fc.record({ mfa_token: mfaToken, code: totpCode }), fc.record({ mfa_token: mfaToken, recovery_code: recoveryCode })),
};
export const totpEnrol: EndpointSpec = { name: 'totp-enrol', method: 'POST', path: '/v1/auth/mfa/totp', authenticated: true, recentAuth: true, fields: [] };
export const totpConfirm: EndpointSpec = { name: 'totp-confirm', method: 'POST', path: '/v1/auth/mfa/totp/confirm', authenticated: true, fields: ['code'], plausible: fc.record({ code: totpCode }), perAccountBudget: true };
export const totpDisable: EndpointSpec = { name: 'totp-disable', method: 'DELETE', path: '/v1/auth/mfa/totp', authenticated: true, recentAuth: true, fields: [] };
export const recoveryCodesRegenerate: EndpointSpec = { name: 'recovery-codes', method: 'POST', path: '/v1/auth/mfa/recovery-codes', authenticated: true, recentAuth: true, fields: [] };

// Passkeys (issue 20).
const base64url = fc.oneof(
  { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 96 }).map((b) => Buffer.from(b).toString('base64url')), weight: 4 },
  {
    arbitrary: fc
      .record({ type: fc.constantFrom('webauthn.get', 'webauthn.create', 'x'), challenge: fc.oneof(fc.string(), fc.constant('')), origin: fc.constantFrom('http://localhost:5173', 'https://evil.example') })
      .map((c) => Buffer.from(JSON.stringify(c)).toString('base64url')),
    weight: 2,
  },
  { arbitrary: hostileString, weight: 1 },
);
const credentialResponse = (fields: Record<string, fc.Arbitrary<unknown>>) =>
  fc.record(
    {
      id: base64url,
      rawId: base64url,
      type: fc.constantFrom('public-key', 'password'),
      response: fc.record(fields, { requiredKeys: [] }),
      authenticatorAttachment: fc.constantFrom('platform', 'cross-platform'),
      clientExtensionResults: fc.constant({}),
    },
    { requiredKeys: ['id', 'rawId', 'type', 'response'] },
  );
const assertion = credentialResponse({ clientDataJSON: base64url, authenticatorData: base64url, signature: base64url, userHandle: base64url });
const attestation = credentialResponse({ clientDataJSON: base64url, attestationObject: base64url, transports: fc.array(fc.string({ maxLength: 12 }), { maxLength: 3 }) });

export const passkeyLoginOptions: EndpointSpec = {
  name: 'passkey-login-options',
  method: 'POST',
  path: '/v1/auth/webauthn/login/options',
  authenticated: false,
  fields: ['email'],
  plausible: fc.record({ email: plausibleEmail }, { requiredKeys: [] }),
};
export const passkeyLogin: EndpointSpec = { name: 'passkey-login', method: 'POST', path: '/v1/auth/webauthn/login', authenticated: false, fields: ['response'], plausible: fc.record({ response: assertion }) };
export const passkeyRegisterOptions: EndpointSpec = { name: 'passkey-register-options', method: 'POST', path: '/v1/auth/webauthn/register/options', authenticated: true, recentAuth: true, fields: [] };
export const passkeyRegister: EndpointSpec = {
  name: 'passkey-register',
  method: 'POST',
  path: '/v1/auth/webauthn/register',
  authenticated: true,
  recentAuth: true,
  fields: ['response', 'name'],
  plausible: fc.record({ response: attestation, name: fc.oneof(fc.constant('My key'), hostileString) }),
};
export const passkeyList: EndpointSpec = { name: 'passkey-list', method: 'GET', path: '/v1/auth/webauthn/credentials', authenticated: true, fields: [], query: true };

export const passkeyRename: EndpointSpec = {
  name: 'passkey-rename',
  method: 'PATCH',
  path: '/v1/auth/webauthn/credentials/{id}',
  ids: 'passkey',
  authenticated: true,
  fields: ['name'],
  plausible: fc.record({ name: fc.oneof(fc.constant('Laptop'), hostileString) }),
};
export const passkeyDelete: EndpointSpec = { name: 'passkey-delete', method: 'DELETE', path: '/v1/auth/webauthn/credentials/{id}', ids: 'passkey', authenticated: true, recentAuth: true, fields: [] };
export const passkeyReauthOptions: EndpointSpec = { name: 'passkey-reauth-options', method: 'POST', path: '/v1/auth/webauthn/reauthenticate/options', authenticated: true, fields: [] };
/** A passkey as the MFA step's factor: hostile assertions against a real or made-up MFA token. */
export const mfaVerifyPasskey: EndpointSpec = {
  name: 'mfa-verify-passkey',
  method: 'POST',
  path: '/v1/auth/mfa/verify',
  authenticated: false,
  fields: ['mfa_token', 'webauthn'],
  plausible: fc.record({ mfa_token: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('base64url')), webauthn: assertion }),
};

// Model usage (issue 21).
export const usage: EndpointSpec = { name: 'usage', method: 'GET', path: '/v1/usage', authenticated: true, fields: [], query: true };
