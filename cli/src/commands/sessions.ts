import { revokeAllSessions } from '../../../service/src/public/auth.js';
import type { CliContext } from '../lib/context.js';
import { createReporter } from '../lib/output.js';
import { operatorAudit } from '../lib/users/operator.js';

/**
 * `secops sessions revoke-all`: every active session of every user revoked and its unrotated refresh
 * tokens deleted, in one transaction audited as `operator_all_sessions_revoked`.
 */

export interface SessionsOptions {
  action: 'revoke-all';
  reason: string;
  /** undefined → $USER, else the OS user. */
  operator?: string;
}

/** What the operator does next to cut off access tokens as such (runbooks/breach-response.md). */
export const KILL_LIVE_ACCESS_TOKENS = [
  'secops keys rotate stage',
  'secops keys rotate promote --replica http://<pod>:9464 …',
  'secops keys remove <old kid>',
  'secops keys list',
] as const;

export async function run(options: SessionsOptions, ctx: CliContext): Promise<unknown> {
  const out = createReporter(ctx);
  const audit = { ...(await operatorAudit(ctx, out, options.operator)), reason: options.reason };
  const config = await (await ctx.config()).service();
  const ttl = config.jwt.accessTokenTtlSeconds;
  const db = await ctx.database();
  let r: Awaited<ReturnType<typeof revokeAllSessions>>;
  try {
    r = await out.step('Revoking every active session of every user', () => revokeAllSessions(db.knex, options.reason, new Date(), audit));
  } finally {
    await db.close();
  }
  const note =
    `Access tokens of the revoked sessions are refused by every replica within 1 s (the session guard), but access tokens ` +
    `as such stay valid up to ACCESS_TOKEN_TTL_SECONDS (${ttl} s) — a token forged with a leaked signing key included — unless ` +
    'the JWT signing keys are rotated and the old ones removed (runbooks/secret-rotation.md, runbooks/breach-response.md).';
  const result = {
    operator: audit.operator,
    reason: options.reason,
    ...r,
    access_token_ttl_seconds: ttl,
    access_tokens_note: note,
    kill_live_access_tokens: [...KILL_LIVE_ACCESS_TOKENS],
  };
  out.json(result);
  out.success(`${r.sessions_revoked} session(s) of ${r.users} user(s) revoked, ${r.refresh_tokens_deleted} refresh token(s) deleted: everyone logs in again`);
  out.line(note);
  out.line('To kill every live access token at once:');
  for (const c of KILL_LIVE_ACCESS_TOKENS) out.line(`  ${c}`);
  return result;
}
