import { defineGroup, examples } from '../lib/command-kit.js';
import { parseDuration } from '../lib/duration.js';
import { UsageError } from '../lib/errors.js';
import { httpUrl, optionalWholeNumber, wholeNumber } from '../lib/option-values.js';
import type { FailoverDrillCommandOptions } from './failover.js';

/** `secops failover drill` (run: ./failover.ts). */

interface DrillFlags {
  url: string;
  email: string;
  failCommand: string;
  promoteCommand?: string;
  rate: string;
  concurrency: string;
  warmup: string;
  settle: string;
  recoveryTimeout: string;
  commandTimeout: string;
  requestTimeout: string;
  maxLost?: string;
  maxRto?: string;
  keepWrites?: boolean;
}

/** The drill account's password: from the environment only (never argv, never printed). */
const PASSWORD_VARIABLE = 'FAILOVER_DRILL_PASSWORD';

export function drillOptions(flags: DrillFlags): FailoverDrillCommandOptions {
  if (!flags.failCommand.trim()) throw new UsageError('--fail-command must not be empty');
  const rate = Number(flags.rate);
  if (!Number.isFinite(rate) || rate <= 0 || rate > 1000)
    throw new UsageError('--rate must be a number of writes per second, more than 0 and at most 1000');
  const positive = (text: string, option: string) => {
    const ms = parseDuration(text, option);
    if (ms <= 0) throw new UsageError(`${option} must be more than 0`);
    return ms;
  };
  return {
    url: httpUrl(flags.url, '--url'),
    email: flags.email,
    failCommand: flags.failCommand,
    promoteCommand: flags.promoteCommand?.trim() ? flags.promoteCommand : undefined,
    rate,
    concurrency: wholeNumber(flags.concurrency, '--concurrency', 1, 64),
    warmupMs: positive(flags.warmup, '--warmup'),
    settleMs: positive(flags.settle, '--settle'),
    recoveryTimeoutMs: positive(flags.recoveryTimeout, '--recovery-timeout'),
    commandTimeoutMs: positive(flags.commandTimeout, '--command-timeout'),
    requestTimeoutMs: positive(flags.requestTimeout, '--request-timeout'),
    maxLost: optionalWholeNumber(flags.maxLost, '--max-lost', 0, Number.MAX_SAFE_INTEGER),
    maxRtoMs: flags.maxRto === undefined ? undefined : positive(flags.maxRto, '--max-rto'),
    keepWrites: flags.keepWrites === true,
  };
}

export const failoverGroup = defineGroup('failover', (program, action) => {
  const failover = program
    .command('failover')
    .description('database failover: a drill that fails the primary under write load and measures what clients lose');
  failover
    .command('drill')
    .description(
      'write through the service, fail the primary, promote the replica, keep writing: report writes acknowledged and lost, RTO, and time from promotion to the first write',
    )
    .requiredOption('--url <url>', 'the service’s base URL (staging: the drill writes there)')
    .requiredOption('--email <email>', `the drill account (no MFA); its password comes from ${PASSWORD_VARIABLE}`)
    .requiredOption('--fail-command <shell command>', 'fails the primary (e.g. stops it); run with /bin/sh -c')
    .option(
      '--promote-command <shell command>',
      'promotes the replica; omit when the platform promotes by itself (Patroni, a managed failover)',
    )
    .option('--rate <writes/s>', 'writes per second in all (stay under RATE_LIMIT_USER_PER_MINUTE / 60)', '4')
    .option('--concurrency <n>', 'writers in flight at once', '2')
    .option('--warmup <duration>', 'writes before the failure', '10s')
    .option('--settle <duration>', 'writes after the first write acknowledged by the new primary', '5s')
    .option('--recovery-timeout <duration>', 'give up when no write succeeds this long after the failure', '2m')
    .option('--command-timeout <duration>', 'each of --fail-command and --promote-command is killed after this', '2m')
    .option('--request-timeout <duration>', 'each write gives up after this (counted as "no answer")', '5s')
    .option('--max-lost <n>', 'exit 1 when more acknowledged writes than this are lost (default: report only)')
    .option('--max-rto <duration>', 'exit 1 when the first write after the failure took longer than this (default: report only)')
    .option('--keep-writes', 'leave the drill’s conversations in place (default: deleted afterwards through the API)')
    .addHelpText(
      'after',
      `
Needs the database (DATABASE_URL, --database-url, or _FILE/_REF) to look the acknowledged writes up
after the drill: list every server (postgres://u@primary:5432,replica:5432/db?target_session_attrs=read-write)
so the lookup reaches the new primary. Exit codes: 0 the drill ran (and met --max-lost/--max-rto),
1 a threshold was missed or the service never wrote again, 2 usage, 78 configuration.${examples(
        `FAILOVER_DRILL_PASSWORD=… secops failover drill --url https://staging.example.com --email drill@example.com \\
    --fail-command 'ssh db1 sudo systemctl stop postgresql' --promote-command 'ssh db2 sudo pg_ctlcluster 15 main promote'`,
        `secops --json failover drill --url https://staging.example.com --email drill@example.com \\
    --fail-command 'ssh db1 sudo systemctl stop patroni' --max-lost 0 --max-rto 45s`,
      )}`,
    )
    .action(
      action<FailoverDrillCommandOptions, DrillFlags>(
        () => import('./failover.js'),
        ({ flags }) => drillOptions(flags),
      ),
    );
});
