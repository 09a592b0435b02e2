import { userInfo } from 'node:os';
import type { OperatorAudit } from '../../../../service/src/public/auth.js';
import type { CliContext } from '../context.js';
import type { Reporter } from '../output.js';

/**
 * Who acts and the key of the audit trail's email hashes. The name is `--operator`, else $USER, else
 * the OS user. The key is the service's AUDIT_HASH_KEY (read the service's way: inline, _FILE or _REF),
 * so the rows written here match the service's own. Outside production an unset key is allowed: the
 * rows then get no email_hash (null), and the operator is told.
 */
export async function operatorAudit(ctx: CliContext, out: Reporter, name?: string): Promise<Omit<OperatorAudit, 'reason'>> {
  const operator = name ?? (ctx.env.USER?.trim() || osUser());
  const config = await (await ctx.config()).service();
  if (config.audit.hashKeyEphemeral) {
    out.warn('AUDIT_HASH_KEY is not set: this action’s audit row gets no email_hash (null); set it as the service has it');
    return { operator };
  }
  return { operator, emailHashKey: config.audit.hashKey.reveal() };
}

function osUser(): string {
  try {
    return userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}
