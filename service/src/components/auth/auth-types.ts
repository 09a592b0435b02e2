import type { Knex } from '../../platform/db.js';
import type { Logger } from '../../platform/logger.js';
import type { Metrics } from '../../platform/metrics.js';
import type { DeferredWork } from '../../platform/deferred-work.js';
import type { Limiter } from '../../platform/rate-limit.js';
import type { AuditLog } from '../audit/index.js';
import type { MailOutbox } from '../mail/index.js';
import type { AccountTokensRepo } from './account-tokens.js';
import type { DeviceTokensRepo } from './device-tokens.js';
import type { AccessTokens, Clock } from './access-tokens.js';
import type { Keyring } from './keyring.js';
import type { LoginLockout } from './lockout.js';
import type { PasswordCheck } from './password-policy.js';
import type { PasswordHasher } from './passwords.js';
import type { SessionGuard } from './session-guard.js';
import type { SessionsRepo } from './sessions-repo.js';
import type { PublicUser, UsersRepo } from './users-repo.js';
import type { MfaKeyring } from '../../platform/mfa-keyring.js';
import type { OneTimeStore } from '../../platform/one-time-store.js';
import type { MfaRepo } from './mfa/mfa-repo.js';
import type { RelyingParty } from './webauthn/assertion.js';
import type { PasskeysRepo } from './webauthn/credentials-repo.js';

/** Who is asking, for sessions and the audit trail. */
export interface RequestMeta {
  ip: string;
  userAgent: string | null;
  /** The service's own request id. */
  requestId: string;
  /** The client's X-Request-Id, when it sent a valid one: recorded beside ours, never as it. */
  clientRequestId?: string;
}

/** The authenticated caller, as the access-token middleware resolved it. */
export interface AuthContext {
  userId: string;
  sessionId: string;
  /** When the user last proved a factor in this session (the token's auth_time). */
  authTime: Date;
  amr: readonly string[];
}

export interface TokenResponse {
  user: PublicUser;
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  expires_in: number;
  /** Login and signup: the device's token, to send back with its next login (device-aware lockout). */
  device_token?: string;
}

export interface SessionView {
  id: string;
  created_at: string;
  last_used_at: string;
  ip: string | null;
  user_agent: string | null;
  current: boolean;
}

export interface AuthServiceDeps {
  knex: Knex;
  users: UsersRepo;
  sessions: SessionsRepo;
  hasher: PasswordHasher;
  checkPassword: (password: string, userInputs: string[]) => PasswordCheck;
  accessTokens: AccessTokens;
  keyring: () => Keyring;
  guard: SessionGuard;
  lockout: LoginLockout;
  audit: AuditLog;
  metrics: Pick<Metrics, 'authSuccessTotal' | 'authFailTotal' | 'mailSuppressedTotal' | 'mfaChallengesTotal'>;
  /** Second factors (issue 20): TOTP and recovery codes, their keyring, the MFA tokens and their own lockout. */
  mfa: { repo: MfaRepo; keyring: () => MfaKeyring; oneTime: OneTimeStore; lockout: LoginLockout; issuer: string };
  accountTokens: AccountTokensRepo;
  /** Known devices (device tokens) for the device-aware lockout. */
  devices: DeviceTokensRepo;
  mail: MailOutbox;
  /** Mails one address may be sent per hour (RATE_LIMIT_MAIL_PER_HOUR), keyed by its keyed hash. */
  mailLimiter: Limiter;
  /** The keyed hash of an address (AUDIT_HASH_KEY): rate-limit keys never hold the address itself. */
  emailKey: (email: string) => string;
  /** Work done after the 202 went out (mail-sending flows: no answer or timing depends on the address). */
  deferred: DeferredWork;
  accounts: {
    emailVerification: 'required' | 'off';
    appUrl: string;
    emailTokenTtlSeconds: number;
    passwordResetTtlSeconds: number;
    reauthMaxAgeSeconds: number;
  };
  logger: Logger;
  clock: Clock;
  refreshTokenTtlSeconds: number;
  refreshReuseGraceSeconds: number;
  /** Absolute session lifetime from its login (s), whatever the refreshes; the refresh TTL is the idle limit. */
  sessionMaxAgeSeconds: number;
  /** Active sessions per user; a new login evicts the least recently used beyond it. */
  maxSessionsPerUser: number;
  /** Single-use values on every replica: WebAuthn challenges (and MFA tokens). */
  oneTime: OneTimeStore;
  /** The WebAuthn relying party (WEBAUTHN_RP_ID, WEBAUTHN_RP_NAME, WEBAUTHN_ORIGINS). */
  webauthn: RelyingParty;
  passkeys: PasskeysRepo;
}
