import type { OperatorAudit } from '../../../../../service/src/public/auth.js';
import type { Database } from '../../../../../service/src/public/db.js';
import type { CheckResult } from '../http.js';
import type { ProbeIdentity } from './account.js';
import { failed, type ProbeCheckId } from './checks.js';
import type { Answer, ProbeClient } from './client.js';

/** What the probe's steps share: the run's identity, client and database, and what one check hands the next. */

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
export const USER_LIMIT_READS = 30;

export interface Pair {
  access: string;
  refresh: string;
}

/** What one check hands the next. */
export interface Run {
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

export const pairOf = (a: Answer): Pair | undefined =>
  typeof a.json?.access_token === 'string' && typeof a.json.refresh_token === 'string'
    ? { access: a.json.access_token, refresh: a.json.refresh_token }
    : undefined;
export const deviceOf = (a: Answer): string | undefined =>
  typeof a.json?.device_token === 'string' ? a.json.device_token : undefined;

/** Runs one check's body; an error (not an interrupt) fails that check with what was being done. */
export async function check(run: Run, id: ProbeCheckId, body: () => Promise<CheckResult>): Promise<void> {
  try {
    run.results.set(id, await body());
  } catch (err) {
    if (run.signal.aborted) throw err;
    run.results.set(id, failed(id, `request failed: ${(err as Error).message}`));
  }
}

export const loginBody = (run: Run, password: string, device?: string) => ({
  json: { email: run.id.email, password, ...(device ? { device_token: device } : {}) },
});
