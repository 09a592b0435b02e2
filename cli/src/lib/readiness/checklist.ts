/**
 * The production readiness checklist (docs: /work/shared/seed-checklist.md), item by item: each line
 * is either proven by an automated check (`check`) or listed as manual with a hint on how to verify it.
 */

export type ItemStatus = 'passed' | 'failed' | 'manual';

export interface ReadinessItem {
  /** Stable id (`headers.hsts`, `db.role`, `manual.argon2-params`, …). */
  id: string;
  section: string;
  title: string;
  status: ItemStatus;
  /** What was seen: proof for `passed`, the deviation for `failed`, the hint for `manual`. */
  evidence: string;
}

export interface ManualEntry {
  kind: 'manual';
  id: string;
  title: string;
  hint: string;
}

/** Placeholder for the automated checks, filled in by the command (in this order). */
export interface CheckEntry {
  kind: 'check';
  id: string;
}

export interface Section {
  title: string;
  entries: (ManualEntry | CheckEntry)[];
}

const manual = (id: string, title: string, hint: string): ManualEntry => ({ kind: 'manual', id: `manual.${id}`, title, hint });
const check = (id: string): CheckEntry => ({ kind: 'check', id });

export const SECTIONS: readonly Section[] = [
  {
    title: '1. Security / Auth',
    entries: [
      manual(
        'jwt-secret',
        'Generate & provision 64-byte JWT secret via secret manager (no plaintext in repo)',
        'production refuses a missing or short JWT_SECRET; confirm it comes from the secret manager (JWT_SECRET_FILE)',
      ),
      check('jwt.algorithm'),
      check('headers.hsts'),
      check('headers.csp'),
      check('headers.x-content-type-options'),
      check('headers.x-frame-options'),
      check('headers.referrer-policy'),
      check('headers.permissions-policy'),
      check('headers.no-x-powered-by'),
      manual(
        'argon2-params',
        'Explicit Argon2id parameters and rehash on weaker hash',
        'ARGON2_* in the deployment; calibrate with `secops argon2 bench`',
      ),
      manual(
        'login-throttle',
        'Failed login throttle / temporary lockout',
        'LOGIN_MAX_FAILURES; covered by the service tests (not probed: it would lock an account)',
      ),
      manual('audit-log', 'Audit log events (signup/login success and failure)', 'inspect audit_events after a login in staging'),
      manual('email-validation', 'Strict email validation & normalization', 'covered by the service tests'),
      manual('password-strength', 'Password strength validation', 'PASSWORD_MIN_LENGTH; covered by the service tests'),
      manual('refresh-tokens', 'Refresh token flow with storage + revocation', 'covered by the service tests'),
      manual('logout', 'Token revocation / logout endpoint', 'covered by the service tests'),
      manual('refresh-reuse', 'Reuse detection for refresh tokens', 'covered by the service tests'),
    ],
  },
  {
    title: '2. Configuration & Secrets',
    entries: [
      manual(
        'secret-manager',
        'Prod config in a secret manager (Vault/SSM/Secrets Manager)',
        'the deployment reads secrets through *_FILE or *_REF (vault://, aws-sm://, aws-ssm:///), never plain variables',
      ),
      manual(
        'fail-startup',
        'Fail startup if required secrets missing',
        'NODE_ENV=production without JWT_SECRET must refuse to start (exit 78)',
      ),
      manual('rotation-doc', 'Rotation procedure for JWT secret & DB creds documented', 'runbooks/secret-rotation.md'),
      manual('image-digests', 'Base images pinned by digest', 'review the Dockerfiles (FROM …@sha256:…)'),
    ],
  },
  {
    title: '3. Database',
    entries: [
      check('db.role'),
      check('db.migrations'),
      manual('indexes', 'Conversation/message query indexes', 'see migrations/; EXPLAIN the list queries'),
      manual(
        'retention',
        'Data retention or archival policy',
        'schedule `secops retention run --older-than 90d --archive-dir …`',
      ),
      check('backup.drill'),
      manual(
        'pool-alerts',
        'Connection pool metrics + saturation alerts',
        'db_pool_in_use is verified by metrics.present; the alert rule lives in the alerting system',
      ),
    ],
  },
  {
    title: '4. Rate Limiting & Abuse Prevention',
    entries: [
      check('rate-limit.headers'),
      manual(
        'auth-limits',
        'Endpoint-specific limits (auth endpoints tighter)',
        'RATE_LIMIT_AUTH_PER_MINUTE < RATE_LIMIT_GLOBAL_PER_MINUTE in the deployment',
      ),
      manual(
        'burst-breaker',
        'Global IP burst breaker / anomaly detection',
        'RATE_LIMIT_GLOBAL_PER_MINUTE; TRUSTED_PROXIES must match the ingress',
      ),
      manual('user-limits', 'Per-user limits post-auth', 'RATE_LIMIT_USER_PER_MINUTE'),
      manual('rate-limit-metrics', 'Rate limit hits instrumented', 'rate_limit_dropped_total is verified by metrics.present'),
    ],
  },
  {
    title: '5. Observability',
    entries: [
      manual(
        'structured-logs',
        'Structured logging fields (request_id, user_id, ip)',
        'inspect a request log line in the log store',
      ),
      check('metrics.present'),
      manual('tracing', 'Tracing exporter (OTLP)', 'OTEL_EXPORTER_OTLP_ENDPOINT set; traces visible in the backend'),
      manual(
        'alerts',
        'Alert rules (5xx %, latency p95, auth failures, pool saturation, mail)',
        'alerts/rampart.rules.yaml (promtool-tested) loaded in Prometheus',
      ),
    ],
  },
  {
    title: '6. Networking / Infra',
    entries: [
      check('tls.plain-http'),
      manual(
        'forwarded-proto',
        'Proxy sets X-Forwarded-Proto; trusted proxy list matches infra',
        'compare TRUSTED_PROXIES with the ingress CIDRs',
      ),
      manual('private-network', 'Private network for DB & Redis', 'the DB and Redis must not answer from the internet'),
      manual('redis-auth', 'Redis AUTH / managed service', 'REDIS_URL carries credentials / TLS (rediss://)'),
      manual('egress', 'Firewall egress restrictions', 'review the network policy'),
      check('mail.configured'),
      check('mail.outbox'),
    ],
  },
  {
    title: '7. Application Hardening',
    entries: [
      check('api.error-format'),
      check('api.cache-control'),
      check('api.content-type'),
      check('api.body-limit'),
      manual('stream-cap', 'SSE: cap concurrent streams per client', 'MAX_STREAMS_PER_USER; covered by the service tests'),
      manual(
        'graceful-shutdown',
        'Graceful shutdown verified under load',
        'test/service/platform/shutdown.test.ts; SHUTDOWN_GRACE_MS vs the orchestrator’s grace period',
      ),
      manual('crash-hook', 'Crash hook logs & increments a metric', 'covered by the service tests'),
    ],
  },
  {
    title: '8. Dependency & Supply Chain',
    entries: [
      manual('audit', 'Dependency advisories in CI', '`secops audit` gates CI (.ci/run)'),
      manual('licences', 'Licences, advisories, bans policy', '`secops audit` (.secops/licenses.json)'),
      manual('sbom', 'SBOM per release', '`secops sbom`'),
      manual('image-scan', 'Image vulnerability scan gating deploy', 'review the deploy pipeline'),
      manual('base-image-cves', 'Base image CVEs tracked & rebuild cadence', 'review the deploy pipeline'),
      check('runtime.currency'),
    ],
  },
  {
    title: '9. Performance & Load',
    entries: [
      manual('load-baseline', 'Load test baseline p50/p95', '`npm run bench` on the production machine size (docs/performance.md)'),
      manual('pool-tuning', 'Pg pool size & timeout tuned', 'DB_POOL_MAX and DB_ACQUIRE_TIMEOUT_MS from `npm run bench:pool`'),
      manual(
        'argon2-bench',
        'Argon2 parameters benchmarked vs latency budget',
        '`secops argon2 bench` on the production machine size',
      ),
      manual('scaling', 'Horizontal scaling strategy', 'REDIS_URL set when running more than one replica; docs/performance.md'),
    ],
  },
  {
    title: '10. Operational Runbooks',
    entries: [
      manual('incident', 'Incident response playbook', 'runbooks/incident-response.md'),
      manual('deploy-rollback', 'Deployment / rollback procedure', 'runbooks/deploy-rollback.md'),
      manual('secret-rotation', 'Secret rotation steps', 'runbooks/secret-rotation.md'),
      manual('restore-steps', 'Backup restore test steps', 'runbooks/backup-restore.md'),
      manual('on-call', 'On-call escalation matrix', 'runbooks/on-call-escalation.md'),
    ],
  },
  {
    title: '11. Release & Versioning',
    entries: [
      check('version.git-sha'),
      manual('tags-changelog', 'Tag releases and generate changelog', '`secops release notes`'),
      manual('immutable-tags', 'Immutable image tags (git SHA) in deploy manifests', 'review the deploy manifests'),
    ],
  },
  {
    title: '12. Future Enhancements',
    entries: [
      manual('key-rotation', 'Asymmetric JWT & key rotation', '`secops keys list`: an EdDSA signing key; rotated with `secops keys rotate`'),
      manual('distributed-limits', 'Distributed rate limit coordination', 'REDIS_URL'),
      manual('failover', 'Regional failover strategy', 'not automated'),
      manual('waf', 'DDoS mitigation / WAF integration', 'not automated'),
    ],
  },
];
