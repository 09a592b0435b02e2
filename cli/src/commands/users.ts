import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import type { Database } from '../../../service/src/public/db.js';
import {
  canonicalEmail,
  deleteAccount,
  disableAccount,
  enableAccount,
  exportAccount,
  findAccount,
  type MfaSummary,
  mfaSummary,
  type OperatorAccount,
  OperatorActionError,
  type OperatorAudit,
  recordOperatorEvent,
  resetMfa,
  revokeSessions,
} from '../../../service/src/public/auth.js';
import { type BudgetOverride, budgetOverrideOf, setBudgetOverride, userUsage } from '../../../service/src/public/chat.js';
import { createOutboxWriter } from '../../../service/src/public/mail.js';
import type { CliContext } from '../lib/context.js';
import { CliError, EXIT, UsageError } from '../lib/errors.js';
import { createReporter, type Reporter } from '../lib/output.js';
import { operatorAudit } from '../lib/users/operator.js';

/**
 * `secops users …`: one account, as an operator. Each action is one transaction in the service's own
 * functions (service/src/components/auth/operator-actions.ts) and writes its audit row in it, with the
 * operator's name, the reason, and the address's keyed hash (AUDIT_HASH_KEY, as the service writes it).
 */

export type UserAction = 'show' | 'disable' | 'enable' | 'revoke-sessions' | 'mfa-reset' | 'budget' | 'delete' | 'export';

export interface UsersOptions {
  action: UserAction;
  email: string;
  reason?: string;
  /** undefined → $USER, else the OS user. */
  operator?: string;
  /** export: the file to write (else stdout). */
  out?: string;
  /** budget: the windows to set (undefined: unchanged; null: back to the setting). */
  budget?: { day?: number | null; month?: number | null };
}

export async function run(options: UsersOptions, ctx: CliContext): Promise<unknown> {
  const out = createReporter(ctx);
  let email: string;
  try {
    email = canonicalEmail(options.email);
  } catch (err) {
    if (err instanceof OperatorActionError) throw new UsageError(`--email: ${err.message}`);
    throw err;
  }
  const audit: OperatorAudit = { ...(await operatorAudit(ctx, out, options.operator)), reason: options.reason };
  const db = await ctx.database();
  try {
    const account = await findAccount(db.knex, email);
    if (!account) throw new CliError(`no account has the address ${email}`, { exitCode: EXIT.failed, code: 'unknown_account' });
    switch (options.action) {
      case 'show':
        return await show(db, account, audit, out);
      case 'disable':
        return await disable(db, account, options.reason as string, audit, out);
      case 'enable':
        return await enable(db, account, audit, out);
      case 'revoke-sessions':
        return await revoke(db, account, options.reason as string, audit, out);
      case 'mfa-reset':
        return await mfaReset(db, account, options.reason as string, audit, ctx, out);
      case 'delete':
        return await remove(db, account, audit, out);
      case 'budget':
        return await budget(db, account, options.budget ?? {}, audit, ctx, out);
      case 'export':
        return await exportTo(db, account, audit, options.out, ctx, out);
    }
  } finally {
    await db.close();
  }
}

function describe(a: OperatorAccount, mfa?: MfaSummary): string[] {
  return [
    `id:              ${a.id}`,
    `email:           ${a.email}`,
    `verified:        ${a.email_verified_at ? `yes (${a.email_verified_at})` : 'no'}`,
    `disabled:        ${a.disabled_at ? `yes (${a.disabled_at}): ${a.disabled_reason ?? ''}` : 'no'}`,
    `created:         ${a.created_at}`,
    `active sessions: ${a.active_sessions}`,
    `last login:      ${a.last_login_at ?? 'never'}`,
    ...(mfa ? [`mfa:             totp ${mfa.totp}, ${mfa.recovery_codes_left} recovery code(s) left, ${mfa.passkeys} passkey(s)`] : []),
  ];
}

