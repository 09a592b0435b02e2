import { parseSamples } from './mail.js';
import { type CheckResult, fail, undecided, verdict } from './result.js';

/**
 * Checks on the metrics listener's values (not only the names metrics.present looks for): the pool's
 * size and use, the rate-limit and breaker counters, the fault hook's counter and its count, the JWT
 * keyring and the Redis fallback. `seen` is the exposition as fetched once for every metrics check.
 */
export type MetricsBody = { body: string } | { error: string } | undefined;

export const METRICS_CHECK_IDS = [
  'metrics.pool',
  'metrics.rate-limit',
  'metrics.abuse-breaker',
  'metrics.fault-hook',
  'metrics.faults',
  'metrics.keyring',
  'metrics.redis',
] as const;

const TITLES: Record<(typeof METRICS_CHECK_IDS)[number], string> = {
  'metrics.pool': 'Connection pool metrics: db_pool_in_use, db_pool_max (> 0), db_pool_waiting exported with values',
  'metrics.rate-limit': 'Rate-limit rejections instrumented: rate_limit_dropped_total is a counter',
  'metrics.abuse-breaker': 'Anomaly breaker instrumented: abuse_blocks_total is a counter',
  'metrics.fault-hook': 'Crash hook counts uncaught exceptions and rejections: process_faults_total is a counter',
  'metrics.faults': 'No uncaught exception or unhandled rejection since the replica started (process_faults_total = 0)',
  'metrics.keyring': 'JWT keyring loaded with a signing key and no failed reload (jwt_keyring_*)',
  'metrics.redis': 'Limits shared through Redis: rate_limit_redis_fallback = 0 (not running on in-process memory)',
};

export function metricsValueChecks(seen: MetricsBody): CheckResult[] {
  if (seen === undefined)
    return METRICS_CHECK_IDS.map((id) => undecided(id, TITLES[id], 'pass --metrics-url (the METRICS_PORT listener)'));
  if ('error' in seen) return METRICS_CHECK_IDS.map((id) => fail(id, TITLES[id], seen.error));
  const types = new Map<string, string>();
  for (const m of seen.body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1] as string, m[2] as string);
  const samples = parseSamples(seen.body);
  const values = (name: string, where: (l: Record<string, string>) => boolean = () => true) =>
    samples.filter((s) => s.name === name && where(s.labels)).map((s) => s.value);
  const sum = (name: string, where?: (l: Record<string, string>) => boolean) => values(name, where).reduce((a, b) => a + b, 0);
  const typed = (name: string, type: string) => types.get(name) === type;
  const typeSeen = (name: string) => `${name} ${types.has(name) ? `is a ${types.get(name)}` : 'absent'}`;
  const results: CheckResult[] = [];

  const [inUse] = values('db_pool_in_use');
  const [max] = values('db_pool_max');
  const [waiting] = values('db_pool_waiting');
  results.push(
    inUse === undefined || max === undefined || waiting === undefined
      ? fail(
          'metrics.pool',
          TITLES['metrics.pool'],
          `missing: ${['db_pool_in_use', 'db_pool_max', 'db_pool_waiting'].filter((n) => values(n).length === 0).join(', ')}`,
        )
      : verdict(
          max > 0,
          'metrics.pool',
          TITLES['metrics.pool'],
          `db_pool_in_use ${inUse} of db_pool_max ${max}, ${waiting} waiting`,
        ),
  );
  const dropped = sum('rate_limit_dropped_total');
  results.push(
    verdict(
      typed('rate_limit_dropped_total', 'counter'),
      'metrics.rate-limit',
      TITLES['metrics.rate-limit'],
      `${typeSeen('rate_limit_dropped_total')}${types.has('rate_limit_dropped_total') ? `, ${dropped} rejection(s) since start` : ''}`,
    ),
  );
  results.push(
    verdict(
      typed('abuse_blocks_total', 'counter'),
      'metrics.abuse-breaker',
      TITLES['metrics.abuse-breaker'],
      `${typeSeen('abuse_blocks_total')}${types.has('abuse_blocks_total') ? `, ${sum('abuse_blocks_total')} block(s) since start` : ''}`,
    ),
  );
  const hook = typed('process_faults_total', 'counter');
  results.push(verdict(hook, 'metrics.fault-hook', TITLES['metrics.fault-hook'], typeSeen('process_faults_total')));
  if (!hook) results.push(fail('metrics.faults', TITLES['metrics.faults'], typeSeen('process_faults_total')));
  else {
    const faults = samples.filter((s) => s.name === 'process_faults_total' && s.value > 0);
    results.push(
      verdict(
        faults.length === 0,
        'metrics.faults',
        TITLES['metrics.faults'],
        faults.length === 0
          ? 'process_faults_total 0 since start'
          : `process_faults_total: ${faults.map((f) => `${f.labels.kind ?? '?'}=${f.value}`).join(', ')} since start (runbooks/RampartProcessFaults.md)`,
      ),
    );
  }
  const signing = samples.filter((s) => s.name === 'jwt_keyring_keys' && s.labels.role === 'signing' && s.value > 0);
  const reloadErrors = sum('jwt_keyring_reloads_total', (l) => l.outcome === 'error');
  const keys = samples.filter((s) => s.name === 'jwt_keyring_keys' && s.value > 0);
  results.push(
    !types.has('jwt_keyring_keys')
      ? fail('metrics.keyring', TITLES['metrics.keyring'], 'jwt_keyring_keys absent')
      : verdict(
          signing.length === 1 && reloadErrors === 0,
          'metrics.keyring',
          TITLES['metrics.keyring'],
          `${keys.length} key(s) in force (${keys.map((k) => `${k.labels.kid}:${k.labels.alg}:${k.labels.role}`).join(', ') || 'none'}), ${signing.length} signing, ${reloadErrors} failed reload(s)`,
        ),
  );
  const [fallback] = values('rate_limit_redis_fallback');
  results.push(
    fallback === undefined
      ? fail('metrics.redis', TITLES['metrics.redis'], 'rate_limit_redis_fallback absent')
      : verdict(
          fallback === 0,
          'metrics.redis',
          TITLES['metrics.redis'],
          `rate_limit_redis_fallback ${fallback}${fallback === 0 ? '' : ': Redis is configured but unreachable, limits are per replica'}`,
        ),
  );
  return results;
}
