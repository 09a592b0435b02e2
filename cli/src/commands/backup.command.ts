import { type Command, Option } from 'commander';
import type { BackupOptions } from '../lib/backup/options.js';
import { defineGroup, examples } from '../lib/command-kit.js';
import { DEFAULT_ROLES } from '../lib/db-roles/defaults.js';
import { validateName } from '../lib/db-roles/identifiers.js';
import { parseDuration } from '../lib/duration.js';
import { oneOf, wholeNumber } from '../lib/option-values.js';

/** `secops backup …` (runs: ./backup.ts dispatches to ./backup-<action>.ts). */

const load = () => import('./backup.js');
const CHECKSUMS = ['sha256-copy', 'sha256-binary', 'sha256', 'sum64', 'ordered'] as const;

interface KeyFlags {
  encryptKeyFile?: string;
  encryptKeyRef?: string;
}

const backupDir = (command: Command) =>
  command.option('--dir <dir>', 'parent directory of backups (default: BACKUP_DIR, else ./backups)');
const jobs = (command: Command, what: string) => command.option('--jobs <n>', what, '2');
const encryptionKey = (command: Command, what: string) =>
  command
    .option('--encrypt-key-file <file>', `${what} (default: BACKUP_ENCRYPT_KEY_FILE)`)
    .option(
      '--encrypt-key-ref <ref>',
      'the key from a secret store instead: vault://…, aws-sm://…, aws-ssm:///…, file:… (default: BACKUP_ENCRYPT_KEY_REF)',
    );
const checksum = (command: Command, what: string) =>
  command.addOption(new Option('--checksum <algorithm>', what).choices(CHECKSUMS).default('sha256-copy'));

const allowUnsigned = (command: Command) =>
  command.option(
    '--allow-unsigned',
    'also accept format-1 (unsigned, taken before manifests were signed) backups, with a warning; never a wrongly signed one',
  );
const ALGS = ['ed25519', 'hs256'] as const;

const parseJobs = (text: string) => wholeNumber(text, '--jobs', 1, 64);
const keyOptions = (flags: KeyFlags) => ({ encryptKeyFile: flags.encryptKeyFile, encryptKeyRef: flags.encryptKeyRef });

