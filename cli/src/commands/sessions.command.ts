import { defineGroup, examples } from '../lib/command-kit.js';
import { UsageError } from '../lib/errors.js';
import type { SessionsOptions } from './sessions.js';

/** `secops sessions revoke-all` (run: ./sessions.ts). */

const load = () => import('./sessions.js');

interface RevokeAllFlags {
  reason?: string;
  operator?: string;
  yes?: boolean;
}

export function revokeAllOptions(flags: RevokeAllFlags): SessionsOptions {
  const reason = flags.reason?.trim();
  if (!reason) throw new UsageError('secops sessions revoke-all needs --reason TEXT (it goes into the audit trail)');
  if (reason.length > 500) throw new UsageError('--reason is at most 500 characters');
  const operator = flags.operator?.trim();
  if (flags.operator !== undefined && !operator) throw new UsageError('--operator must not be empty');
  if (flags.yes !== true) throw new UsageError('secops sessions revoke-all signs every user out: add --yes to confirm');
  return { action: 'revoke-all', reason, operator };
}

export const sessionsGroup = defineGroup('sessions', (program, action) => {
  const sessions = program
    .command('sessions')
    .description('every user’s sessions at once, after a breach (audited)')
    .addHelpText('after', `${examples('secops sessions revoke-all --reason "token store leaked, INC-12" --yes')}See runbooks/breach-response.md.\n`);

  sessions
    .command('revoke-all')
    .description('revoke every active session of every user and delete their refresh tokens; everyone logs in again')
    .option('--reason <text>', 'why (required; audited)')
    .option('--operator <name>', 'who is acting, for the audit trail (default: $USER)')
    .option('--yes', 'confirm: every user is signed out')
    .addHelpText(
      'after',
      `${examples(
        'secops sessions revoke-all --reason "refresh tokens leaked, INC-12" --yes',
        'secops --json sessions revoke-all --reason "INC-12" --yes | jq .sessions_revoked',
      )}Access tokens of the revoked sessions are refused by every replica within 1 s. A token forged with a
leaked signing key stays verifiable up to ACCESS_TOKEN_TTL_SECONDS until the keys are rotated and the
old one removed: secops keys rotate stage; secops keys rotate promote --replica …; secops keys remove <old kid>
(runbooks/secret-rotation.md).\n`,
    )
    .action(action<SessionsOptions, RevokeAllFlags>(load, ({ flags }) => revokeAllOptions(flags)));
});
