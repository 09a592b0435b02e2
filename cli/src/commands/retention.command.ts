import { defineGroup, examples } from '../lib/command-kit.js';
import { parseDuration } from '../lib/duration.js';
import { UsageError } from '../lib/errors.js';
import { wholeNumber } from '../lib/option-values.js';
import type { RetentionOptions } from './retention.js';
import type { RetentionReadOptions } from './retention-read.js';

/** `secops retention run` (run: ./retention.ts). */

/** A window under a day is refused: `90s` typed for `90d` would delete almost everything. */
const MINIMUM_WINDOW_MS = 86_400_000;

export interface RetentionFlags {
  olderThan: string;
  archiveDir?: string;
  auditOlderThan?: string;
  batchSize: string;
  dryRun?: boolean;
  encryptKeyFile?: string;
  encryptKeyRef?: string;
}

export function retentionOptions(flags: RetentionFlags): RetentionOptions {
  const window = (text: string, option: string) => {
    const ms = parseDuration(text, option);
    if (ms < MINIMUM_WINDOW_MS) throw new UsageError(`${option} must be at least 1d (got ${text})`);
    return ms;
  };
  const dryRun = flags.dryRun === true;
  if (!dryRun && !flags.archiveDir) throw new UsageError('--archive-dir is required (rows are deleted only once archived there)');
  return {
    olderThanMs: window(flags.olderThan, '--older-than'),
    archiveDir: flags.archiveDir,
    ...(flags.auditOlderThan === undefined ? {} : { auditOlderThanMs: window(flags.auditOlderThan, '--audit-older-than') }),
    batchSize: wholeNumber(flags.batchSize, '--batch-size', 1, 10_000),
    dryRun,
    ...(flags.encryptKeyFile === undefined ? {} : { encryptKeyFile: flags.encryptKeyFile }),
    ...(flags.encryptKeyRef === undefined ? {} : { encryptKeyRef: flags.encryptKeyRef }),
  };
}

export const retentionGroup = defineGroup('retention', (program, action) => {
  const retention = program
    .command('retention')
    .description('archive and delete data older than its retention window')
    .addHelpText('after', examples('secops retention run --older-than 90d --archive-dir /var/archive/rampart'));
  retention
    .command('run')
    .description(
      'archive old messages (and conversations they leave empty) to .jsonl.gz (0600; .jsonl.gz.enc, AES-256-GCM, with a key) with a manifest, then delete them in small batches; resumes an interrupted run',
    )
    .requiredOption('--older-than <duration>', 'messages created before now minus this window, e.g. 90d')
    .option('--archive-dir <dir>', 'where runs are archived, one directory per run (required unless --dry-run)')
    .option('--audit-older-than <duration>', 'also archive audit events older than this (default: keep them all)')
    .option('--batch-size <n>', 'rows per batch: one archive part file and one short transaction each', '500')
    .option('--dry-run', 'count what would be archived; change nothing')
    .option('--encrypt-key-file <file>', 'AES-256-GCM key (32 bytes) to encrypt archive parts with (default: RETENTION_ENCRYPT_KEY_FILE)')
    .option(
      '--encrypt-key-ref <ref>',
      'the key from a secret store instead: vault://…, aws-sm://…, aws-ssm:///…, file:… (default: RETENTION_ENCRYPT_KEY_REF)',
    )
    .addHelpText(
      'after',
      examples(
        'secops retention run --older-than 90d --dry-run',
        'secops retention run --older-than 90d --archive-dir /var/archive/rampart --audit-older-than 400d',
        'RETENTION_ENCRYPT_KEY_FILE=/run/secrets/retention-key secops retention run --older-than 90d --archive-dir /var/archive/rampart',
        'secops --json retention run --older-than 90d | jq .archived',
      ),
    )
    .action(action<RetentionOptions, RetentionFlags>(() => import('./retention.js'), ({ flags }) => retentionOptions(flags)));
  retention
    .command('read')
    .description('print the rows of one archive part, a JSON document a line (an encrypted part needs its key)')
    .requiredOption('--file <part>', 'the part file: <archive-dir>/run-…/<table>-NNNNNN.jsonl.gz[.enc]')
    .option('--encrypt-key-file <file>', 'the archive key (default: RETENTION_ENCRYPT_KEY_FILE)')
    .option('--encrypt-key-ref <ref>', 'the key from a secret store instead (default: RETENTION_ENCRYPT_KEY_REF)')
    .addHelpText(
      'after',
      examples('secops retention read --file /var/archive/rampart/run-20270601120000-a1b2c3/messages-000001.jsonl.gz.enc | jq .content'),
    )
    .action(
      action<RetentionReadOptions, { file: string; encryptKeyFile?: string; encryptKeyRef?: string }>(
        () => import('./retention-read.js'),
        ({ flags }) => ({ file: flags.file, encryptKeyFile: flags.encryptKeyFile, encryptKeyRef: flags.encryptKeyRef }),
      ),
    );
});
