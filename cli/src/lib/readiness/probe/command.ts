import type { CliContext } from '../../context.js';
import { CliError, EXIT, UsageError } from '../../errors.js';
import type { Reporter } from '../../output.js';
import { operatorAudit } from '../../users/operator.js';
import type { CheckResult } from '../http.js';
import { probeChecks } from '../probe.js';
import { PROBE_OPERATOR } from './account.js';

/**
 * `secops readiness --probe-account` as the command runs it: the service's database and settings
 * (REFRESH_REUSE_GRACE_SECONDS, MAX_REQUEST_SIZE_BYTES, AUDIT_HASH_KEY) read the service's way, Ctrl-C
 * and SIGTERM wired to the probe, which deletes its account before it returns; an interrupted run then
 * ends with exit 1 and the cleanup's evidence.
 */
export async function probeAccountChecks(
  ctx: CliContext,
  out: Reporter,
  options: { url: URL; timeoutMs: number; domain?: string },
): Promise<CheckResult[]> {
  const config = await ctx.config();
  if (config.source('DATABASE_URL').kind === 'none') {
    throw new UsageError(
      '--probe-account needs the production database (--database-url or DATABASE_URL), as the service’s own role: it verifies and deletes its account there',
    );
  }
  const settings = config.read(['REFRESH_REUSE_GRACE_SECONDS', 'MAX_REQUEST_SIZE_BYTES']);
  const { emailHashKey } = await operatorAudit(ctx, out, PROBE_OPERATOR);
  const db = await ctx.database();
  const controller = new AbortController();
  const abort = () => controller.abort();
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  try {
    if (db.kind !== 'postgres')
      throw new UsageError(
        '--probe-account: the configured database is the embedded PGlite; point --database-url at the production PostgreSQL',
      );
    const results = await out.step(`driving a probe account through ${options.url.origin}`, () =>
      probeChecks({
        url: options.url,
        timeoutMs: options.timeoutMs,
        database: db,
        domain: options.domain,
        emailHashKey,
        refreshReuseGraceSeconds: settings.REFRESH_REUSE_GRACE_SECONDS,
        maxRequestSizeBytes: settings.MAX_REQUEST_SIZE_BYTES,
        signal: controller.signal,
      }),
    );
    if (controller.signal.aborted) {
      const cleanup = results.find((r) => r.id === 'probe.cleanup');
      throw new CliError(`readiness: interrupted; probe cleanup ${cleanup?.status}: ${cleanup?.evidence}`, {
        exitCode: EXIT.failed,
        code: 'interrupted',
      });
    }
    return results;
  } finally {
    process.removeListener('SIGINT', abort);
    process.removeListener('SIGTERM', abort);
    await db.close();
  }
}
