import { type UsageReportRow, usageReport } from '../../../service/src/public/chat.js';
import type { CliContext } from '../lib/context.js';
import { createReporter } from '../lib/output.js';

/** `secops usage report`: the usage ledger summed per user or per model over a period. */
export interface UsageOptions {
  action: 'report';
  from: Date;
  to: Date;
  by: 'user' | 'model';
  csv: boolean;
}

const COLUMNS = ['key', 'calls', 'prompt_tokens', 'completion_tokens', 'total_tokens', 'estimated_calls', 'failed_calls'] as const;

/** RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled. */
const csvField = (v: string | number) => (/[",\r\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));

export async function run(options: UsageOptions, ctx: CliContext): Promise<unknown> {
  const out = createReporter(ctx);
  const db = await ctx.database();
  let rows: UsageReportRow[];
  try {
    rows = await out.step(`Summing the usage ledger by ${options.by}`, () => usageReport(db.knex, options));
  } finally {
    await db.close();
  }
  const totals = rows.reduce((t, r) => ({ calls: t.calls + r.calls, tokens: t.tokens + r.total_tokens }), { calls: 0, tokens: 0 });
  const result = { from: options.from.toISOString(), to: options.to.toISOString(), by: options.by, rows, totals };
  out.json(result);
  if (options.csv && !ctx.json) {
    const header = [options.by === 'user' ? 'user_id' : 'model', ...COLUMNS.slice(1)].join(',');
    ctx.stdout.write(`${[header, ...rows.map((r) => COLUMNS.map((c) => csvField(r[c])).join(','))].join('\n')}\n`);
    return result;
  }
  out.line(`Model usage ${result.from} → ${result.to}, by ${options.by}: ${totals.calls} call(s), ${totals.tokens} token(s)`);
  for (const r of rows) {
    out.line(`  ${r.key}  calls=${r.calls} prompt=${r.prompt_tokens} completion=${r.completion_tokens} total=${r.total_tokens}${r.estimated_calls ? ` estimated=${r.estimated_calls}` : ''}${r.failed_calls ? ` failed=${r.failed_calls}` : ''}`);
  }
  return result;
}
