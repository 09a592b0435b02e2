import type { Logger } from '../../platform/logger.js';
import type { Metrics } from '../../platform/metrics.js';
import type { Keyring } from './keyring.js';
import { type SchedulingClock, systemClock } from '../../platform/clock.js';

/**
 * Keeps the keyring in force fresh without a restart: re-reads its source every `intervalMs` and
 * whenever `reload()` is called (SIGHUP). A failed read keeps the keys in force — a verifier that
 * loses its keys would reject every token — and is counted and logged without the material.
 * Concurrent triggers share one read.
 */

export type ReloadTrigger = 'interval' | 'signal' | 'manual';

export interface KeyringReloader {
  /** The keyring in force. */
  current(): Keyring;
  /** Re-reads now; resolves once the read is done (whatever its outcome). */
  reload(trigger?: ReloadTrigger): Promise<ReloadOutcome>;
  stop(): void;
}

export type ReloadOutcome =
  | { readonly ok: true; readonly changed: boolean; readonly signing: string; readonly kids: readonly string[] }
  | { readonly ok: false; readonly error: string };

export interface KeyringReloaderOptions {
  initial: Keyring;
  /** Reads the source afresh and builds a keyring (throws on an unreadable or invalid source). */
  load: () => Promise<Keyring>;
  /** 0: no timer (reload on signal only). */
  intervalMs: number;
  logger: Logger;
  metrics: Pick<Metrics, 'jwtKeyringReloadsTotal' | 'jwtKeyringKeys' | 'jwtKeyringLastSuccess'>;
  /** Time and the reload interval's timer (default: the system clock). */
  clock?: SchedulingClock;
}

const sameKeys = (a: Keyring, b: Keyring) =>
  a.signing.kid === b.signing.kid && a.kids.length === b.kids.length && a.kids.every((k) => b.kids.includes(k));

/** An error message safe to log: the class and code, never text that could quote key material. */
function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${err.name} (${code}): ${err.message}` : `${err.name}: ${err.message}`;
  }
  return 'unknown error';
}

export function createKeyringReloader(options: KeyringReloaderOptions): KeyringReloader {
  const { logger, metrics } = options;
  const clock = options.clock ?? systemClock;
  const now = () => clock.now().getTime();
  let current = options.initial;
  let inFlight: Promise<ReloadOutcome> | undefined;

  const publish = (ring: Keyring) => {
    metrics.jwtKeyringKeys.reset();
    for (const kid of ring.kids) {
      const key = ring.byKid(kid);
      if (key) metrics.jwtKeyringKeys.set({ kid, alg: key.alg, role: kid === ring.signing.kid ? 'signing' : 'verify' }, 1);
    }
    metrics.jwtKeyringLastSuccess.set(now() / 1000);
  };
  publish(current);

  const run = async (trigger: ReloadTrigger): Promise<ReloadOutcome> => {
    try {
      const next = await options.load();
      const changed = !sameKeys(current, next);
      if (changed) {
        const dropped = current.kids.filter((k) => !next.kids.includes(k));
        if (!next.byKid(current.signing.kid)) {
          // Legitimate only long after a rotation promoted another key; otherwise tokens still valid fail.
          logger.warn({ kid: current.signing.kid }, 'the keyring no longer holds the key this replica signed with until now');
        }
        logger.info(
          { trigger, signing: next.signing.kid, kids: next.kids, added: next.kids.filter((k) => !current.kids.includes(k)), dropped },
          'JWT keyring reloaded with changes',
        );
      }
      current = next;
      publish(next);
      metrics.jwtKeyringReloadsTotal.inc({ trigger, outcome: 'ok' });
      return { ok: true, changed, signing: next.signing.kid, kids: next.kids };
    } catch (err) {
      metrics.jwtKeyringReloadsTotal.inc({ trigger, outcome: 'error' });
      const error = describe(err);
      logger.error({ trigger, error, signing: current.signing.kid }, 'JWT keyring reload failed; keeping the keys in force');
      return { ok: false, error };
    }
  };

  const reload = (trigger: ReloadTrigger = 'manual') => {
    inFlight ??= run(trigger).finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };

  const timer = options.intervalMs > 0 ? clock.setInterval(() => void reload('interval'), options.intervalMs).unref() : undefined;

  return {
    current: () => current,
    reload,
    stop: () => clock.clear(timer),
  };
}
