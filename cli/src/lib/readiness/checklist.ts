/**
 * The production readiness checklist, item by item, exactly as docs/checklist.md states it (a copy of
 * the seed checklist; test/cli/readiness-checklist.test.ts compares the two). Every item is either
 * proven by checks or manual with the reason no machine can decide it:
 *
 * - `any`: alternatives, each a list of check ids that must all pass. The item is `[x]` when one
 *   alternative passed entirely ("any tier proves it": e.g. the read-only 415 probe or the active one).
 * - `also`: checks that refine the item (second-wave items such as the verification requirement or the
 *   runtime's end of life) — a failure fails the item, but they are not needed for it to pass.
 *
 * A check that ran and failed makes its item `[ ]`; an item none of whose alternatives ran entirely is
 * `[manual]` with what would prove it (the flag of the missing tier). Check ids are owned by the check
 * modules (registry.ts lists them by tier).
 */

import { HEADER_CHECK_IDS } from './header-ids.js';
export type ItemStatus = 'passed' | 'failed' | 'manual';

export interface CheckProof {
  kind: 'checks';
  any: readonly (readonly string[])[];
  also: readonly string[];
}

export interface ManualProof {
  kind: 'manual';
  /** Why no machine can decide it, and how a person does. */
  reason: string;
}

export interface ChecklistItem {
  /** Stable id (`auth.security-headers`): baselines, JUnit test cases and docs name items by it. */
  id: string;
  section: string;
  /** The item's text, exactly as in docs/checklist.md. */
  text: string;
  proof: CheckProof | ManualProof;
}

const checks = (any: readonly (readonly string[])[], also: readonly string[] = []): CheckProof => ({ kind: 'checks', any, also });
const manual = (reason: string): ManualProof => ({ kind: 'manual', reason });

const HEADERS = [...HEADER_CHECK_IDS, 'api.cache-control'];

type Row = [id: string, text: string, proof: CheckProof | ManualProof];

