import { Command, CommanderError, Option } from 'commander';
import { type CliIo, createContext, type DatabaseOpener, type GlobalOptions, processIo } from './lib/context.js';
import { EXIT, exitCodeFor, formatError } from './lib/errors.js';
import type { RoleFlags } from './commands/db.js';
import { DEFAULT_ROLES } from './lib/db-roles/defaults.js';
import { READINESS_DEFAULTS } from './lib/readiness/defaults.js';

/**
 * The CLI's composition root: every command is declared here, and each command group's module is
 * imported only when one of its commands runs, so `secops --help` loads nothing but commander.
 */

export interface ProgramDependencies {
  /** Replaces the configured database (tests hand in a throwaway one). */
  openDatabase?: DatabaseOpener;
}

const EXIT_CODES = `
Exit codes:
  0   success
  1   the operation failed, or a check did not pass
  2   usage error: unknown command or option, missing argument
  78  configuration error: the environment does not give a valid configuration

Database: --database-url, else DATABASE_URL (or DATABASE_URL_FILE), else the embedded PGlite under
DATA_DIR (default .data) — the same target the service uses. Prefer DATABASE_URL(_FILE) to
--database-url: command lines are visible to other users in the process list.`;

const configuredDatabase: DatabaseOpener = async (io, options) =>
  (await import('./lib/database.js')).openConfiguredDatabase(io, options);

