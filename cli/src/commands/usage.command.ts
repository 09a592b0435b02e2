import { Option } from 'commander';
import { defineGroup, examples } from '../lib/command-kit.js';
import { UsageError } from '../lib/errors.js';
import type { UsageOptions } from './usage.js';

/** `secops usage report` (run: ./usage.ts). */

const load = () => import('./usage.js');

interface ReportFlags {
  from: string;
  to?: string;
  by: 'user' | 'model';
  csv?: boolean;
}

/** A UTC date (YYYY-MM-DD, the day's start) or an ISO 8601 instant. */
export function parseInstant(text: string, option: string): Date {
  const day = /^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text;
  const t = Date.parse(day);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(t)) throw new UsageError(`${option} must be a date (2026-12-01) or an ISO 8601 time (2026-12-01T08:00:00Z)`);
  return new Date(t);
}

export function reportOptions(flags: ReportFlags, now: Date = new Date()): UsageOptions {
  const from = parseInstant(flags.from, '--from');
  const to = flags.to === undefined ? now : parseInstant(flags.to, '--to');
  if (to.getTime() <= from.getTime()) throw new UsageError('--to must be after --from');
  return { action: 'report', from, to, by: flags.by, csv: flags.csv === true };
}

export const usageGroup = defineGroup('usage', (program, action) => {
  program
    .command('usage')
    .description('model usage from the ledger (model_usage): tokens per user or per model over a period')
    .addHelpText('after', examples('secops usage report --from 2026-12-01 --by model'))
    .command('report')
    .description('tokens, calls, estimated and failed calls between --from and --to, biggest first')
    .requiredOption('--from <date>', 'start (inclusive): YYYY-MM-DD (UTC) or an ISO 8601 time')
    .option('--to <date>', 'end (exclusive); default: now')
    .addOption(new Option('--by <what>', 'one row per user or per provider/model').choices(['user', 'model']).default('user'))
    .option('--csv', 'CSV on stdout (a header line, then one line per row)')
    .addHelpText(
      'after',
      examples(
        'secops usage report --from 2026-12-01 --to 2027-01-01 --by model',
        'secops usage report --from 2026-12-06 --by user --csv > usage.csv',
        "secops --json usage report --from 2026-12-06 | jq '.rows[0]'",
      ),
    )
    .action(action<UsageOptions, ReportFlags>(load, ({ flags }) => reportOptions(flags)));
});
