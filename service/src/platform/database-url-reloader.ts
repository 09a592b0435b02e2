import { type SchedulingClock, systemClock } from './clock.js';
import type { Database } from './db.js';
import type { Logger } from './logger.js';
import { parseHostList } from './pg-hosts.js';

/**
 * Follows DATABASE_URL when it comes from a file or a secret store (DATABASE_URL_FILE / _REF) and
 * changes there: a rotated password (`secops db rotate-password`), or a connection string pointed at
 * a promoted replica. Re-reads every `intervalMs` and on `reload()` (SIGHUP); on a change the pool
 * switches (Database.reconfigure): new connections use the new string, older ones are closed as they
 * come free. A read that fails or gives an unusable string keeps the one in force, logged without the
 * value (it holds the password). Concurrent triggers share one read.
 */

export type UrlReloadOutcome = 'changed' | 'unchanged' | 'failed';

export interface DatabaseUrlReloader {
  reload(trigger: 'interval' | 'signal' | 'manual'): Promise<UrlReloadOutcome>;
  stop(): void;
}

export interface DatabaseUrlReloaderOptions {
  db: Pick<Database, 'reconfigure'>;
  /** Reads DATABASE_URL from its source afresh (throws when it cannot). */
  read: () => Promise<string | undefined>;
  /** 0: on reload() only. */
  intervalMs: number;
  logger: Pick<Logger, 'info' | 'error'>;
  clock?: SchedulingClock;
}

export function createDatabaseUrlReloader(options: DatabaseUrlReloaderOptions): DatabaseUrlReloader {
  const clock = options.clock ?? systemClock;
  let inFlight: Promise<UrlReloadOutcome> | undefined;

  const run = async (trigger: string): Promise<UrlReloadOutcome> => {
    let url: string | undefined;
    try {
      url = await options.read();
    } catch (err) {
      // ConfigError's problems name the variable and the store, never the value.
      const problems = (err as { problems?: readonly string[] }).problems;
      options.logger.error(
        { trigger, problems: problems ?? [(err as Error).name] },
        'DATABASE_URL reload failed; keeping the connection string in force',
      );
      return 'failed';
    }
    if (url === undefined || url.trim() === '') {
      options.logger.error({ trigger }, 'DATABASE_URL reload found no value; keeping the connection string in force');
      return 'failed';
    }
    let changed: boolean;
    try {
      changed = options.db.reconfigure(url.trim());
    } catch (err) {
      options.logger.error(
        { trigger, problem: (err as Error).message },
        'DATABASE_URL reload: the new value is not usable; keeping the connection string in force',
      );
      return 'failed';
    }
    if (!changed) return 'unchanged';
    options.logger.info(
      { trigger, servers: parseHostList(url.trim()).labels },
      'DATABASE_URL changed: new connections use it, older ones close as they come free',
    );
    return 'changed';
  };

  const reload = (trigger: 'interval' | 'signal' | 'manual') => {
    inFlight ??= run(trigger).finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
  const timer = options.intervalMs > 0 ? clock.setInterval(() => void reload('interval'), options.intervalMs).unref() : undefined;
  return { reload, stop: () => clock.clear(timer) };
}
