import { z } from 'zod';
import { UsageError } from '../errors.js';

/**
 * The environment variables `secops backup` reads, each the default of an option:
 * BACKUP_DIR (--dir, default ./backups), BACKUP_ENCRYPT_KEY_FILE (--encrypt-key-file).
 */
const backupEnvSchema = z.object({
  BACKUP_DIR: z.string().min(1).default('./backups'),
  BACKUP_ENCRYPT_KEY_FILE: z.string().min(1).optional(),
});

export type BackupEnv = z.infer<typeof backupEnvSchema>;

export function backupEnv(env: Readonly<Record<string, string | undefined>>): BackupEnv {
  const parsed = backupEnvSchema.safeParse({
    BACKUP_DIR: env.BACKUP_DIR || undefined,
    BACKUP_ENCRYPT_KEY_FILE: env.BACKUP_ENCRYPT_KEY_FILE || undefined,
  });
  if (!parsed.success) throw new UsageError(`invalid backup setting: ${parsed.error.issues[0]?.path.join('.')}`);
  return parsed.data;
}