const SECTIONS: readonly [string, readonly Row[]][] = [
  [
    '1. Security / Auth',
    [
      [
        'auth.jwt-secret',
        'Generate & provision 64-byte JWT secret via secret manager (no plaintext in repo)',
        checks([['k8s.external-secrets']]),
      ],
      [
        'auth.asymmetric-jwt',
        '(Optional later) Migrate to asymmetric JWT (EdDSA/RS256)',
        checks([['jwt.asymmetric']], ['jwt.algorithm']),
      ],
      [
        'auth.security-headers',
        'Add security headers middleware (HSTS, CSP, X-Content-Type-Options, Frame-Options, Referrer-Policy, Permissions-Policy)',
        checks([HEADERS]),
      ],
      [
        'auth.argon2',
        'Explicit Argon2id parameters (memory, time, parallelism) and rehash on weaker hash',
        checks([['db.argon2']], ['k8s.argon2']),
      ],
      [
        'auth.lockout',
        'Implement failed login throttle / temporary lockout',
        checks([['probe.lockout']], ['probe.mfa', 'k8s.mfa']),
      ],
      ['auth.audit-log', 'Add audit log events (signup success/fail, login success/fail)', checks([['probe.audit']])],
      [
        'auth.email-validation',
        'Enforce strict email validation & normalize (lowercase)',
        checks(
          [['probe.email-validation']],
          ['probe.signup', 'probe.email-verification', 'k8s.email-verification', 'mail.configured', 'mail.outbox'],
        ),
      ],
      ['auth.password-strength', 'Add password strength validation (zxcvbn or heuristic)', checks([['probe.password-policy']])],
      [
        'auth.refresh-tokens',
        'Refresh token flow with storage + revocation',
        checks([['probe.login', 'probe.refresh-rotation']], ['k8s.sessions', 'probe.cleanup']),
      ],
      ['auth.logout', 'Token revocation / logout endpoint', checks([['probe.logout']])],
      ['auth.refresh-reuse', 'Reuse detection for refresh tokens', checks([['probe.refresh-reuse']])],
    ],
  ],
  [
    '2. Configuration & Secrets',
    [
      [
        'config.secret-manager',
        'Move prod config to secret manager (Vault/SSM/Secrets Manager)',
        checks([['k8s.external-secrets']]),
      ],
      [
        'config.fail-startup',
        'Fail startup if required secrets missing (no silent defaults in prod)',
        checks([['k8s.production-mode']], ['k8s.security-context']),
      ],
      ['config.rotation-doc', 'Document rotation procedure for JWT secret & DB creds', checks([['runbooks.secret-rotation']])],
      ['config.image-digests', 'Pin base images by digest in Dockerfiles', checks([['dockerfile.digests']])],
    ],
  ],
  [
    '3. Database',
    [
      ['db.least-privilege', 'Create dedicated least-privilege DB user (no superuser)', checks([['db.role']])],
      [
        'db.migrations',
        'Apply migrations automatically with rollback strategy',
        checks([['db.migrations']], ['runbooks.deploy-rollback']),
      ],
      ['db.indexes', 'Add conversation/message query indexes (conversation_id, created_at)', checks([['db.indexes']])],
      ['db.retention', 'Implement data retention or archival policy (messages)', checks([['db.retention'], ['k8s.cronjobs']])],
      [
        'db.backups',
        'Automated backups + restore drill runbook',
        checks(
          [
            ['backup.drill', 'backup.signed', 'runbooks.backup-restore'],
            ['k8s.cronjobs', 'runbooks.backup-restore'],
          ],
          ['backup.pitr'],
        ),
      ],
      ['db.pool-alerts', 'Add connection pool metrics + saturation alerts', checks([['metrics.pool', 'alerts.rules']])],
    ],
  ],
  [
    '4. Rate Limiting & Abuse Prevention',
    [
      [
        'limits.auth-endpoints',
        'Endpoint-specific limits (auth endpoints tighter)',
        checks([['rate-limit.auth-tighter'], ['probe.endpoint-limits']]),
      ],
      [
        'limits.burst-breaker',
        'Global IP burst breaker / anomaly detection',
        checks([['rate-limit.headers', 'metrics.abuse-breaker']]),
      ],
      ['limits.per-user', 'Add per-user limits post-auth', checks([['probe.user-limits']])],
      ['limits.instrumented', 'Instrument rate limit hits / rejections for monitoring', checks([['metrics.rate-limit']])],
    ],
  ],
  [
    '5. Observability',
    [
      [
        'obs.structured-logs',
        'Structured logging fields (request_id, user_id, ip)',
        manual(
          'the log lines live in the log store, which this command cannot read: open a request’s line there and check request_id, user_id and ip (the request_id of any error body is the key)',
        ),
      ],
      [
        'obs.metrics',
        'Add metrics: auth_success_total, auth_fail_total, db_pool_in_use, rate_limit_dropped_total, external_model_latency_histogram',
        checks([['metrics.present']]),
      ],
      ['obs.tracing', 'Optional: tracing exporter (OTLP) integration', checks([['k8s.tracing']])],
      [
        'obs.alerts',
        'Alert rules (5xx %, latency p95, auth failures spike, pool saturation)',
        checks([['alerts.rules']], ['k8s.prometheusrule']),
      ],
    ],
  ],
  [
    '6. Networking / Infra',
    [
      [
        'net.https-hsts',
        'HTTPS termination + HSTS (1y, includeSubDomains, preload)',
        checks(
          [
            ['headers.hsts', 'tls.plain-http'],
            ['headers.hsts', 'k8s.ingress-tls'],
          ],
          ['tls.plain-http', 'k8s.ingress-tls', 'k8s.tls-hops'],
        ),
      ],
      [
        'net.forwarded-proto',
        'Confirm proxy sets X-Forwarded-Proto and trusted proxy list matches infra',
        checks([['k8s.trusted-proxies']]),
      ],
      ['net.private-data', 'Private network for DB & Redis (no public exposure)', checks([['k8s.private-data']])],
      ['net.redis-auth', 'Redis AUTH / move to managed service', checks([['k8s.redis']])],
      ['net.egress', 'Firewall egress restrictions (allow only needed destinations)', checks([['k8s.egress']])],
    ],
  ],
  [
    '7. Application Hardening',
    [
      [
        'app.unguarded-input',
        'Remove or guard any `unwrap()` on external inputs',
        checks([['api.error-format', 'metrics.faults']]),
      ],
      [
        'app.content-type',
        'Enforce Content-Type=application/json for JSON routes',
        checks([['api.content-type'], ['probe.content-type']]),
      ],
      ['app.body-limit', 'Reject bodies > MAX_REQUEST_SIZE_BYTES early', checks([['api.body-limit'], ['probe.body-limit']])],
      [
        'app.stream-cap',
        'SSE / streaming: cap concurrent streams per client',
        checks([['k8s.stream-cap']], ['k8s.model-budgets']),
      ],
      ['app.graceful-shutdown', 'Graceful shutdown verified under load', checks([['k8s.shutdown']], ['k8s.probes'])],
      ['app.crash-hook', 'Add panic hook to log & increment metric', checks([['metrics.fault-hook']])],
    ],
  ],
  [
    '8. Dependency & Supply Chain',
    [
      ['supply.audit', 'Add `cargo audit` in CI', checks([['pipeline.audit']])],
      ['supply.deny', 'Add `cargo deny` (licenses, advisories, bans)', checks([['pipeline.licences']])],
      ['supply.sbom', 'Generate SBOM (cargo sbom or syft) per release', checks([['pipeline.sbom']])],
      ['supply.image-scan', 'Image vulnerability scan (Trivy/Grype) gating deploy', checks([['pipeline.image-scan']])],
      ['supply.base-image-cves', 'Track base image CVEs & rebuild cadence', checks([['runtime.currency', 'pipeline.rebuild']])],
    ],
  ],
  [
    '9. Performance & Load',
    [
      [
        'perf.load-baseline',
        'Load test baseline (auth + chat endpoints) p50/p95 latency',
        manual(
          'a load test must not run against production: `npm run bench` on the production machine size (docs/performance.md)',
        ),
      ],
      [
        'perf.pool-tuning',
        'Tune Pg pool size & timeout based on load test',
        manual(
          'whether DB_POOL_MAX fits the load is a judgement on `npm run bench:pool` results (docs/performance.md); metrics.pool shows the size in force',
        ),
      ],
      [
        'perf.argon2-bench',
        'Benchmark Argon2 parameters vs. latency budget',
        manual(
          'a benchmark on the production machine size (`secops argon2 bench`), not a property the deployment exposes; db.argon2 shows the parameters in force',
        ),
      ],
      [
        'perf.scaling',
        'Evaluate horizontal scaling strategy (stateless + sticky where needed)',
        checks([['k8s.hpa', 'k8s.pdb']], ['k8s.resources', 'k8s.redis']),
      ],
    ],
  ],
  [
    '10. Operational Runbooks',
    [
      [
        'runbooks.incident-response',
        'Incident response playbook (where logs, metrics, traces)',
        checks([['runbooks.incident-response']]),
      ],
      ['runbooks.deploy-rollback', 'Deployment / rollback procedure', checks([['runbooks.deploy-rollback']])],
      ['runbooks.secret-rotation', 'Secret rotation steps', checks([['runbooks.secret-rotation']])],
      ['runbooks.backup-restore', 'Backup restore test steps', checks([['runbooks.backup-restore']])],
      ['runbooks.on-call-escalation', 'On-call escalation matrix', checks([['runbooks.on-call-escalation']])],
    ],
  ],
  [
    '11. Release & Versioning',
    [
      ['release.git-sha', 'Embed Git SHA at build time', checks([['version.git-sha']])],
      ['release.tags-changelog', 'Tag releases and generate changelog', checks([['pipeline.release']])],
      ['release.immutable-tags', 'Immutable image tags (git SHA) in deploy manifests', checks([['k8s.image-digests']])],
    ],
  ],
  [
    '12. Future Enhancements',
    [
      ['future.key-rotation', 'Asymmetric JWT & key rotation', checks([['jwt.asymmetric', 'metrics.keyring']])],
      [
        'future.distributed-limits',
        'Distributed cache / rate limit cluster coordination',
        checks([['k8s.redis', 'metrics.redis']]),
      ],
      [
        'future.failover',
        'Regional failover strategy',
        manual('a strategy across regions is a design decision and a rehearsed procedure, invisible from one deployment'),
      ],
      ['future.waf', 'DDoS mitigation / WAF integration', checks([['k8s.waf']])],
    ],
  ],
];

export const CHECKLIST: readonly ChecklistItem[] = SECTIONS.flatMap(([section, rows]) =>
  rows.map(([id, text, proof]) => ({ id, section, text, proof })),
);

/** Every check id the table names (alternatives and refinements). */
export function referencedChecks(items: readonly ChecklistItem[] = CHECKLIST): Set<string> {
  const ids = new Set<string>();
  for (const item of items) {
    if (item.proof.kind !== 'checks') continue;
    for (const alternative of item.proof.any) for (const id of alternative) ids.add(id);
    for (const id of item.proof.also) ids.add(id);
  }
  return ids;
}
