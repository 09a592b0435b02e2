import type { CommandGroup } from '../lib/command-kit.js';

/**
 * Every `secops` command group, in the order `--help` lists them: its name, the one-line summary the
 * top-level `--help` shows, and its definition module (`<group>.command.ts`), imported only when the
 * command line names the group. `secops --help` loads none of them (docs/performance.md, "CLI
 * startup"); test/cli/command-definitions.test.ts holds each summary to the description its group
 * registers. A new group is one definition module, one module with its `run(options, ctx)`, and one
 * entry here.
 */
export interface GroupEntry {
  readonly name: string;
  /** The group's top-level description, as its definition registers it. */
  readonly summary: string;
  /** The group's top-level command has options of its own (the listing shows `[options]`). */
  readonly hasOptions?: boolean;
  load(): Promise<CommandGroup>;
}

export const COMMAND_GROUPS: readonly GroupEntry[] = [
  // database
  {
    name: 'migrate',
    summary: 'apply, roll back or inspect the database migrations (under the service’s advisory lock)',
    load: async () => (await import('./migrate.command.js')).migrateGroup,
  },
  {
    name: 'retention',
    summary: 'archive and delete data older than its retention window',
    load: async () => (await import('./retention.command.js')).retentionGroup,
  },
  {
    name: 'backup',
    summary: 'consistent pg_dump backups with a signed, verified manifest; restores, retention, restore drills',
    load: async () => (await import('./backup.command.js')).backupGroup,
  },
  {
    name: 'pitr',
    summary: 'point-in-time recovery with pgBackRest: WAL archiving, base backups, restores to a moment, drills',
    load: async () => (await import('./pitr.command.js')).pitrGroup,
  },
  {
    name: 'failover',
    summary: 'database failover: a drill that fails the primary under write load and measures what clients lose',
    load: async () => (await import('./failover.command.js')).failoverGroup,
  },
  {
    name: 'db',
    summary: 'least-privilege database roles and alternating-user password rotation (connects as an admin)',
    load: async () => (await import('./db.command.js')).dbGroup,
  },
  // operators on accounts and sessions (audited)
  {
    name: 'users',
    summary:
      'one account, as an operator: show, disable/enable, revoke its sessions, reset its second factors, delete, export (audited)',
    load: async () => (await import('./users.command.js')).usersGroup,
  },
  {
    name: 'sessions',
    summary: 'every user’s sessions at once, after a breach (audited)',
    load: async () => (await import('./sessions.command.js')).sessionsGroup,
  },
  {
    name: 'mfa',
    summary: 'second factors at rest: move TOTP secrets to the newest MFA_ENCRYPTION_KEY',
    load: async () => (await import('./mfa.command.js')).mfaGroup,
  },
  {
    name: 'usage',
    summary: 'model usage from the ledger (model_usage): tokens per user or per model over a period',
    load: async () => (await import('./usage.command.js')).usageGroup,
  },
  // secrets and signing keys: no database
  {
    name: 'secret',
    summary: 'generate secrets from the OS CSPRNG',
    load: async () => (await import('./secret.command.js')).secretGroup,
  },
  {
    name: 'keys',
    summary: 'the JWT keyring (JWT_KEYS_REF): create it, list it, rotate the signing key without downtime',
    hasOptions: true,
    load: async () => (await import('./keys.command.js')).keysGroup,
  },
  // supply chain and release: files resolve against the working directory
  {
    name: 'sbom',
    summary: 'write a CycloneDX 1.6 JSON SBOM of the production dependencies, stamped with version and git SHA',
    hasOptions: true,
    load: async () => (await import('./sbom.command.js')).sbomGroup,
  },
  {
    name: 'audit',
    summary:
      'release gate: known advisories, licences and banned packages of the installed production dependencies, or of an image SBOM (--sbom)',
    hasOptions: true,
    load: async () => (await import('./audit.command.js')).auditGroup,
  },
  {
    name: 'argon2',
    summary: 'Argon2id parameters for this machine',
    load: async () => (await import('./argon2.command.js')).argon2Group,
  },
  {
    name: 'release',
    summary: 'release chores and the release gate (docs/release.md)',
    load: async () => (await import('./release.command.js')).releaseGroup,
  },
  // the checklist against a live deployment
  {
    name: 'readiness',
    summary:
      'prove the 61 items of the production readiness checklist (docs/checklist.md) against a deployment: [x] verified with evidence, [ ] failed with what was seen, [manual] with why or what would prove it',
    hasOptions: true,
    load: async () => (await import('./readiness.command.js')).readinessGroup,
  },
];