async function show(db: Database, account: OperatorAccount, audit: OperatorAudit, out: Reporter) {
  await recordOperatorEvent(db.knex, 'operator_user_shown', account, audit);
  const mfa = await mfaSummary(db.knex, account.id);
  const result = { operator: audit.operator, ...account, mfa };
  out.json(result);
  for (const line of describe(account, mfa)) out.line(line);
  return result;
}

/** Shows the account's token budgets and usage; with a change, sets the override (audited) first. */
async function budget(db: Database, account: OperatorAccount, change: { day?: number | null; month?: number | null }, audit: OperatorAudit, ctx: CliContext, out: Reporter) {
  const settings = (await ctx.config()).read(['MODEL_TOKENS_PER_DAY', 'MODEL_TOKENS_PER_MONTH']);
  const now = new Date();
  const changing = change.day !== undefined || change.month !== undefined;
  let before: BudgetOverride | undefined;
  if (changing) {
    const r = await out.step(`Setting the token budgets of ${account.email}`, () =>
      db.knex.transaction(async (trx) => {
        const set = await setBudgetOverride(trx, account.id, change, audit.operator, now);
        await recordOperatorEvent(trx, 'operator_budget_set', account, audit, { before: set.before, after: set.after }, now);
        return set;
      }),
    );
    before = r.before;
  }
  const override = await budgetOverrideOf(db.knex, account.id);
  const used = await userUsage(db.knex, account.id, now);
  const limit = (own: number | null, setting: number) => {
    const value = own ?? setting;
    return value === 0 ? null : value;
  };
  const result = {
    operator: audit.operator,
    email: account.email,
    override,
    ...(before ? { previous_override: before } : {}),
    day: { used: used.day, limit: limit(override.tokens_per_day, settings.MODEL_TOKENS_PER_DAY) },
    month: { used: used.month, limit: limit(override.tokens_per_month, settings.MODEL_TOKENS_PER_MONTH) },
  };
  out.json(result);
  const show = (w: { used: number; limit: number | null }, own: number | null) =>
    `${w.used} of ${w.limit ?? 'unlimited'} token(s)${own === null ? ' (the setting)' : ' (override)'}`;
  if (changing) out.success(`${account.email}'s budgets set; every replica applies them to the next model call`);
  out.line(`today (UTC): ${show(result.day, override.tokens_per_day)}`);
  out.line(`this month (UTC): ${show(result.month, override.tokens_per_month)}`);
  return result;
}

async function disable(db: Database, account: OperatorAccount, reason: string, audit: OperatorAudit, out: Reporter) {
  const r = await out.step(`Disabling ${account.email}`, () => disableAccount(db.knex, account.id, reason, new Date(), audit));
  if (!r) throw new CliError(`the account ${account.email} was deleted meanwhile`, { code: 'unknown_account' });
  const result = { operator: audit.operator, reason, already_disabled: !r.changed, sessions_revoked: r.sessions_revoked, account_tokens_invalidated: r.account_tokens_invalidated, account: r.account };
  out.json(result);
  if (r.changed) out.success(`${account.email} is disabled: logins answer 403 account_disabled, refreshes are refused`);
  else out.line(`${account.email} was already disabled (since ${r.account.disabled_at}; reason kept: ${r.account.disabled_reason ?? ''})`);
  out.line(`${r.sessions_revoked} session(s) revoked (every replica refuses their access tokens within 1 s), ${r.account_tokens_invalidated} one-time token(s) invalidated`);
  return result;
}

async function enable(db: Database, account: OperatorAccount, audit: OperatorAudit, out: Reporter) {
  const r = await out.step(`Enabling ${account.email}`, () => enableAccount(db.knex, account.id, new Date(), audit));
  if (!r) throw new CliError(`the account ${account.email} was deleted meanwhile`, { code: 'unknown_account' });
  const result = { operator: audit.operator, reason: audit.reason ?? null, was_disabled: r.changed, account: r.account };
  out.json(result);
  if (r.changed) out.success(`${account.email} can sign in again (sessions revoked earlier stay revoked)`);
  else out.line(`${account.email} was not disabled: nothing changed`);
  return result;
}

