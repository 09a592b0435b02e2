import type { CommandGroup } from '../lib/command-kit.js';
import { argon2Group } from './argon2.command.js';
import { auditGroup } from './audit.command.js';
import { backupGroup } from './backup.command.js';
import { dbGroup } from './db.command.js';
import { failoverGroup } from './failover.command.js';
import { keysGroup } from './keys.command.js';
import { mfaGroup } from './mfa.command.js';
import { pitrGroup } from './pitr.command.js';
import { migrateGroup } from './migrate.command.js';
import { readinessGroup } from './readiness.command.js';
import { releaseGroup } from './release.command.js';
import { retentionGroup } from './retention.command.js';
import { sbomGroup } from './sbom.command.js';
import { secretGroup } from './secret.command.js';
import { sessionsGroup } from './sessions.command.js';
import { usageGroup } from './usage.command.js';
import { usersGroup } from './users.command.js';

/**
 * Every `secops` command group, in the order `--help` lists them. A new group is one definition module
 * (`<group>.command.ts`), one module with its `run(options, ctx)`, and one line here.
 */
export const COMMAND_GROUPS: readonly CommandGroup[] = [
  migrateGroup, // database
  retentionGroup,
  backupGroup,
  pitrGroup,
  failoverGroup,
  dbGroup,
  usersGroup, // operators on accounts and sessions (audited)
  sessionsGroup,
  mfaGroup,
  usageGroup,
  secretGroup, // secrets and signing keys: no database
  keysGroup,
  sbomGroup, // supply chain and release: files resolve against the working directory
  auditGroup,
  argon2Group,
  releaseGroup,
  readinessGroup, // the checklist against a live deployment
];
