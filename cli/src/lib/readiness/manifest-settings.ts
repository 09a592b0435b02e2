import { SETTINGS } from '../../../../service/src/public/config.js';
import { type Container, envOf, type K8sObject } from './kustomize.js';
import { type CheckResult, fail, pass, undecided, verdict } from './result.js';

/**
 * Manifest checks on the service's settings as the rendered Deployment sets them (a setting the
 * Deployment leaves out takes the documented default — SETTINGS, the service's own table). The
 * service exposes none of these over HTTP, so the manifests are where a deployment shows them.
 */
export const SETTINGS_CHECK_IDS = [
  'k8s.production-mode',
  'k8s.tls-hops',
  'k8s.trusted-proxies',
  'k8s.redis',
  'k8s.tracing',
  'k8s.email-verification',
  'k8s.sessions',
  'k8s.mfa',
  'k8s.model-budgets',
  'k8s.stream-cap',
  'k8s.argon2',
] as const;

type SettingName = keyof typeof SETTINGS;

/** k8s.stream-cap: the most concurrent model calls per user the check accepts. */
export const STREAM_CAP_MAX = 10;

/** The effective value: the literal in the manifest, else the setting's default (undefined when it has none). */
function effective(c: K8sObject, name: SettingName): string | undefined {
  const v = envOf(c, name);
  if (typeof v === 'string') return v;
  if (v !== undefined) return `(${v.from})`;
  const parsed = SETTINGS[name].schema.safeParse(undefined);
  return parsed.success && parsed.data !== undefined ? String(parsed.data) : undefined;
}

/** Set as the value itself, or through NAME_FILE / NAME_REF. */
function sourced(c: K8sObject, name: string): string | undefined {
  for (const suffix of ['', '_FILE', '_REF']) if (envOf(c, `${name}${suffix}`) !== undefined) return `${name}${suffix}`;
  return undefined;
}

const PRIVATE = [/^10\./, /^172\.(1[6-9]|2\d|3[01])\./, /^192\.168\./];

