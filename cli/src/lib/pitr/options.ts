import type { RecoveryTarget } from './scratch.js';

/** The options of each `secops pitr <action>` (commands/pitr.ts dispatches; pitr-<action>.ts runs). */
export type PitrOptions =
  | { action: 'setup' }
  | { action: 'backup'; type: 'full' | 'diff' | 'incr' }
  | { action: 'status'; pushgateway?: string }
  | { action: 'restore'; to: RecoveryTarget; targetDir: string; port?: number; timeoutMs: number; signal?: AbortSignal }
  | {
      action: 'drill';
      markers: number;
      markerIntervalMs: number;
      /** Parent of the scratch cluster's directory (default: the OS temp directory). */
      scratchDir?: string;
      port?: number;
      timeoutMs: number;
      /** Prometheus Pushgateway base URL: the outcome is pushed for the PITR alerts. */
      pushgateway?: string;
      /** Tests fix the restore point; production uses Math.random. */
      random?: () => number;
      /** Ctrl-C: tests hand in their own; the CLI wires SIGINT/SIGTERM to it. */
      signal?: AbortSignal;
    };