export const backupGroup = defineGroup('backup', (program, action) => {
  const backup = program
    .command('backup')
    .description('consistent pg_dump backups with a signed, verified manifest; restores, retention, restore drills')
    .addHelpText(
      'after',
      examples(
        'secops backup create --jobs 4',
        'secops backup list',
        'secops backup drill --max-age 26h',
        'secops backup prune --keep-daily 7 --keep-weekly 4',
        'secops backup signing-key generate > backup-signing-key.json',
      ),
    )
    .addHelpText(
      'after',
      '\nEvery manifest is signed with BACKUP_SIGNING_KEY (or _FILE, _REF) when taken; list, prune, restore and drill\n' +
        'verify the signature, the id, the date and the chain first, and restore and drill every file\'s SHA-256\n' +
        'before restoring anything. A backup that fails is refused (exit 65). See cli/README.md, "Signed manifests".',
    );

  checksum(
    encryptionKey(
      jobs(
        backupDir(
          backup
            .command('create')
            .description('pg_dump -Fd -j from one snapshot, with row counts and checksums in manifest.json'),
        ),
        'parallel pg_dump workers',
      ),
      'AES-256-GCM key (32 bytes) to encrypt the dump with',
    ),
    'row checksum: sha256-copy (SHA-256 of each table\'s binary COPY stream, rows in dump order; sha256-binary, over the sorted digests of the rows\' binary form, when a table is partitioned; sha256, over their text, when a column has a user-defined type); sum64 and ordered (md5) only for compatibility',
  )
    .addHelpText(
      'after',
      examples(
        'secops backup create',
        'BACKUP_DIR=/var/backups/rampart secops backup create --jobs 4 --encrypt-key-file /run/secrets/backup-key',
        'secops backup create --encrypt-key-ref vault://secret/rampart#backup_key',
      ),
    )
    .action(
      action<BackupOptions, KeyFlags & { dir?: string; jobs: string; checksum: string }>(load, ({ flags }) => ({
        action: 'create',
        dir: flags.dir,
        jobs: parseJobs(flags.jobs),
        checksum: oneOf(flags.checksum, '--checksum', CHECKSUMS),
        ...keyOptions(flags),
      })),
    );

  allowUnsigned(backupDir(backup.command('list').description('backups, newest first: verification status, age, size, rows, encryption')))
    .addHelpText('after', examples('secops backup list', 'secops backup list --json | jq ".backups[0]"'))
    .action(
      action<BackupOptions, { dir?: string; allowUnsigned?: boolean }>(load, ({ flags }) => ({
        action: 'list',
        dir: flags.dir,
        allowUnsigned: flags.allowUnsigned === true,
      })),
    );

  allowUnsigned(
    backupDir(
      backup
        .command('prune')
        .description('grandfather-father-son retention over verified backups: keep the newest of each recent day and ISO week'),
    ),
  )
    .option('--keep-daily <n>', 'days (that have backups) to keep the newest backup of', '7')
    .option('--keep-weekly <n>', 'ISO weeks (that have backups) to keep the newest backup of', '4')
    .option('--dry-run', 'list what would be deleted, delete nothing')
    .addHelpText('after', examples('secops backup prune --dry-run', 'secops backup prune --keep-daily 7 --keep-weekly 4'))
    .action(
      action<BackupOptions, { dir?: string; keepDaily: string; keepWeekly: string; dryRun?: boolean; allowUnsigned?: boolean }>(load, ({ flags }) => ({
        action: 'prune',
        dir: flags.dir,
        allowUnsigned: flags.allowUnsigned === true,
        keepDaily: wholeNumber(flags.keepDaily, '--keep-daily', 0, 10_000),
        keepWeekly: wholeNumber(flags.keepWeekly, '--keep-weekly', 0, 10_000),
        dryRun: flags.dryRun === true,
      })),
    );

  encryptionKey(
    jobs(
      backup
        .command('restore')
        .description(
          'pg_restore -j a backup into an EMPTY database, then verify it against the manifest (manifest paths outside dump/ and symlinks are refused first)',
        )
        .requiredOption('--from <dir>', 'the backup directory (holding manifest.json)')
        .requiredOption(
          '--to <url>',
          'the target database; never the configured DATABASE_URL, however spelled (same resolved host, port and name, or same system_identifier and database OID: refused) — prefer a URL without password + PGPASSFILE',
        )
        .option('--force', 'restore into a non-empty database (drops and recreates the backup’s objects)'),
      'parallel pg_restore workers',
    ).option('--no-owner', 'skip ownership and GRANTs (the target server lacks the source’s roles)'),
    'key of an encrypted backup',
  )
    .addHelpText(
      'after',
      examples('secops backup restore --from backups/20261127T221500Z --to postgres://restore@db2/rampart_restored'),
    )
    .option('--allow-unsigned', 'also accept a format-1 (unsigned, pre-signing) backup, with a warning; never a wrongly signed one')
    .action(
      action<BackupOptions, KeyFlags & { from: string; to: string; force?: boolean; jobs: string; owner: boolean; allowUnsigned?: boolean }>(
        load,
        ({ flags }) => ({
          action: 'restore',
          from: flags.from,
          to: flags.to,
          force: flags.force === true,
          jobs: parseJobs(flags.jobs),
          noOwner: flags.owner === false,
          allowUnsigned: flags.allowUnsigned === true,
          ...keyOptions(flags),
        }),
      ),
    );

  encryptionKey(
    jobs(
      checksum(
        backupDir(
          backup
            .command('drill')
            .description('restore a backup into a scratch database, verify every table, measure RTO/RPO, drop it')
            .option('--from <dir>', 'the backup to drill (default: the newest under --dir)'),
        ).option('--create', 'take a backup first, then drill it'),
        'with --create: sha256-copy, sha256-binary, sha256, sum64 or ordered (see backup create)',
      )
        .option('--max-age <duration>', 'fail when the backup is older than this (RPO budget)', '26h')
        .option('--report <file>', 'where to write the JSON report (default: <backup>/drill-<timestamp>.json)'),
      'parallel pg_restore workers and verification connections',
    ),
    'key of an encrypted backup',
  )
    .option('--allow-unsigned', 'also accept format-1 (unsigned, pre-signing) backups, with a warning; never a wrongly signed one')
    .option(
      '--pushgateway <url>',
      'push the outcome (rampart_backup_drill_* metrics, and rampart_backup_latest_sequence) to this Prometheus Pushgateway (https://; with NODE_ENV=production a plain http:// one is refused unless ALLOW_PLAINTEXT=pushgateway)',
    )
    .option(
      '--template <database>',
      'clone the scratch database from this template when it exists (amcheck installed by `secops db roles apply`)',
      DEFAULT_ROLES.drillTemplate,
    )
    .addHelpText(
      'after',
      examples(
        'secops backup drill',
        'secops backup drill --create --max-age 26h --json',
        'secops backup drill --from backups/20261127T221500Z --report drill.json',
        'secops backup drill --pushgateway https://pushgateway.monitoring:9091',
      ),
    )
    .action(
      action<
        BackupOptions,
        KeyFlags & {
          from?: string;
          dir?: string;
          create?: boolean;
          checksum: string;
          maxAge: string;
          report?: string;
          jobs: string;
          pushgateway?: string;
          template: string;
          allowUnsigned?: boolean;
        }
      >(load, ({ flags }) => ({
        action: 'drill',
        from: flags.from,
        dir: flags.dir,
        create: flags.create === true,
        checksum: oneOf(flags.checksum, '--checksum', CHECKSUMS),
        maxAgeMs: parseDuration(flags.maxAge, '--max-age'),
        report: flags.report,
        jobs: parseJobs(flags.jobs),
        ...keyOptions(flags),
        pushgateway: flags.pushgateway,
        template: validateName(flags.template, 'template database'),
        allowUnsigned: flags.allowUnsigned === true,
      })),
    );

  backup
    .command('signing-key')
    .description('manifest signing keys (BACKUP_SIGNING_KEY)')
    .command('generate')
    .description('print a new signing keyring (JSON) to store as BACKUP_SIGNING_KEY; nothing is written')
    .addOption(new Option('--alg <alg>', 'ed25519 (EdDSA; verifier-only machines can get the public half) or hs256').choices(ALGS).default('ed25519'))
    .option('--kid <kid>', 'key id (default: backup-<today>)')
    .addHelpText(
      'after',
      examples(
        'secops backup signing-key generate > keyring.json',
        'secops backup signing-key generate --alg hs256 --kid backup-2027',
      ) +
        '\nRotation: add the new key to "keys" and point "signing" at it; keep the old key while backups signed\nwith it are kept (it verifies them). Drop "d" from an Ed25519 key on machines that only verify.',
    )
    .action(
      action<BackupOptions, { alg: string; kid?: string }>(load, ({ flags }) => ({
        action: 'signing-key',
        alg: oneOf(flags.alg, '--alg', ALGS),
        kid: flags.kid,
      })),
    );
});