const examples = (...lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;

export function buildProgram(io: CliIo, deps: ProgramDependencies = {}): Command {
  const openDatabase = deps.openDatabase ?? configuredDatabase;
  const context = (command: Command) => {
    const globals = command.optsWithGlobals<{ json?: boolean; databaseUrl?: string }>();
    const options: GlobalOptions = { json: globals.json === true, databaseUrl: globals.databaseUrl };
    return createContext(io, options, openDatabase);
  };

  // Settings made before `.command()` are inherited by every subcommand.
  const program = new Command('secops')
    .description('Operate Rampart: database migrations and the other day-2 tasks of the chat API.')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError('(run with --help for usage)')
    .option('--json', 'machine-readable output: exactly one JSON document on stdout')
    .option('--database-url <url>', 'PostgreSQL connection URL (overrides DATABASE_URL)')
    .addHelpText('after', `${examples('secops migrate status', 'secops --json migrate latest')}${EXIT_CODES}`);

  const migrate = program
    .command('migrate')
    .description('apply, roll back or inspect the database migrations (under the service’s advisory lock)')
    .addHelpText(
      'after',
      examples(
        'secops migrate status',
        'secops migrate latest --dry-run',
        'secops migrate latest',
        'secops migrate rollback',
        'secops migrate make add_message_tokens',
        'secops --json migrate status | jq .modified',
      ),
    );

  // latest/up/down/rollback share: --dry-run and the per-migration limits.
  const migrationRun = (command: Command) =>
    command
      .option('--dry-run', 'print the SQL that would run; it runs inside a transaction that is rolled back')
      .option('--lock-timeout <duration>', 'lock_timeout inside each migration (0: none)', '5s')
      .option('--statement-timeout <duration>', 'statement_timeout inside each migration (0: none)', '15m');
  type MigrationRunFlags = { dryRun?: boolean; lockTimeout: string; statementTimeout: string };

  migrationRun(
    migrate
      .command('latest')
      .description('apply every pending migration; waits while another replica or secops run migrates')
      .option('--allow-modified', 'run even though an applied migration’s file changed since it was applied'),
  )
    .addHelpText(
      'after',
      examples('secops migrate latest', 'secops migrate latest --dry-run', 'DATABASE_URL_FILE=/run/secrets/db-url secops migrate latest --json'),
    )
    .action(async (options: MigrationRunFlags & { allowModified?: boolean }, command: Command) => {
      const { run, settingsFromFlags } = await import('./commands/migrate.js');
      await run({ action: 'latest', allowModified: options.allowModified === true, ...settingsFromFlags(options) }, context(command));
    });

  migrationRun(
    migrate
      .command('up')
      .description('apply the next pending migration only')
      .option('--allow-modified', 'run even though an applied migration’s file changed since it was applied'),
  )
    .addHelpText('after', examples('secops migrate up', 'secops migrate up --dry-run'))
    .action(async (options: MigrationRunFlags & { allowModified?: boolean }, command: Command) => {
      const { run, settingsFromFlags } = await import('./commands/migrate.js');
      await run({ action: 'up', allowModified: options.allowModified === true, ...settingsFromFlags(options) }, context(command));
    });

  migrationRun(migrate.command('down').description('roll back the last applied migration only'))
    .addHelpText('after', examples('secops migrate down --dry-run', 'secops migrate down'))
    .action(async (options: MigrationRunFlags, command: Command) => {
      const { run, settingsFromFlags } = await import('./commands/migrate.js');
      await run({ action: 'down', ...settingsFromFlags(options) }, context(command));
    });

  migrationRun(
    migrate
      .command('rollback')
      .description('roll back the last batch of migrations (every migration with --all)')
      .option('--all', 'roll back every applied migration, not just the last batch'),
  )
    .addHelpText('after', examples('secops migrate rollback', 'secops migrate rollback --dry-run', 'secops migrate rollback --all'))
    .action(async (options: MigrationRunFlags & { all?: boolean }, command: Command) => {
      const { run, settingsFromFlags } = await import('./commands/migrate.js');
      await run({ action: 'rollback', all: options.all === true, ...settingsFromFlags(options) }, context(command));
    });

  migrate
    .command('status')
    .description('list every migration as applied, pending or modified (checksums; read-only; exits 0)')
    .addHelpText('after', examples('secops migrate status', 'secops migrate status --json | jq .modified'))
    .action(async (_options: object, command: Command) => {
      const { run } = await import('./commands/migrate.js');
      await run({ action: 'status' }, context(command));
    });

  migrate
    .command('make')
    .description('create migrations/<UTC timestamp>_<name>.ts from the up/down template')
    .argument('<name>', 'what the migration does, snake_case (kebab-case and camelCase are converted)')
    .option('--dir <dir>', 'where to write it (default: the repository’s migrations/)')
    .addHelpText('after', examples('secops migrate make add_message_tokens'))
    .action(async (name: string, options: { dir?: string }, command: Command) => {
      const { run } = await import('./commands/migrate.js');
      await run({ action: 'make', name, dir: options.dir }, context(command));
    });

  migrate
    .command('unlock')
    .description('clear a stale knex_migrations_lock row; report (or --terminate) the session holding the migration lock')
    .option('--terminate', 'pg_terminate_backend the session holding the migration advisory lock')
    .addHelpText('after', examples('secops migrate unlock', 'secops migrate unlock --terminate'))
    .action(async (options: { terminate?: boolean }, command: Command) => {
      const { run } = await import('./commands/migrate.js');
      await run({ action: 'unlock', terminate: options.terminate === true }, context(command));
    });

  // secops retention — see cli/src/commands/retention.ts
  program
    .command('retention')
    .description('archive and delete data older than its retention window')
    .addHelpText('after', examples('secops retention run --older-than 90d --archive-dir /var/archive/rampart'))
    .command('run')
    .description(
      'archive old messages (and conversations they leave empty) to .jsonl.gz with a manifest, then delete them in small batches; resumes an interrupted run',
    )
    .requiredOption('--older-than <duration>', 'messages created before now minus this window, e.g. 90d')
    .option('--archive-dir <dir>', 'where runs are archived, one directory per run (required unless --dry-run)')
    .option('--audit-older-than <duration>', 'also archive audit events older than this (default: keep them all)')
    .option('--batch-size <n>', 'rows per batch: one archive part file and one short transaction each', '500')
    .option('--dry-run', 'count what would be archived; change nothing')
    .addHelpText(
      'after',
      examples(
        'secops retention run --older-than 90d --dry-run',
        'secops retention run --older-than 90d --archive-dir /var/archive/rampart --audit-older-than 400d',
        'secops --json retention run --older-than 90d | jq .archived',
      ),
    )
    .action(
      async (
        options: { olderThan: string; archiveDir?: string; auditOlderThan?: string; batchSize: string; dryRun?: boolean },
        command: Command,
      ) => {
        const { run, optionsFromFlags } = await import('./commands/retention.js');
        await run(optionsFromFlags(options), context(command));
      },
    );

  // Secrets and signing keys (secret, keys): no database; references resolve through the secret providers.
  program
    .command('secret')
    .description('generate secrets from the OS CSPRNG')
    .addHelpText('after', examples('secops secret generate', 'secops secret generate --to vault://secret/rampart#jwt_secret'))
    .command('generate')
    .description('random bytes (default 64) as base64url, to stdout or straight into a secret store (never printed then)')
    .option('--bytes <n>', 'how many random bytes (32–1024)', '64')
    .option('--to <ref>', 'write into this secret reference instead of printing: file:/path, vault://mount/path#key, aws-sm://id#key, aws-ssm:///name')
    .option('--overwrite', 'replace a value already stored at --to (default: refuse)')
    .addHelpText(
      'after',
      examples(
        'secops secret generate > /dev/null  # prints one base64url line',
        'secops secret generate --to vault://secret/rampart#jwt_secret',
        'secops secret generate --bytes 32 --to aws-sm://rampart/prod#session_key --overwrite',
      ),
    )
    .action(async (options: { bytes: string; to?: string; overwrite?: boolean }, command: Command) => {
      const { run, optionsFromFlags } = await import('./commands/secret.js');
      await run(optionsFromFlags(options), context(command));
    });

  const keys = program
    .command('keys')
    .description('the JWT keyring (JWT_KEYS_REF): create it, list it, rotate the signing key without downtime')
    .option('--ref <ref>', 'where the keyring document lives (default: JWT_KEYS_REF, else file:$JWT_KEYS_FILE)')
    .option('--reload-interval <duration>', 'how often replicas re-read the keyring (default: JWT_KEYS_RELOAD_INTERVAL_SECONDS or 60s)')
    .option('--token-ttl <duration>', 'longest access-token lifetime (default: ACCESS_TOKEN_TTL_SECONDS or 15m)')
    .addHelpText(
      'after',
      `${examples(
        'secops keys list --ref vault://secret/rampart#jwt_keys',
        'secops keys rotate --all-phases',
        'secops keys rotate stage && secops keys rotate promote --wait && secops keys rotate prune --wait',
      )}
Rotation (see runbooks/secret-rotation.md):
  stage    adds a new key, verify-only; replicas load it within one reload interval (or on SIGHUP)
  promote  makes it the signing key once every replica has it: after one reload interval + 5 s since
           stage, or sooner when --replica shows it loaded on each replica; the old key verifies only
  prune    removes retired keys once no token they signed can be valid (reload interval + token TTL
           + 30 s clock tolerance + 5 s after promote)
Each phase is safe to re-run and writes with check-and-set: a concurrent rotation makes it fail
(exit 1) without writing; re-run it.
`,
    );
  type KeysFlags = { ref?: string; reloadInterval?: string; tokenTtl?: string };
  const keysTarget = async (command: Command) => {
    const { resolveRef, timingsFrom } = await import('./commands/keys.js');
    const flags = command.optsWithGlobals<KeysFlags>();
    const ctx = context(command);
    return { ctx, target: { ref: resolveRef(flags.ref, ctx.env), timings: timingsFrom(ctx.env, flags) } };
  };

  keys
    .command('init')
    .description('create a keyring document with one signing key (refuses if one exists)')
    .option('--alg <alg>', 'EdDSA (Ed25519, public keys published at /.well-known/jwks.json) or HS256', 'EdDSA')
    .option('--import-secret-ref <ref>', 'start from the current JWT_SECRET (HS256) so tokens it signed stay valid')
    .addHelpText(
      'after',
      examples(
        'secops keys init --ref vault://secret/rampart#jwt_keys',
        'secops keys init --ref vault://secret/rampart#jwt_keys --import-secret-ref vault://secret/rampart#jwt_secret',
      ),
    )
    .action(async (options: { alg: string; importSecretRef?: string }, command: Command) => {
      const { run, parseAlgorithm } = await import('./commands/keys.js');
      const { ctx, target } = await keysTarget(command);
      await run({ action: 'init', ...target, alg: parseAlgorithm(options.alg), importSecretRef: options.importSecretRef }, ctx);
    });

  keys
    .command('list')
    .description('kids, algorithms, roles (signing, staged, retired), ages and when the next phase is safe')
    .addHelpText('after', examples('secops keys list', `secops --json keys list | jq '.keys[] | select(.role == "signing")'`))
    .action(async (_options: object, command: Command) => {
      const { run } = await import('./commands/keys.js');
      const { ctx, target } = await keysTarget(command);
      await run({ action: 'list', ...target }, ctx);
    });

  keys
    .command('remove')
    .description('remove a verify-only key at once, without waiting for its tokens to expire (a leaked key)')
    .argument('<kid>', 'the key to remove (never the signing key)')
    .option('--dry-run', 'show what would be removed; write nothing')
    .addHelpText('after', examples('secops keys remove hs-20261127-29006d25 --dry-run', 'secops keys remove hs-20261127-29006d25'))
    .action(async (kid: string, options: { dryRun?: boolean }, command: Command) => {
      const { run } = await import('./commands/keys.js');
      const { ctx, target } = await keysTarget(command);
      await run({ action: 'remove', ...target, kid, dryRun: options.dryRun === true }, ctx);
    });

  keys
    .command('rotate')
    .description('rotate the signing key: one phase (stage | promote | prune) or --all-phases with the waits between them')
    .argument('[phase]', 'stage, promote or prune')
    .option('--all-phases', 'stage, wait, promote, wait, prune')
    .option('--alg <alg>', 'algorithm of the new key (stage): EdDSA or HS256', 'EdDSA')
    .option('--replica <url...>', 'metrics endpoint of each replica (http://pod:9464): promote once each shows the new key')
    .option('--wait', 'sleep until the phase is safe instead of failing with the time left')
    .option('--dry-run', 'show what the phase would change; write nothing')
    .addHelpText(
      'after',
      examples(
        'secops keys rotate stage --alg EdDSA',
        'secops keys rotate promote --wait',
        'secops keys rotate promote --replica http://10.0.1.7:9464 http://10.0.2.9:9464',
        'secops keys rotate prune --dry-run',
        'secops --json keys rotate --all-phases',
      ),
    )
    .action(
      async (
        phase: string | undefined,
        options: { allPhases?: boolean; alg: string; replica?: string[]; wait?: boolean; dryRun?: boolean },
        command: Command,
      ) => {
        const { run, parseAlgorithm } = await import('./commands/keys.js');
        const { UsageError } = await import('./lib/errors.js');
        if (options.allPhases && phase) throw new UsageError('give a phase or --all-phases, not both');
        if (options.allPhases && options.dryRun) throw new UsageError('--dry-run shows one phase at a time: give the phase');
        if (!options.allPhases && !['stage', 'promote', 'prune'].includes(phase ?? '')) {
          throw new UsageError('which phase? stage, promote or prune (or --all-phases)');
        }
        const phases = options.allPhases ? (['stage', 'promote', 'prune'] as const) : [phase as 'stage' | 'promote' | 'prune'];
        const { ctx, target } = await keysTarget(command);
        await run(
          {
            action: 'rotate',
            ...target,
            phases: [...phases],
            alg: parseAlgorithm(options.alg),
            replicas: options.replica ?? [],
            wait: options.allPhases === true || options.wait === true,
            dryRun: options.dryRun === true,
          },
          ctx,
        );
      },
    );

  // Supply chain and release (sbom, audit, argon2, release): no database; files resolve against the working directory.
  program
    .command('sbom')
    .description('write a CycloneDX 1.6 JSON SBOM of the production dependencies, stamped with version and git SHA')
    .option('--out <file>', 'where to write the SBOM', 'build/sbom.cdx.json')
    .addHelpText('after', examples('secops sbom', 'secops sbom --out dist/sbom.cdx.json', 'secops --json sbom | jq .components'))
    .action(async (options: { out: string }, command: Command) => {
      const { run } = await import('./commands/sbom.js');
      await run({ out: options.out }, context(command));
    });

  const audit = program
    .command('audit')
    .description('release gate: known advisories, licences and banned packages of the installed production dependencies')
    .addOption(
      new Option('--level <severity>', 'fail on advisories at or above this severity')
        .choices(['low', 'moderate', 'high', 'critical'])
        .default('high'),
    )
    .option('--advisories <file>', 'offline OSV advisory file', '.secops/advisories.osv.json')
    .option('--ignore-file <file>', 'accepted advisories, each with a reason and an expiry', '.secops/audit-ignore.json')
    .option('--licenses <file>', 'licence policy: SPDX allow-list, exceptions, banned packages', '.secops/licenses.json')
    .option('--report <file>', 'also write the JSON report to this file (written whether the gate passes or not)')
    .option('--offline', 'do not ask the npm advisory service; use the advisory file only')
    .option('--dockerfile <file>', 'the image whose base runtimes (Node line, Debian release) are checked (default: ./Dockerfile when present)')
    .option('--eol-table <file>', 'end-of-life table of Node lines and Debian releases (default: .secops/runtime-eol.json; refresh: secops audit update-eol)')
    .option('--eol-warning-days <days>', 'fail this many days before a runtime reaches its end of life (default: 90)')
    .addHelpText(
      'after',
      `${examples('secops audit', 'secops audit --level moderate', 'secops audit --json --report build/audit.json', 'secops audit update-advisories --from npm-audit.json', 'secops audit update-eol')}
Runtimes: the Node running the gate, the pinned development Node (package.json) and every base image of
the Dockerfile fail the gate when past their end of life or within --eol-warning-days of it.
A failed gate exits 1 and still prints its report (with --json: "ok": false).`,
    )
    .action(async (options: { level: string; advisories: string; ignoreFile: string; licenses: string; report?: string; offline?: boolean; dockerfile?: string; eolTable?: string; eolWarningDays?: string }, command: Command) => {
      const { run } = await import('./commands/audit.js');
      await run(options, context(command));
    });

  audit
    .command('update-advisories')
    .description('refresh the offline advisory file from npm audit (needs the advisory service) or from an npm audit / OSV export')
    .option('--from <file>', 'an `npm audit --json` report or an OSV dump instead of asking npm')
    .option('--out <file>', 'the advisory file to update', '.secops/advisories.osv.json')
    .addHelpText('after', examples('npm run audit:update', 'secops audit update-advisories --from osv-dump.json'))
    .action(async (options: { from?: string; out: string }, command: Command) => {
      const { updateAdvisories } = await import('./commands/audit.js');
      await updateAdvisories(options, context(command));
    });

  audit
    .command('update-eol')
    .description("refresh the end-of-life table from Node's release schedule and Debian's distro-info table")
    .option('--node-schedule <url|file>', "Node's schedule.json (default: the file in Node's Release repository)")
    .option('--debian-csv <file>', "distro-info-data's debian.csv (default: /usr/share/distro-info/debian.csv)")
    .option('--out <file>', 'the table to write (default: .secops/runtime-eol.json)')
    .addHelpText('after', examples('secops audit update-eol', 'secops audit update-eol --node-schedule schedule.json --debian-csv debian.csv'))
    .action(async (options: { nodeSchedule?: string; debianCsv?: string; out?: string }, command: Command) => {
      const { updateEol } = await import('./commands/audit.js');
      await updateEol(options, context(command));
    });

  program
    .command('argon2')
    .description('Argon2id parameters for this machine')
    .addHelpText('after', examples('secops argon2 bench', 'secops argon2 bench --budget-ms 400 --memory-budget 1GiB --svg build/argon2.svg'))
    .command('bench')
    .description('measure a grid of Argon2id costs at the target concurrency and recommend the strongest within budget')
    .option('--budget-ms <ms>', 'p95 latency budget for one hash under load', '250')
    .option('--memory-budget <size>', 'memory for concurrent hashes (KiB, MiB, GiB)', '512MiB')
    .option('--concurrency <n>', 'hashes running at once (default: ARGON2_MAX_CONCURRENCY, else the service’s default, CPU count − 1)')
    .addOption(new Option('--grid <grid>', 'fast: about 20 s on 2 cores; full: a wider grid and more rounds').choices(['fast', 'full']).default('fast'))
    .option('--rounds <n>', 'concurrent rounds per grid point (default: 4 fast, 8 full)')
    .option('--svg <file>', 'also write a latency-vs-memory chart as SVG')
    .addHelpText('after', examples('secops argon2 bench', 'secops argon2 bench --concurrency 8 --budget-ms 500', 'secops --json argon2 bench | jq .recommendation'))
    .action(async (options: { budgetMs: string; memoryBudget: string; concurrency?: string; grid: 'fast' | 'full'; rounds?: string; svg?: string }, command: Command) => {
      const { run } = await import('./commands/argon2.js');
      await run(options, context(command));
    });

  program
    .command('release')
    .description('release chores')
    .addHelpText('after', examples('secops release notes', 'secops release notes --from v0.1.0 --version 0.2.0'))
    .command('notes')
    .description('a changelog section from the conventional commits since the last tag (breaking changes first)')
    .option('--from <ref>', 'start after this tag or commit (default: the latest tag, else the first commit)')
    .option('--to <ref>', 'end at this ref', 'HEAD')
    .option('--version <version>', 'the heading (default: package.json version)')
    .addHelpText('after', examples('secops release notes', 'secops release notes --from v0.1.0 --to HEAD --version 0.2.0 >> CHANGELOG.md'))
    .action(async (options: { from?: string; to: string; version?: string }, command: Command) => {
      const { run } = await import('./commands/release.js');
      await run(options, context(command));
    });

  // secops backup — see cli/src/commands/backup.ts
  const backupAction = (build: (options: Record<string, unknown>) => object) =>
    async (options: Record<string, unknown>, command: Command) => {
      const { run } = await import('./commands/backup.js');
      await run(build(options) as Parameters<typeof run>[0], context(command));
    };
  const backup = program
    .command('backup')
    .description('consistent pg_dump backups with a verified manifest; restores, retention, restore drills')
    .addHelpText(
      'after',
      examples('secops backup create --jobs 4', 'secops backup list', 'secops backup drill --max-age 26h', 'secops backup prune --keep-daily 7 --keep-weekly 4'),
    );
  backup
    .command('create')
    .description('pg_dump -Fd -j from one snapshot, with row counts and checksums in manifest.json')
    .option('--dir <dir>', 'parent directory of backups (default: BACKUP_DIR, else ./backups)')
    .option('--jobs <n>', 'parallel pg_dump workers', '2')
    .option('--encrypt-key-file <file>', 'AES-256-GCM key (32 bytes) to encrypt the dump with (default: BACKUP_ENCRYPT_KEY_FILE)')
    .option('--encrypt-key-ref <ref>', 'the key from a secret store instead: vault://…, aws-sm://…, aws-ssm:///…, file:… (default: BACKUP_ENCRYPT_KEY_REF)')
    .option('--checksum <algorithm>', 'row checksum: sum64 (fast, order-free) or ordered (md5 in primary-key order)', 'sum64')
    .addHelpText('after', examples('secops backup create', 'BACKUP_DIR=/var/backups/rampart secops backup create --jobs 4 --encrypt-key-file /run/secrets/backup-key', 'secops backup create --encrypt-key-ref vault://secret/rampart#backup_key'))
    .action(backupAction((o) => ({ action: 'create', dir: o.dir, jobs: Number(o.jobs), checksum: o.checksum, encryptKeyFile: o.encryptKeyFile, encryptKeyRef: o.encryptKeyRef })));
  backup
    .command('list')
    .description('backups, newest first: age, size, rows, encryption')
    .option('--dir <dir>', 'parent directory of backups (default: BACKUP_DIR, else ./backups)')
    .addHelpText('after', examples('secops backup list', 'secops backup list --json | jq ".backups[0]"'))
    .action(backupAction((o) => ({ action: 'list', dir: o.dir })));
  backup
    .command('prune')
    .description('grandfather-father-son retention: keep the newest backup of each recent day and ISO week')
    .option('--dir <dir>', 'parent directory of backups (default: BACKUP_DIR, else ./backups)')
    .option('--keep-daily <n>', 'days (that have backups) to keep the newest backup of', '7')
    .option('--keep-weekly <n>', 'ISO weeks (that have backups) to keep the newest backup of', '4')
    .option('--dry-run', 'list what would be deleted, delete nothing')
    .addHelpText('after', examples('secops backup prune --dry-run', 'secops backup prune --keep-daily 7 --keep-weekly 4'))
    .action(
      backupAction((o) => ({ action: 'prune', dir: o.dir, keepDaily: Number(o.keepDaily), keepWeekly: Number(o.keepWeekly), dryRun: o.dryRun === true })),
    );
  backup
    .command('restore')
    .description('pg_restore -j a backup into an EMPTY database, then verify it against the manifest')
    .requiredOption('--from <dir>', 'the backup directory (holding manifest.json)')
    .requiredOption('--to <url>', 'the target database; never the configured DATABASE_URL (prefer a URL without password + PGPASSFILE)')
    .option('--force', 'restore into a non-empty database (drops and recreates the backup’s objects)')
    .option('--jobs <n>', 'parallel pg_restore workers', '2')
    .option('--no-owner', 'skip ownership and GRANTs (the target server lacks the source’s roles)')
    .option('--encrypt-key-file <file>', 'key of an encrypted backup (default: BACKUP_ENCRYPT_KEY_FILE)')
    .option('--encrypt-key-ref <ref>', 'the key from a secret store instead: vault://…, aws-sm://…, aws-ssm:///…, file:… (default: BACKUP_ENCRYPT_KEY_REF)')
    .addHelpText('after', examples('secops backup restore --from backups/20261127T221500Z --to postgres://restore@db2/rampart_restored'))
    .action(
      backupAction((o) => ({
        action: 'restore',
        from: o.from,
        to: o.to,
        force: o.force === true,
        jobs: Number(o.jobs),
        noOwner: o.owner === false,
        encryptKeyFile: o.encryptKeyFile,
        encryptKeyRef: o.encryptKeyRef,
      })),
    );
  backup
    .command('drill')
    .description('restore a backup into a scratch database, verify every table, measure RTO/RPO, drop it')
    .option('--from <dir>', 'the backup to drill (default: the newest under --dir)')
    .option('--dir <dir>', 'parent directory of backups (default: BACKUP_DIR, else ./backups)')
    .option('--create', 'take a backup first, then drill it')
    .option('--checksum <algorithm>', 'with --create: sum64 or ordered (see backup create)', 'sum64')
    .option('--max-age <duration>', 'fail when the backup is older than this (RPO budget)', '26h')
    .option('--report <file>', 'where to write the JSON report (default: <backup>/drill-<timestamp>.json)')
    .option('--jobs <n>', 'parallel pg_restore workers and verification connections', '2')
    .option('--encrypt-key-file <file>', 'key of an encrypted backup (default: BACKUP_ENCRYPT_KEY_FILE)')
    .option('--encrypt-key-ref <ref>', 'the key from a secret store instead: vault://…, aws-sm://…, aws-ssm:///…, file:… (default: BACKUP_ENCRYPT_KEY_REF)')
    .option('--pushgateway <url>', 'push the outcome (rampart_backup_drill_* metrics) to this Prometheus Pushgateway')
    .addHelpText(
      'after',
      examples(
        'secops backup drill',
        'secops backup drill --create --max-age 26h --json',
        'secops backup drill --from backups/20261127T221500Z --report drill.json',
        'secops backup drill --pushgateway http://pushgateway.monitoring:9091',
      ),
    )
    .action(
      backupAction((o) => ({
        action: 'drill',
        from: o.from,
        dir: o.dir,
        create: o.create === true,
        checksum: o.checksum,
        maxAge: o.maxAge,
        report: o.report,
        jobs: Number(o.jobs),
        encryptKeyFile: o.encryptKeyFile,
        encryptKeyRef: o.encryptKeyRef,
        pushgateway: o.pushgateway,
      })),
    );

  // secops db — see cli/src/commands/db.ts (least-privilege roles, credential rotation)
  const dbGroup = program
    .command('db')
    .description('least-privilege database roles and alternating-user password rotation (connects as an admin)')
    .addHelpText(
      'after',
      examples(
        'secops db roles apply --dry-run',
        'secops db roles check --user rampart_app_a',
        'secops db rotate-password --ref file:/run/secrets/database-url',
      ),
    );
  const roleNames = (command: Command) =>
    command
      .option('--runtime <role>', 'NOLOGIN group role holding the service’s privileges', DEFAULT_ROLES.runtime)
      .option('--schema <schema>', 'the schema holding the app tables', DEFAULT_ROLES.schema);
  const roles = dbGroup
    .command('roles')
    .description('create, update or verify the owner, runtime and login roles')
    .addHelpText('after', examples('secops db roles apply --dry-run', 'secops db roles apply', 'secops db roles check'));
  roleNames(
    roles
      .command('apply')
      .description('idempotently create/update the owner and runtime roles, the two login users, and every grant, in one transaction')
      .option('--owner <role>', 'NOLOGIN role owning the schema and tables (migrations run as a member)', DEFAULT_ROLES.owner)
      .option('--users <a,b>', 'the two LOGIN users that alternate on rotation', DEFAULT_ROLES.users.join(','))
      .option('--connection-limit <n>', 'CONNECTION LIMIT of each login user', String(DEFAULT_ROLES.connectionLimit))
      .option('--dry-run', 'print the SQL that would run; change nothing'),
  )
    .addHelpText(
      'after',
      `${examples(
        'secops db roles apply --dry-run',
        'DATABASE_URL_FILE=/run/secrets/admin-url secops db roles apply',
        'secops --json db roles apply --connection-limit 40 | jq .statements',
      )}Run it as a superuser, or as a CREATEROLE role that owns the database and tables (it then joins the owner role). See runbooks/secret-rotation.md.\n`,
    )
    .action(async (options: RoleFlags & { dryRun?: boolean }, command: Command) => {
      const { applyCommand, layoutFromFlags } = await import('./commands/db.js');
      await applyCommand({ ...layoutFromFlags(options), dryRun: options.dryRun === true }, context(command));
    });
  roleNames(
    roles
      .command('check')
      .description('verify a role holds no more than the runtime role allows (and what the service needs); exit 1 when not')
      .option('--user <role>', 'the role to check (default: the user of --database-url / DATABASE_URL)'),
  )
    .addHelpText(
      'after',
      examples(
        'DATABASE_URL_FILE=/run/secrets/database-url secops db roles check',
        'secops db roles check --user rampart_app_b',
        'secops --json db roles check | jq \'.checks[] | select(.ok | not)\'',
      ),
    )
    .action(async (options: { user?: string; runtime: string; schema: string }, command: Command) => {
      const { checkCommand } = await import('./commands/db.js');
      await checkCommand(options, context(command));
    });
  roleNames(
    dbGroup
      .command('rotate-password')
      .description('give the inactive user of the pair a new password, test it, then switch the stored connection URL to it')
      .requiredOption('--ref <reference>', 'where the service reads DATABASE_URL (its DATABASE_URL_REF): file:…, vault://…, aws-sm://…, aws-ssm://…')
      .option('--users <a,b>', 'the two LOGIN users that alternate', DEFAULT_ROLES.users.join(','))
      .option('--adopt', 'the stored user is not one of the pair: switch to the first user of the pair (first rotation)')
      .option('--force', 'rotate even while sessions of the inactive user are still open')
      .option('--dry-run', 'report the plan; change nothing'),
  )
    .addHelpText(
      'after',
      `${examples(
        'secops db rotate-password --ref file:/run/secrets/database-url --dry-run',
        'secops db rotate-password --ref vault://secret/rampart#database_url',
        'secops --json db rotate-password --ref aws-sm://rampart/prod#database_url',
      )}Then roll the pods (kubectl rollout restart deployment/rampart). Never prints the password. See runbooks/secret-rotation.md.\n`,
    )
    .action(
      async (
        options: { ref: string; users?: string; adopt?: boolean; force?: boolean; dryRun?: boolean; runtime: string; schema: string },
        command: Command,
      ) => {
        const { rotateCommand, parseUsers } = await import('./commands/db.js');
        const { validateName } = await import('./lib/db-roles/identifiers.js');
        await rotateCommand(
          {
            ref: options.ref,
            users: parseUsers(options.users),
            runtime: validateName(options.runtime, 'runtime role'),
            schema: validateName(options.schema, 'schema'),
            dryRun: options.dryRun === true,
            adopt: options.adopt === true,
            force: options.force === true,
          },
          context(command),
        );
      },
    );

  // secops readiness — see cli/src/commands/readiness.ts
  program
    .command('readiness')
    .description('check the production readiness checklist against a live deployment: [x] verified, [ ] failed, [manual]')
    .requiredOption('--url <url>', 'the service’s public base URL (https:// also checks the http→https redirect)')
    .option('--metrics-url <url>', 'the metrics listener (METRICS_PORT), e.g. http://10.0.0.5:9464/metrics')
    .option('--backup-dir <dir>', 'where backups and their drill reports live (else the drill item is manual)')
    .option('--drill-max-age <duration>', 'the last restore drill must be younger than this', READINESS_DEFAULTS.drillMaxAge)
    .option('--signup-probe', 'sign up a throwaway user to decode a real access token (writes a user; default: read-only)')
    .option('--timeout <duration>', 'per-request timeout', READINESS_DEFAULTS.timeout)
    .option('--runtime-role <role>', 'the group role the service’s DB user belongs to (db.role: secops db roles check)', DEFAULT_ROLES.runtime)
    .option('--dockerfile <file>', 'the Dockerfile of the deployed image: its Debian release is checked (runtime.currency; default: ./Dockerfile when present)')
    .option('--eol-table <file>', 'end-of-life table of Node lines and Debian releases (default: .secops/runtime-eol.json)')
    .option('--eol-warning-days <days>', 'fail runtime.currency this many days before an end of life (default: 90)')
    .addHelpText(
      'after',
      examples(
        'secops readiness --url https://api.example.com --metrics-url http://10.0.0.5:9464',
        'DATABASE_URL_FILE=/run/secrets/db-url secops readiness --url https://api.example.com --backup-dir /var/backups/rampart',
        'secops --json readiness --url https://api.example.com | jq \'.items[] | select(.status=="failed")\'',
      ),
    )
    .action(
      async (
        options: {
          url: string;
          metricsUrl?: string;
          backupDir?: string;
          drillMaxAge: string;
          signupProbe?: boolean;
          timeout: string;
          runtimeRole: string;
          dockerfile?: string;
          eolTable?: string;
          eolWarningDays?: string;
        },
        command: Command,
      ) => {
        const { run } = await import('./commands/readiness.js');
        const { databaseUrl } = command.optsWithGlobals<{ databaseUrl?: string }>();
        const { pickSource } = await import('../../service/src/public/config.js');
        const databaseConfigured = Boolean(databaseUrl) || pickSource(io.env, 'DATABASE_URL').kind !== 'none';
        await run({ ...options, signupProbe: options.signupProbe === true, databaseConfigured }, context(command));
      },
    );

  return program;
}

/** Parses `argv` (user arguments only), runs the command and returns the process exit code. */
export async function main(
  argv: readonly string[] = process.argv.slice(2),
  io: CliIo = processIo(),
  deps: ProgramDependencies = {},
): Promise<number> {
  try {
    await buildProgram(io, deps).parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    // Commander has already printed its own message (and help, when asked for).
    if (!(err instanceof CommanderError)) io.stderr.write(`secops: ${formatError(err)}\n`);
    return exitCodeFor(err);
  }
}
