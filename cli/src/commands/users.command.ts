import { defineGroup, examples } from '../lib/command-kit.js';
import { UsageError } from '../lib/errors.js';
import type { UserAction, UsersOptions } from './users.js';

/** `secops users show|disable|enable|revoke-sessions|mfa-reset|budget|delete|export --email E` (run: ./users.ts). */

const load = () => import('./users.js');

interface UserFlags {
  email: string;
  day?: string;
  month?: string;
  reason?: string;
  operator?: string;
  yes?: boolean;
  out?: string;
}

/** Actions that change or end an account: each needs --reason (in the audit row and on the account). */
const NEEDS_REASON: ReadonlySet<UserAction> = new Set(['disable', 'revoke-sessions', 'mfa-reset', 'delete']);

/** `--day`/`--month` of `users budget`: tokens (0 = unlimited) or `default` (the setting applies again). */
export function budgetValue(text: string | undefined, option: string): number | null | undefined {
  if (text === undefined) return undefined;
  if (text === 'default') return null;
  if (!/^\d{1,12}$/.test(text)) throw new UsageError(`${option} takes a number of tokens (0 = unlimited) or "default"`);
  return Number(text);
}

/** Actions that cannot be undone: each needs --yes, and says what it destroys. */
const NEEDS_YES: ReadonlyMap<UserAction, string> = new Map([
  ['delete', 'secops users delete removes the account and all its data for good: add --yes to confirm'],
  ['mfa-reset', 'secops users mfa-reset deletes the account’s TOTP, recovery codes and passkeys and ends its sessions for good: add --yes to confirm'],
]);

export function usersOptions(action: UserAction, flags: UserFlags): UsersOptions {
  const email = flags.email.trim();
  if (email === '') throw new UsageError('--email must not be empty');
  const reason = flags.reason?.trim();
  if (NEEDS_REASON.has(action) && !reason) throw new UsageError(`secops users ${action} needs --reason TEXT (it goes into the audit trail)`);
  if (reason !== undefined && reason.length > 500) throw new UsageError('--reason is at most 500 characters');
  const operator = flags.operator?.trim();
  if (flags.operator !== undefined && !operator) throw new UsageError('--operator must not be empty');
  const confirm = NEEDS_YES.get(action);
  if (confirm !== undefined && flags.yes !== true) throw new UsageError(confirm);
  const day = budgetValue(flags.day, '--day');
  const month = budgetValue(flags.month, '--month');
  if (action === 'budget' && (day !== undefined || month !== undefined) && !reason)
    throw new UsageError('secops users budget needs --reason TEXT to change a budget (it goes into the audit trail)');
  return { action, email, reason: reason || undefined, operator, out: flags.out, ...(action === 'budget' ? { budget: { day, month } } : {}) };
}

export const usersGroup = defineGroup('users', (program, action) => {
  const users = program
    .command('users')
    .description('one account, as an operator: show, disable/enable, revoke its sessions, reset its second factors, delete, export (audited)')
    .addHelpText(
      'after',
      `${examples(
        'secops users show --email alice@example.com',
        'secops users disable --email alice@example.com --reason "credential stuffing, ticket SEC-42"',
        'secops --json users export --email alice@example.com --out alice.json',
      )}Every action is written to audit_events with the operator's name (--operator, default: the OS user). See runbooks/breach-response.md.\n`,
    );

  const command = (name: UserAction, description: string, lines: string[]) =>
    users
      .command(name)
      .description(description)
      .requiredOption('--email <address>', 'the account’s email address')
      .option('--operator <name>', 'who is acting, for the audit trail (default: $USER)')
      .addHelpText('after', examples(...lines));

  command('show', 'id, email, verified, disabled (and why), created, active sessions, last login, second factors', [
    'secops users show --email alice@example.com',
    'secops --json users show --email alice@example.com | jq .active_sessions',
    'secops --json users show --email alice@example.com | jq .mfa',
  ])
    .option('--reason <text>', 'why you looked (audited)')
    .action(action<UsersOptions, UserFlags>(load, ({ flags }) => usersOptions('show', flags)));

  command('disable', 'refuse the account’s logins and refreshes (403 account_disabled), revoke its sessions and one-time tokens', [
    'secops users disable --email alice@example.com --reason "account takeover, ticket SEC-42"',
  ])
    .option('--reason <text>', 'why (required; stored on the account and audited)')
    .action(action<UsersOptions, UserFlags>(load, ({ flags }) => usersOptions('disable', flags)));

  command('enable', 'let a disabled account sign in again (its revoked sessions stay revoked)', [
    'secops users enable --email alice@example.com --reason "owner verified, ticket SEC-42"',
  ])
    .option('--reason <text>', 'why (audited)')
    .action(action<UsersOptions, UserFlags>(load, ({ flags }) => usersOptions('enable', flags)));

  command('revoke-sessions', 'end every session of the account (refresh tokens deleted; access tokens refused within 1 s)', [
    'secops users revoke-sessions --email alice@example.com --reason "stolen laptop"',
  ])
    .option('--reason <text>', 'why (required; audited)')
    .action(action<UsersOptions, UserFlags>(load, ({ flags }) => usersOptions('revoke-sessions', flags)));

  command('mfa-reset', 'delete the account’s TOTP, recovery codes and passkeys, end its sessions and mail the owner (after verifying who they are)', [
    'secops users mfa-reset --email alice@example.com --reason "lost phone, identity verified, ticket SUP-77" --yes',
  ])
    .option('--reason <text>', 'why, and how the owner was verified (required; audited)')
    .option('--yes', 'confirm: the factors cannot be restored, the owner enrols again')
    .action(action<UsersOptions, UserFlags>(load, ({ flags }) => usersOptions('mfa-reset', flags)));

  command('budget', 'show the account’s model token budgets and usage; with --day/--month, override them (audited; every replica applies it to the next call)', [
    'secops users budget --email alice@example.com',
    'secops users budget --email alice@example.com --day 500000 --reason "pilot customer, ticket SUP-9"',
    'secops users budget --email alice@example.com --day default --month default --reason "pilot over"',
  ])
    .option('--day <tokens>', 'tokens per UTC day (0 = unlimited, "default" = MODEL_TOKENS_PER_DAY)')
    .option('--month <tokens>', 'tokens per UTC month (0 = unlimited, "default" = MODEL_TOKENS_PER_MONTH)')
    .option('--reason <text>', 'why (required to change; audited)')
    .action(action<UsersOptions, UserFlags>(load, ({ flags }) => usersOptions('budget', flags)));

  command('delete', 'delete the account as DELETE /v1/me does: sessions, tokens, conversations, messages (audit rows stay)', [
    'secops users delete --email alice@example.com --reason "erasure request, ticket GDPR-7" --yes',
  ])
    .option('--reason <text>', 'why (required; audited)')
    .option('--yes', 'confirm: this cannot be undone')
    .action(action<UsersOptions, UserFlags>(load, ({ flags }) => usersOptions('delete', flags)));

  command('export', 'the account’s data in the shape of GET /v1/me/export (user, sessions, conversations, messages, audit events)', [
    'secops users export --email alice@example.com --out alice.json',
    'secops users export --email alice@example.com > alice.json',
  ])
    .option('--reason <text>', 'why (audited)')
    .option('--out <file>', 'write the document to this file (created, never overwritten) instead of stdout')
    .action(action<UsersOptions, UserFlags>(load, ({ flags }) => usersOptions('export', flags)));
});
