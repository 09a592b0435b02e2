import { Option } from 'commander';
import { defineGroup, examples } from '../lib/command-kit.js';
import { parseDuration } from '../lib/duration.js';
import { UsageError } from '../lib/errors.js';
import { oneOf, wholeNumber } from '../lib/option-values.js';
import type { PitrOptions } from '../lib/pitr/options.js';
import { targetTimeOption } from '../lib/pitr/target-time.js';

/** `secops pitr …` (runs: ./pitr.ts dispatches to ./pitr-<action>.ts). */

const load = () => import('./pitr.js');
const BACKUP_TYPES = ['full', 'diff', 'incr'] as const;
const port = (text: string | undefined) => (text === undefined ? undefined : wholeNumber(text, '--port', 1024, 65_535));

const EXIT_CODES = `
Exit codes: 0 done (drill: exactly the expected markers were restored); 1 failed or a check did not pass
(archiving broken, point outside the window, markers missing or extra); 2 bad arguments, or a restore
target that is the live data directory or port; 78 invalid configuration (PITR_REPO_CIPHER_PASS missing).
`;

export const pitrGroup = defineGroup('pitr', (program, action) => {
  const pitr = program
    .command('pitr')
    .description('point-in-time recovery with pgBackRest: WAL archiving, base backups, restores to a moment, drills')
    .addHelpText(
      'after',
      `${examples(
        'secops pitr setup',
        'secops pitr backup --type full',
        'secops pitr status',
        'secops pitr restore --to 2026-12-06T03:12:00Z --target-dir /var/tmp/rampart-pitr',
        'secops pitr drill --pushgateway https://pushgateway.monitoring:9091',
      )}${EXIT_CODES}`,
    );

  pitr
    .command('setup')
    .description('write the pgBackRest configuration (PITR_*), create the stanza, check the server archives WAL into it')
    .addHelpText('after', `${examples('PITR_REPO_CIPHER_PASS_FILE=/run/secrets/pitr-pass secops pitr setup')}${EXIT_CODES}`)
    .action(action<PitrOptions>(load, () => ({ action: 'setup' })));

  pitr
    .command('backup')
    .description('a base backup into the repository (pgbackrest backup); retention expires old ones and their WAL')
    .addOption(
      new Option('--type <type>', 'full, diff (since the last full) or incr (since the last backup)')
        .choices(BACKUP_TYPES)
        .default('full'),
    )
    .addHelpText('after', `${examples('secops pitr backup --type full', 'secops pitr backup --type incr --json')}${EXIT_CODES}`)
    .action(
      action<PitrOptions, { type: string }>(load, ({ flags }) => ({
        action: 'backup',
        type: oneOf(flags.type, '--type', BACKUP_TYPES),
      })),
    );

  pitr
    .command('status')
    .description('last archived WAL and when, archive lag, the recoverability window, the backups')
    .option('--pushgateway <url>', 'push the archive state (rampart_pitr_* metrics) to this Prometheus Pushgateway (https://; with NODE_ENV=production a plain http:// one is refused unless ALLOW_PLAINTEXT=pushgateway)')
    .addHelpText('after', `${examples('secops pitr status', 'secops pitr status --json | jq .window')}${EXIT_CODES}`)
    .action(
      action<PitrOptions, { pushgateway?: string }>(load, ({ flags }) => ({ action: 'status', pushgateway: flags.pushgateway })),
    );

  pitr
    .command('restore')
    .description('restore to a moment into a SCRATCH cluster (never the live one), replay WAL to it, leave it running')
    .option('--to <timestamp>', 'recover up to this moment, with a time zone (e.g. 2026-12-06T03:12:00Z)')
    .option('--to-latest', 'recover every archived WAL')
    .requiredOption('--target-dir <dir>', 'empty directory for the scratch cluster (not the live data directory)')
    .option('--port <n>', 'port of the scratch cluster (its socket only; default: a free one)')
    .option('--timeout <duration>', 'give up when restore + replay take longer', '30m')
    .addHelpText(
      'after',
      `${examples(
        'secops pitr restore --to "2026-12-06 03:11:30+00" --target-dir /var/tmp/pitr-before-deploy',
        'secops pitr restore --to-latest --target-dir /var/tmp/pitr-latest --json',
      )}${EXIT_CODES}`,
    )
    .action(
      action<PitrOptions, { to?: string; toLatest?: boolean; targetDir: string; port?: string; timeout: string }>(
        load,
        ({ flags }) => {
          if ((flags.to === undefined) === (flags.toLatest !== true))
            throw new UsageError('give exactly one of --to <timestamp> and --to-latest');
          return {
            action: 'restore',
            to: flags.to === undefined ? { kind: 'latest' } : { kind: 'time', time: targetTimeOption(flags.to) },
            targetDir: flags.targetDir,
            port: port(flags.port),
            timeoutMs: parseDuration(flags.timeout, '--timeout'),
          };
        },
      ),
    );

  pitr
    .command('drill')
    .description(
      'write marker rows, restore a random moment between them into a scratch cluster, prove exactly the earlier ones are there',
    )
    .option('--markers <n>', 'marker rows to write (one transaction each)', '5')
    .option('--marker-interval <duration>', 'time between markers', '1s')
    .option('--scratch-dir <dir>', 'parent directory of the scratch cluster (default: the OS temp directory)')
    .option('--port <n>', 'port of the scratch cluster (its socket only; default: a free one)')
    .option('--timeout <duration>', 'bound on each wait: archiving, restore, replay', '30m')
    .option('--pushgateway <url>', 'push the outcome (rampart_pitr_drill_* metrics) to this Prometheus Pushgateway (https://; with NODE_ENV=production a plain http:// one is refused unless ALLOW_PLAINTEXT=pushgateway)')
    .addHelpText(
      'after',
      `${examples('secops pitr drill', 'secops pitr drill --markers 10 --json', 'secops pitr drill --pushgateway https://pushgateway.monitoring:9091')}${EXIT_CODES}`,
    )
    .action(
      action<
        PitrOptions,
        { markers: string; markerInterval: string; scratchDir?: string; port?: string; timeout: string; pushgateway?: string }
      >(load, ({ flags }) => ({
        action: 'drill',
        markers: wholeNumber(flags.markers, '--markers', 2, 1000),
        markerIntervalMs: parseDuration(flags.markerInterval, '--marker-interval'),
        scratchDir: flags.scratchDir,
        port: port(flags.port),
        timeoutMs: parseDuration(flags.timeout, '--timeout'),
        pushgateway: flags.pushgateway,
      })),
    );
});