export function settingsChecks(api: readonly Container[], objects: readonly K8sObject[]): CheckResult[] {
  if (api.length === 0) {
    const none = 'no Deployment in the rendered manifests';
    return SETTINGS_CHECK_IDS.map((id) => fail(id, id, none));
  }
  const each = (id: string, title: string, judge: (c: K8sObject) => string | undefined, seen: (c: K8sObject) => string) => {
    const problems = api.flatMap(({ owner, c }) => {
      const p = judge(c);
      return p ? [`${owner}: ${p}`] : [];
    });
    return problems.length === 0
      ? pass(id, title, api.map(({ owner, c }) => `${owner}: ${seen(c)}`).join('; '))
      : fail(id, title, problems.join('; '));
  };
  const results: CheckResult[] = [];

  results.push(
    each(
      'k8s.production-mode',
      'NODE_ENV=production: the service refuses to start without its required secrets (exit 78), no development defaults',
      (c) => (envOf(c, 'NODE_ENV') === 'production' ? undefined : `NODE_ENV is ${JSON.stringify(envOf(c, 'NODE_ENV') ?? null)}`),
      () => 'NODE_ENV=production',
    ),
  );

  const ingresses = objects.filter((o) => o.kind === 'Ingress');
  const plainBackends = ingresses.filter(
    (i) => (i.metadata?.annotations?.['nginx.ingress.kubernetes.io/backend-protocol'] ?? 'HTTP').toUpperCase() !== 'HTTPS',
  );
  results.push(
    each(
      'k8s.tls-hops',
      'TLS on every hop: ALLOW_PLAINTEXT empty (database, Redis, model, mail over TLS), HTTPS from the ingress to the pod',
      (c) => {
        const problems = [
          (effective(c, 'ALLOW_PLAINTEXT') ?? '').trim() !== '' && `ALLOW_PLAINTEXT=${effective(c, 'ALLOW_PLAINTEXT')}`,
          (envOf(c, 'TLS_CERT_FILE') === undefined || envOf(c, 'TLS_KEY_FILE') === undefined) &&
            'no TLS_CERT_FILE/TLS_KEY_FILE: the pod serves plain HTTP',
          plainBackends.length > 0 &&
            `${plainBackends.map((i) => `Ingress/${i.metadata?.name}`).join(', ')} without backend-protocol HTTPS`,
        ].filter(Boolean);
        return problems.length > 0 ? problems.join(', ') : undefined;
      },
      () => 'ALLOW_PLAINTEXT unset, TLS_CERT_FILE/TLS_KEY_FILE set, ingress backend-protocol HTTPS',
    ),
  );

  results.push(
    each(
      'k8s.trusted-proxies',
      'TRUSTED_PROXIES names the ingress controller’s range only (each CIDR /24 or narrower), so X-Forwarded-Proto/-For are honoured from it alone',
      (c) => {
        const value = envOf(c, 'TRUSTED_PROXIES');
        if (typeof value !== 'string' || value.trim() === '')
          return 'TRUSTED_PROXIES unset: X-Forwarded-* ignored, every client seen as the ingress';
        const wide = value
          .split(',')
          .map((s) => s.trim())
          .filter((cidr) => (!cidr.includes('/') ? false : Number(cidr.split('/')[1]) < (cidr.includes(':') ? 64 : 24)));
        return wide.length > 0 ? `too wide: ${wide.join(', ')} (any pod there could forge a client address)` : undefined;
      },
      (c) => `TRUSTED_PROXIES=${envOf(c, 'TRUSTED_PROXIES')}`,
    ),
  );

  const redisRules = egressRulesTo(objects, [6379, 6380]);
  results.push(
    each(
      'k8s.redis',
      'Redis shared by the replicas, reached over TLS with credentials from the secret manager, on a private network',
      (c) => {
        const problems = [
          !sourced(c, 'REDIS_URL') && 'REDIS_URL unset: limits, lockouts and revocations are per replica',
          envOf(c, 'REDIS_URL') !== undefined &&
            typeof envOf(c, 'REDIS_URL') === 'string' &&
            'REDIS_URL given as a plain value (credentials in the manifest)',
          /\bredis\b/.test(effective(c, 'ALLOW_PLAINTEXT') ?? '') &&
            'ALLOW_PLAINTEXT lists redis (no TLS, credentials in the clear)',
          redisRules.length === 0 && 'no NetworkPolicy egress rule to a Redis port (6379/6380)',
          redisRules.some((r) => !PRIVATE.some((p) => p.test(r))) && `Redis reachable at non-private ${redisRules.join(', ')}`,
        ].filter(Boolean);
        return problems.length > 0 ? problems.join(', ') : undefined;
      },
      (c) => `${sourced(c, 'REDIS_URL')} (rediss:// required: redis not in ALLOW_PLAINTEXT), egress to ${redisRules.join(', ')}`,
    ),
  );

  const tracing = api.map(({ owner, c }) => ({ owner, endpoint: envOf(c, 'OTEL_EXPORTER_OTLP_ENDPOINT') }));
  const tracingTitle = 'Tracing exported over OTLP (OTEL_EXPORTER_OTLP_ENDPOINT)';
  results.push(
    tracing.every((t) => t.endpoint !== undefined)
      ? verdict(
          tracing.every((t) => typeof t.endpoint !== 'string' || t.endpoint.startsWith('https://')),
          'k8s.tracing',
          tracingTitle,
          tracing
            .map(
              (t) =>
                `${t.owner}: OTEL_EXPORTER_OTLP_ENDPOINT=${typeof t.endpoint === 'string' ? t.endpoint.replace(/\/\/[^/@\s]+@/, '//[redacted]@') : `(${t.endpoint?.from})`}`,
            )
            .join('; '),
        )
      : undecided(
          'k8s.tracing',
          tracingTitle,
          'OTEL_EXPORTER_OTLP_ENDPOINT is not set: tracing is optional and off in these manifests',
        ),
  );

  results.push(
    each(
      'k8s.email-verification',
      'Email verification required in production (EMAIL_VERIFICATION not off)',
      (c) => {
        const v = envOf(c, 'EMAIL_VERIFICATION');
        if (v === 'off') return 'EMAIL_VERIFICATION=off: accounts sign in with unverified addresses';
        if (envOf(c, 'NODE_ENV') !== 'production' && v !== 'required')
          return 'not production and EMAIL_VERIFICATION not required: defaults to off';
        return undefined;
      },
      (c) => `EMAIL_VERIFICATION=${envOf(c, 'EMAIL_VERIFICATION') ?? 'required (production default)'}`,
    ),
  );

  const SESSION_LIMITS = {
    ACCESS_TOKEN_TTL_SECONDS: 3_600,
    REFRESH_TOKEN_TTL_SECONDS: 90 * 86_400,
    SESSION_MAX_AGE_SECONDS: 90 * 86_400,
    MAX_SESSIONS_PER_USER: 100,
  } as const;
  results.push(
    each(
      'k8s.sessions',
      'Session lifetime and caps bounded: access token ≤ 1 h, refresh token and absolute session ≤ 90 days, ≤ 100 sessions per user',
      (c) => {
        const over = Object.entries(SESSION_LIMITS).filter(([name, max]) => Number(effective(c, name as SettingName)) > max);
        return over.length > 0
          ? over.map(([name, max]) => `${name}=${effective(c, name as SettingName)} > ${max}`).join(', ')
          : undefined;
      },
      (c) =>
        Object.keys(SESSION_LIMITS)
          .map((name) => `${name}=${effective(c, name as SettingName)}`)
          .join(', '),
    ),
  );

  results.push(
    each(
      'k8s.mfa',
      'MFA available: TOTP secrets’ keyring (MFA_ENCRYPTION_KEY) provided from the secret manager',
      (c) => {
        const source = sourced(c, 'MFA_ENCRYPTION_KEY');
        if (!source) return 'MFA_ENCRYPTION_KEY unset: production refuses to start, TOTP cannot be enrolled';
        return source === 'MFA_ENCRYPTION_KEY' ? 'MFA_ENCRYPTION_KEY given as a plain value' : undefined;
      },
      (c) => `${sourced(c, 'MFA_ENCRYPTION_KEY')}, MFA_REQUIRED=${effective(c, 'MFA_REQUIRED')}`,
    ),
  );

  results.push(
    each(
      'k8s.model-budgets',
      'Model budgets configured: per-user daily and monthly token budgets (not 0 = unlimited), concurrent model calls capped',
      (c) => {
        const unlimited = (['MODEL_TOKENS_PER_DAY', 'MODEL_TOKENS_PER_MONTH'] as const).filter((n) => effective(c, n) === '0');
        return unlimited.length > 0 ? `${unlimited.join(', ')}=0 (unlimited)` : undefined;
      },
      (c) =>
        `MODEL_TOKENS_PER_DAY=${effective(c, 'MODEL_TOKENS_PER_DAY')}, MODEL_TOKENS_PER_MONTH=${effective(c, 'MODEL_TOKENS_PER_MONTH')}, MAX_MODEL_CALLS_PER_USER=${envOf(c, 'MAX_MODEL_CALLS_PER_USER') ?? envOf(c, 'MAX_STREAMS_PER_USER') ?? effective(c, 'MAX_STREAMS_PER_USER')}`,
    ),
  );

  // The per-user cap on concurrent model calls (streams included), counted across replicas. Above
  // STREAM_CAP_MAX one client can hold a provider's concurrency for everyone (docs/readiness.md).
  const perUserCap = (c: K8sObject) => {
    for (const name of ['MAX_MODEL_CALLS_PER_USER', 'MAX_STREAMS_PER_USER'] as const) {
      const v = envOf(c, name);
      if (v !== undefined) return { name, value: typeof v === 'string' ? v : `(${v.from})` };
    }
    return { name: 'MAX_MODEL_CALLS_PER_USER', value: `${effective(c, 'MAX_STREAMS_PER_USER')} (default)` };
  };
  results.push(
    each(
      'k8s.stream-cap',
      `Concurrent model calls and SSE streams capped per user (at most ${STREAM_CAP_MAX}) and for the deployment`,
      (c) => {
        const { name, value } = perUserCap(c);
        const n = Number.parseInt(value, 10);
        if (!Number.isFinite(n)) return `${name}=${value} is not a literal the check can judge`;
        return n > STREAM_CAP_MAX ? `${name}=${n}: more than ${STREAM_CAP_MAX} concurrent model calls per user` : undefined;
      },
      (c) => {
        const { name, value } = perUserCap(c);
        return `${name}=${value}, MAX_MODEL_CALLS_TOTAL=${effective(c, 'MAX_MODEL_CALLS_TOTAL')}${envOf(c, 'MAX_MODEL_CALLS_TOTAL') === undefined ? ' (default)' : ''}`;
      },
    ),
  );

  const ARGON2 = ['ARGON2_MEMORY_KIB', 'ARGON2_TIME_COST', 'ARGON2_PARALLELISM'] as const;
  results.push(
    each(
      'k8s.argon2',
      'Argon2id parameters in the Deployment not below the documented defaults',
      (c) => {
        const below = ARGON2.filter((n) => Number(effective(c, n)) < Number(SETTINGS[n].schema.parse(undefined)));
        return below.length > 0
          ? below.map((n) => `${n}=${effective(c, n)} < ${SETTINGS[n].schema.parse(undefined)}`).join(', ')
          : undefined;
      },
      (c) => ARGON2.map((n) => `${n}=${effective(c, n)}${envOf(c, n) === undefined ? ' (default)' : ''}`).join(', '),
    ),
  );
  return results;
}

/** The ipBlock CIDRs NetworkPolicies let pods reach on any of `ports`. */
export function egressRulesTo(objects: readonly K8sObject[], ports: readonly number[]): string[] {
  const cidrs: string[] = [];
  for (const np of objects.filter((o) => o.kind === 'NetworkPolicy'))
    for (const rule of np.spec?.egress ?? [])
      if ((rule.ports ?? []).some((p: K8sObject) => ports.includes(Number(p.port))))
        for (const to of rule.to ?? []) if (to.ipBlock?.cidr) cidrs.push(to.ipBlock.cidr);
  return [...new Set(cidrs)];
}
