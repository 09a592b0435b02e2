import { CommanderError } from 'commander';

/**
 * The CLI's error types. Each carries the process exit code it maps to, so the one catch in
 * main.ts needs no knowledge of individual commands. The codes are part of the CLI's contract
 * (documented in `secops --help` and cli/README.md); scripts and CI jobs branch on them.
 */
export const EXIT = Object.freeze({
  ok: 0,
  /** The operation failed, or a check it performed did not pass. */
  failed: 1,
  /** Bad arguments: unknown command or option, missing value. */
  usage: 2,
  /** A backup failed its authentication: signature, file hashes, id, date or chain (EX_DATAERR from sysexits.h). */
  unverified: 65,
  /** The environment cannot give a valid configuration (EX_CONFIG from sysexits.h). */
  config: 78,
});

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  readonly exitCode: ExitCode;
  /** Stable identifier for `switch`es and logs. */
  readonly code: string;
  constructor(message: string, options: { exitCode?: ExitCode; code?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.exitCode = options.exitCode ?? EXIT.failed;
    this.code = options.code ?? 'operation_failed';
  }
}

export class UsageError extends CliError {
  constructor(message: string) {
    super(message, { exitCode: EXIT.usage, code: 'usage' });
  }
}

export class CheckFailedError extends CliError {
  constructor(message: string) {
    super(message, { exitCode: EXIT.failed, code: 'check_failed' });
  }
}

/** Wraps the service's ConfigError (see lib/config.ts), keeping its one-line-per-problem list. */
export class ConfigurationError extends CliError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[], cause?: unknown) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
      exitCode: EXIT.config,
      code: 'invalid_configuration',
      cause,
    });
    this.problems = problems;
  }
}

/**
 * Any thrown value → exit code. Commander signals `--help` with exit code 0 and every parse error
 * (unknown command or option, missing argument, bare `secops`) with a non-zero one: those are usage
 * errors. Unknown errors are operation failures.
 */
export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  return EXIT.failed;
}

/** Credentials of a connection URL (`scheme://user:password@host`), whatever the scheme. */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi;

/**
 * The line(s) printed for a failure. Driver and library messages are not ours to trust: anything
 * shaped like a URL with credentials is redacted before it reaches a terminal or a CI log.
 */
export function formatError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const text = err instanceof ConfigurationError ? message : `error: ${message}`;
  return text.replace(URL_CREDENTIALS, '$1[redacted]@');
}
