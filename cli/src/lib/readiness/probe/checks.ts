import type { CheckResult } from '../http.js';

/** The active probe's checks, in the order the probe reports them (docs/readiness-probes.md). */
export const PROBE_CHECKS = {
  'probe.signup':
    'Active probe: a throwaway account signs up (201 with tokens, or 202 verification_sent when verification is required)',
  'probe.email-validation':
    'Active probe: an invalid address → 400 invalid_email; an address with upper-case letters is stored lower-cased',
  'probe.password-policy': 'Active probe: an 11-character random password → 400 weak_password (PASSWORD_MIN_LENGTH ≥ 12)',
  'probe.email-verification':
    'Active probe: a new account gets no tokens before its address is verified (202); POST /v1/auth/verify-email then signs it in',
  'probe.login': 'Active probe: login → 200 with access, refresh and device tokens',
  'probe.refresh-rotation':
    'Active probe: refresh rotates the pair; the old token within the grace window yields the same successor, never a fork',
  'probe.refresh-reuse':
    'Active probe: a rotated refresh token presented after the grace window → 401 refresh_token_reused, and its successor stops working',
  'probe.logout': 'Active probe: after logout the session’s refresh token → 401',
  'probe.lockout':
    'Active probe: wrong passwords lock (email, IP) within 5 attempts (429 too_many_attempts with Retry-After); the owner’s device token still signs in',
  'probe.endpoint-limits': 'Active probe: the login endpoint carries a tighter RateLimit-Policy than an authenticated read',
  'probe.user-limits': 'Active probe: authenticated requests are limited per user (RateLimit-Policy "user")',
  'probe.content-type': 'Active probe: an authenticated JSON route given text/plain → 415 unsupported_media_type (problem+json)',
  'probe.body-limit':
    'Active probe: a declared body of MAX_REQUEST_SIZE_BYTES + 1 → 413 payload_too_large before the body is sent',
  'probe.mfa': 'Active probe: TOTP enrolment (POST /v1/auth/mfa/totp, confirmed with a computed code → 10 recovery codes)',
  'probe.audit':
    'Active probe: the audit trail holds the probe’s signup, its refused weak-password signup, login success, login failures and lockout',
  'probe.cleanup':
    'Active probe: the account is deleted at once; no user, session, token, device, conversation or MFA row remains, only audit rows naming the probe',
} as const;

export type ProbeCheckId = keyof typeof PROBE_CHECKS;
export const PROBE_CHECK_IDS = Object.keys(PROBE_CHECKS) as ProbeCheckId[];

export const passed = (id: ProbeCheckId, evidence: string): CheckResult => ({
  id,
  title: PROBE_CHECKS[id],
  status: 'passed',
  evidence,
});
export const failed = (id: ProbeCheckId, evidence: string): CheckResult => ({
  id,
  title: PROBE_CHECKS[id],
  status: 'failed',
  evidence,
});
export const judged = (ok: boolean, id: ProbeCheckId, evidence: string): CheckResult => (ok ? passed : failed)(id, evidence);