async function revoke(db: Database, account: OperatorAccount, reason: string, audit: OperatorAudit, out: Reporter) {
  const r = await out.step(`Revoking every session of ${account.email}`, () => revokeSessions(db.knex, account.id, reason, new Date(), audit));
  if (!r) throw new CliError(`the account ${account.email} was deleted meanwhile`, { code: 'unknown_account' });
  const result = { operator: audit.operator, reason, user_id: account.id, ...r };
  out.json(result);
  out.success(
    `${r.sessions_revoked} session(s) of ${account.email} revoked, ${r.refresh_tokens_deleted} refresh token(s) deleted; every replica refuses their access tokens within 1 s`,
  );
  return result;
}

async function mfaReset(db: Database, account: OperatorAccount, reason: string, audit: OperatorAudit, ctx: CliContext, out: Reporter) {
  // The notice is written to the outbox in the reset's transaction; the service's senders deliver it.
  const config = await (await ctx.config()).service();
  const notice = { outbox: createOutboxWriter(config.mail.from), appUrl: config.accounts.appUrl };
  const r = await out.step(`Resetting the second factors of ${account.email}`, () => resetMfa(db.knex, account.id, reason, notice, new Date(), audit));
  if (!r) throw new CliError(`the account ${account.email} was deleted meanwhile`, { code: 'unknown_account' });
  const result = { operator: audit.operator, reason, user_id: account.id, ...r, notice_mailed: true };
  out.json(result);
  const { totp, recovery_codes, passkeys } = r.removed;
  out.success(`second factors of ${account.email} reset: TOTP ${totp === 'off' ? 'none' : `removed (was ${totp})`}, ${recovery_codes} recovery code(s) and ${passkeys} passkey(s) deleted`);
  out.line(`${r.sessions_revoked} session(s) revoked (every replica refuses their access tokens within 1 s); the owner is mailed a notice and signs in with the password alone until they enrol again`);
  return result;
}

async function remove(db: Database, account: OperatorAccount, audit: OperatorAudit, out: Reporter) {
  const r = await out.step(`Deleting ${account.email}`, () => deleteAccount(db.knex, account.id, new Date(), audit));
  if (!r) throw new CliError(`the account ${account.email} was deleted meanwhile`, { code: 'unknown_account' });
  const result = { operator: audit.operator, reason: audit.reason ?? null, user_id: account.id, deleted: true, ...r };
  out.json(result);
  out.success(
    `${account.email} deleted with its ${r.sessions_deleted} session(s) and ${r.conversations_deleted} conversation(s); the audit trail keeps its rows (user id ${account.id})`,
  );
  return result;
}

async function exportTo(db: Database, account: OperatorAccount, audit: OperatorAudit, file: string | undefined, ctx: CliContext, out: Reporter) {
  const pieces = exportAccount(db.knex, account.id, new Date(), audit);
  if (file === undefined) {
    // The document itself is the output, in either mode (under --json it is the one document).
    for await (const piece of pieces) ctx.stdout.write(piece);
    ctx.stdout.write('\n');
    return undefined;
  }
  // Created, never overwritten; readable by the operator only (it holds the user's messages).
  const stream = createWriteStream(file, { flags: 'wx', mode: 0o600 });
  try {
    await once(stream, 'open');
  } catch (err) {
    throw new CliError(`cannot create ${file}: ${(err as Error).message}`, { code: 'export_not_written', cause: err });
  }
  let bytes = 0;
  try {
    for await (const piece of pieces) {
      bytes += Buffer.byteLength(piece);
      if (!stream.write(piece)) await once(stream, 'drain');
    }
    stream.end('\n');
    await finished(stream);
  } catch (err) {
    stream.destroy();
    throw err;
  }
  const result = { operator: audit.operator, user_id: account.id, file, bytes: bytes + 1 };
  out.json(result);
  out.success(`the export of ${account.email} is in ${file} (${bytes + 1} bytes, mode 600)`);
  return result;
}
