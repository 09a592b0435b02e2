import { isNpmAuditReport, type OsvRecord, osvFromNpmAudit } from './advisories.js';
import { runFile } from './exec.js';

/** `npm audit --json --omit=dev` with a short timeout; its exit code is 1 whenever it finds something. */
export async function npmAuditRecords(cwd: string): Promise<{ records?: OsvRecord[]; reason: string }> {
  const result = await runFile('npm', ['audit', '--json', '--omit=dev', '--fetch-timeout=10000', '--fetch-retries=0'], {
    cwd,
    timeoutMs: 20_000,
  });
  if (result.spawnError) return { reason: `cannot run npm: ${result.spawnError.message}` };
  if (result.timedOut) return { reason: 'timed out after 20 s' };
  let document: unknown;
  try {
    document = JSON.parse(result.stdout);
  } catch {
    return { reason: `npm audit printed no JSON (exit ${result.code})` };
  }
  if (isNpmAuditReport(document)) return { records: osvFromNpmAudit(document), reason: '' };
  const d = document as { statusCode?: number; message?: string; error?: { summary?: string } };
  return {
    reason: d.statusCode
      ? `HTTP ${d.statusCode} from the advisory endpoint`
      : (d.message ?? d.error?.summary ?? 'unexpected answer'),
  };
}
