import type { ChecksumAlgorithm } from './table-stats.js';

/** The options of each `secops backup <action>` (commands/backup.ts dispatches; backup-<action>.ts runs). */
export type BackupOptions =
  | {
      action: 'create';
      dir?: string;
      jobs: number;
      checksum: ChecksumAlgorithm;
      encryptKeyFile?: string;
      encryptKeyRef?: string;
    }
  | { action: 'list'; dir?: string; allowUnsigned: boolean }
  | { action: 'prune'; dir?: string; keepDaily: number; keepWeekly: number; dryRun: boolean; allowUnsigned: boolean }
  | { action: 'signing-key'; alg: 'ed25519' | 'hs256'; kid?: string }
  | {
      action: 'restore';
      from: string;
      to: string;
      force: boolean;
      jobs: number;
      noOwner: boolean;
      /** Accept format-1 (pre-signing) manifests, with a warning; never a format-2 one that fails its signature. */
      allowUnsigned: boolean;
      encryptKeyFile?: string;
      encryptKeyRef?: string;
    }
  | {
      action: 'drill';
      from?: string;
      dir?: string;
      create: boolean;
      checksum: ChecksumAlgorithm;
      /** Fail when the backup is older than this (RPO budget). */
      maxAgeMs: number;
      report?: string;
      jobs: number;
      allowUnsigned: boolean;
      encryptKeyFile?: string;
      encryptKeyRef?: string;
      /** Prometheus Pushgateway base URL: the outcome is pushed for the drill alerts. */
      pushgateway?: string;
      /** Template database to clone the scratch copy from, when it exists (see db-roles/drill-template.ts). */
      template?: string;
      /** Ctrl-C: tests hand in their own; the CLI wires SIGINT/SIGTERM to it. */
      signal?: AbortSignal;
    };
