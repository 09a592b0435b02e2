/**
 * Dashboards as code (issue 25): every Grafana dashboard of Rampart, built with the Grafana Foundation
 * SDK from the metrics the service exposes (service/src/platform/metrics.ts) and the ones `secops`
 * pushes to the Pushgateway (cli/src/lib/backup/pushgateway.ts, cli/src/lib/pitr/pushgateway.ts).
 *
 *   node --import tsx scripts/dashboards.ts           check: exit 1 when dashboards/*.json or the
 *                                                      ConfigMap differ from what would be written
 *   node --import tsx scripts/dashboards.ts --write   write dashboards/*.json and
 *                                                      k8s/base/grafana-dashboards-configmap.yaml
 *   --root DIR                                         under DIR instead of the repository (tests)
 *
 * The ConfigMap carries the label grafana_dashboard: "1", which the Grafana sidecar (kiwigrid
 * k8s-sidecar, as in the kube-prometheus-stack chart) watches. Every query names job="rampart" (the
 * ServiceMonitor's job, as the alerts do) and the data source is the dashboard variable ${datasource}.
 * test/dashboards/prometheus.test.ts evaluates every query here against a live Prometheus.
 * The objectives (99.9 % availability, 300 ms p95) are docs/slo.md's.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import {
  DashboardBuilder,
  DatasourceVariableBuilder,
  type Panel,
  RowBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';
import { stringify } from 'yaml';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dashboardDir = (root: string) => join(root, 'dashboards');
const configMapPath = (root: string) => join(root, 'k8s/base/grafana-dashboards-configmap.yaml');
export const CONFIGMAP_PATH = configMapPath(ROOT);

/** The availability objective (docs/slo.md): 99.9 % of requests answered without a 5xx over 30 days. */
export const AVAILABILITY_OBJECTIVE = 0.999;
/** The latency objective (docs/slo.md, RampartLatencyP95High): p95 under 0.3 s (a bucket edge). */
export const LATENCY_OBJECTIVE_SECONDS = 0.3;

// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template
const DS = { type: 'prometheus', uid: '${datasource}' };
const J = 'job="rampart"';
const RI = '$__rate_interval';

interface Query {
  expr: string;
  legend?: string;
}

const queries = (qs: Query[]) =>
  qs.map((q, i) => {
    const b = new DataqueryBuilder()
      .datasource(DS)
      .expr(q.expr)
      .refId(String.fromCharCode(65 + i));
    return q.legend ? b.legendFormat(q.legend) : b;
  });

function thresholds(steps: [number | null, string][]) {
  return new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps(steps.map(([value, color]) => ({ value, color })));
}

interface PanelSpec {
  title: string;
  description: string;
  unit: string;
  queries: Query[];
  /** Threshold steps (first value null), colouring stats and drawing lines on graphs. */
  steps?: [number | null, string][];
  min?: number;
  max?: number;
}

function timeseries(p: PanelSpec, span = 12): cog.Builder<Panel> {
  let b = new TimeseriesBuilder()
    .title(p.title)
    .description(p.description)
    .datasource(DS)
    .unit(p.unit)
    .span(span)
    .height(8)
    .targets(queries(p.queries));
  if (p.min !== undefined) b = b.min(p.min);
  if (p.max !== undefined) b = b.max(p.max);
  if (p.steps) b = b.thresholds(thresholds(p.steps));
  return b;
}

function stat(p: PanelSpec, span = 6): cog.Builder<Panel> {
  let b = new StatBuilder()
    .title(p.title)
    .description(p.description)
    .datasource(DS)
    .unit(p.unit)
    .span(span)
    .height(5)
    .targets(queries(p.queries));
  if (p.min !== undefined) b = b.min(p.min);
  if (p.max !== undefined) b = b.max(p.max);
  if (p.steps) b = b.thresholds(thresholds(p.steps));
  return b;
}

type Item = cog.Builder<Panel> | RowBuilder;

function dashboard(uid: string, title: string, description: string, items: Item[]): DashboardBuilder {
  let d = new DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['rampart', 'generated'])
    .editable()
    .refresh('1m')
    .time({ from: 'now-6h', to: 'now' })
    .timezone('utc')
    .withVariable(new DatasourceVariableBuilder('datasource').label('Data source').type('prometheus'));
  for (const item of items) d = item instanceof RowBuilder ? d.withRow(item) : d.withPanel(item);
  return d;
}

const row = (title: string) => new RowBuilder(title);

// ---- the dashboards ------------------------------------------------------------------------------

const NOT_5XX = `http_requests_total{${J},status!~"5.."}`;
const ALL = `http_requests_total{${J}}`;
const BUDGET = 1 - AVAILABILITY_OBJECTIVE;

function overview(): DashboardBuilder {
  const availability30d = `sum(increase(${NOT_5XX}[30d])) / sum(increase(${ALL}[30d]))`;
  return dashboard(
    'rampart-overview',
    'Rampart / Overview and SLOs',
    'SLIs, objectives and the 30-day error budget (docs/slo.md).',
    [
      row('Service level objectives (30 days)'),
      stat({
        title: 'Availability SLI (30 d)',
        description: `Requests answered without a 5xx over 30 days. Objective: ${AVAILABILITY_OBJECTIVE * 100} %.`,
        unit: 'percentunit',
        queries: [{ expr: availability30d }],
        steps: [
          [null, 'red'],
          [AVAILABILITY_OBJECTIVE, 'green'],
        ],
      }),
      stat({
        title: 'Error budget remaining (30 d)',
        description: `Share of the 30-day budget of 5xx answers (${(BUDGET * 100).toFixed(1)} % of requests) not yet spent; below 0 the objective is missed. Policy: docs/slo.md.`,
        unit: 'percentunit',
        queries: [{ expr: `1 - (1 - ${availability30d}) / ${BUDGET}` }],
        steps: [
          [null, 'red'],
          [0.25, 'orange'],
          [0.5, 'green'],
        ],
      }),
      stat({
        title: 'Latency SLI: requests under 300 ms (30 d)',
        description:
          'Share of requests answered within the 0.3 s latency budget (a histogram bucket edge, so exact) over 30 days.',
        unit: 'percentunit',
        queries: [
          {
            expr: `sum(increase(http_request_duration_seconds_bucket{${J},le="${LATENCY_OBJECTIVE_SECONDS}"}[30d])) / sum(increase(http_request_duration_seconds_count{${J}}[30d]))`,
          },
        ],
        steps: [
          [null, 'red'],
          [0.95, 'green'],
        ],
      }),
      stat({
        title: 'p95 latency (5 m)',
        description: `p95 request latency now; RampartLatencyP95High tickets above ${LATENCY_OBJECTIVE_SECONDS} s for 15 minutes.`,
        unit: 's',
        queries: [{ expr: `histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{${J}}[5m])))` }],
        steps: [
          [null, 'green'],
          [LATENCY_OBJECTIVE_SECONDS, 'red'],
        ],
      }),
      row('Error budget burn'),
      timeseries({
        title: '5xx ratio by window (burn-rate alert inputs)',
        description:
          'The 5xx share of requests over the burn-rate windows. RampartErrorBudgetBurnFast pages above 14.4 × the budget (1 h and 5 m) or 6 × (6 h and 30 m).',
        unit: 'percentunit',
        min: 0,
        queries: ['5m', '30m', '1h', '6h'].map((w) => ({
          expr: `sum(rate(http_requests_total{${J},status=~"5.."}[${w}])) / sum(rate(${ALL}[${w}]))`,
          legend: w,
        })),
        steps: [
          [null, 'green'],
          [6 * BUDGET, 'orange'],
          [14.4 * BUDGET, 'red'],
        ],
      }),
      timeseries({
        title: 'Error budget burn rate (1 h)',
        description: 'How many times faster than sustainable the budget is spent (1 = exactly used up in 30 days).',
        unit: 'none',
        min: 0,
        queries: [{ expr: `(1 - sum(rate(${NOT_5XX}[1h])) / sum(rate(${ALL}[1h]))) / ${BUDGET}`, legend: 'burn rate' }],
        steps: [
          [null, 'green'],
          [6, 'orange'],
          [14.4, 'red'],
        ],
      }),
      row('Traffic and latency'),
      timeseries({
        title: 'Requests by status',
        description: 'Requests answered per second, by HTTP status.',
        unit: 'reqps',
        min: 0,
        queries: [{ expr: `sum by (status) (rate(${ALL}[${RI}]))`, legend: '{{status}}' }],
      }),
      timeseries({
        title: 'Request latency p50 / p95 / p99',
        description: `From http_request_duration_seconds; the latency objective is p95 under ${LATENCY_OBJECTIVE_SECONDS} s.`,
        unit: 's',
        min: 0,
        queries: [0.5, 0.95, 0.99].map((q) => ({
          expr: `histogram_quantile(${q}, sum by (le) (rate(http_request_duration_seconds_bucket{${J}}[${RI}])))`,
          legend: `p${q * 100}`,
        })),
        steps: [
          [null, 'green'],
          [LATENCY_OBJECTIVE_SECONDS, 'red'],
        ],
      }),
      timeseries({
        title: 'p95 latency by route',
        description: 'The slowest route templates first in the legend.',
        unit: 's',
        min: 0,
        queries: [
          {
            expr: `histogram_quantile(0.95, sum by (route, le) (rate(http_request_duration_seconds_bucket{${J}}[${RI}])))`,
            legend: '{{route}}',
          },
        ],
      }),
      timeseries({
        title: 'Targets up and running builds',
        description: 'Scraped replicas that answer (up) and the build each runs (build_info).',
        unit: 'short',
        min: 0,
        queries: [
          { expr: `sum(up{${J}})`, legend: 'up' },
          { expr: `count by (version, git_sha) (build_info{${J}})`, legend: '{{version}} {{git_sha}}' },
        ],
      }),
    ],
  );
}

function auth(): DashboardBuilder {
  return dashboard(
    'rampart-auth',
    'Rampart / Auth and lockouts',
    'Authentication outcomes, lockouts, second factors and the JWT keyring.',
    [
      row('Authentication'),
      timeseries({
        title: 'Successful authentications by flow',
        description: 'auth_success_total: signup, login, refresh, password_change.',
        unit: 'ops',
        min: 0,
        queries: [{ expr: `sum by (flow) (rate(auth_success_total{${J}}[${RI}]))`, legend: '{{flow}}' }],
      }),
      timeseries({
        title: 'Failed authentications by flow and reason',
        description: 'auth_fail_total. RampartAuthFailureSpike pages above 10/s.',
        unit: 'ops',
        min: 0,
        queries: [{ expr: `sum by (flow, reason) (rate(auth_fail_total{${J}}[${RI}]))`, legend: '{{flow}} {{reason}}' }],
        steps: [
          [null, 'green'],
          [10, 'red'],
        ],
      }),
      timeseries({
        title: 'Authentication failure ratio (5 m)',
        description: 'Failures / (failures + successes). RampartAuthFailureRatioHigh tickets above 50 %.',
        unit: 'percentunit',
        min: 0,
        max: 1,
        queries: [
          {
            expr: `sum(rate(auth_fail_total{${J}}[5m])) / (sum(rate(auth_fail_total{${J}}[5m])) + sum(rate(auth_success_total{${J}}[5m])))`,
            legend: 'failure ratio',
          },
        ],
        steps: [
          [null, 'green'],
          [0.5, 'red'],
        ],
      }),
      timeseries({
        title: 'Logins refused as locked out (15 m)',
        description:
          'auth_fail_total{reason="locked_out_<limiter>"} over 15 minutes, by the limiter that refused. RampartLoginLockoutsSpike tickets above 20 in all.',
        unit: 'short',
        min: 0,
        queries: [
          { expr: `sum by (reason) (increase(auth_fail_total{${J},reason=~"locked_out_.+"}[15m]))`, legend: '{{reason}}' },
        ],
        steps: [
          [null, 'green'],
          [20, 'red'],
        ],
      }),
      row('Second factors and keys'),
      timeseries({
        title: 'Second-factor attempts by method and outcome',
        description: 'mfa_challenges_total. RampartMfaFailuresSpike pages when failures and lockouts exceed 0.2/s.',
        unit: 'ops',
        min: 0,
        queries: [
          { expr: `sum by (method, outcome) (rate(mfa_challenges_total{${J}}[${RI}]))`, legend: '{{method}} {{outcome}}' },
        ],
      }),
      timeseries({
        title: 'JWT keyring: keys in force and age of the last load',
        description: 'jwt_keyring_keys by role, and the seconds since each replica last loaded its keyring.',
        unit: 'short',
        min: 0,
        queries: [
          { expr: `count by (role) (jwt_keyring_keys{${J}})`, legend: 'keys ({{role}})' },
          {
            expr: `time() - max by (instance) (jwt_keyring_last_load_timestamp_seconds{${J}})`,
            legend: 'seconds since load {{instance}}',
          },
        ],
      }),
    ],
  );
}

function rateLimits(): DashboardBuilder {
  return dashboard(
    'rampart-rate-limits',
    'Rampart / Rate limits and abuse',
    'Rate-limit refusals, the anomaly breaker and the Redis fallback.',
    [
      timeseries({
        title: 'Requests refused by limiter and route',
        description: 'rate_limit_dropped_total.',
        unit: 'reqps',
        min: 0,
        queries: [
          { expr: `sum by (limiter, route) (rate(rate_limit_dropped_total{${J}}[${RI}]))`, legend: '{{limiter}} {{route}}' },
        ],
      }),
      timeseries({
        title: 'Share of requests refused by a rate limiter (5 m)',
        description: 'RampartRateLimitDropsSpike (info) above 5 %.',
        unit: 'percentunit',
        min: 0,
        queries: [{ expr: `sum(rate(rate_limit_dropped_total{${J}}[5m])) / sum(rate(${ALL}[5m]))`, legend: 'refused' }],
        steps: [
          [null, 'green'],
          [0.05, 'orange'],
        ],
      }),
      timeseries({
        title: '429 answers by route',
        description: 'Every 429: rate limits, login lockouts, spent model budgets.',
        unit: 'reqps',
        min: 0,
        queries: [{ expr: `sum by (route) (rate(http_requests_total{${J},status="429"}[${RI}]))`, legend: '{{route}}' }],
      }),
      timeseries({
        title: 'IPs blocked by the anomaly breaker (1 h)',
        description: 'abuse_blocks_total: client IPs blocked after ABUSE_BLOCK_AFTER_REJECTIONS refusals in a minute.',
        unit: 'short',
        min: 0,
        queries: [{ expr: `sum(increase(abuse_blocks_total{${J}}[1h]))`, legend: 'blocks' }],
      }),
      stat({
        title: 'Replicas limiting in memory (Redis away)',
        description:
          'rate_limit_redis_fallback: 1 per replica whose Redis is configured but unreachable; limits are then per replica.',
        unit: 'short',
        queries: [{ expr: `sum(rate_limit_redis_fallback{${J}})` }],
        steps: [
          [null, 'green'],
          [1, 'red'],
        ],
      }),
    ],
  );
}

function database(): DashboardBuilder {
  return dashboard('rampart-database', 'Rampart / Database pool', 'Connection-pool gauges, read from the pool at scrape time.', [
    timeseries({
      title: 'Pool connections by replica',
      description: 'db_pool_in_use, db_pool_idle and db_pool_max.',
      unit: 'short',
      min: 0,
      queries: [
        { expr: `db_pool_in_use{${J}}`, legend: 'in use {{instance}}' },
        { expr: `db_pool_idle{${J}}`, legend: 'idle {{instance}}' },
        { expr: `db_pool_max{${J}}`, legend: 'max {{instance}}' },
      ],
    }),
    timeseries({
      title: 'Pool in use / max',
      description: 'RampartDbPoolSaturated tickets above 90 % for 10 minutes.',
      unit: 'percentunit',
      min: 0,
      max: 1,
      queries: [{ expr: `db_pool_in_use{${J}} / db_pool_max{${J}}`, legend: '{{instance}}' }],
      steps: [
        [null, 'green'],
        [0.9, 'red'],
      ],
    }),
    timeseries({
      title: 'Queries waiting for a connection',
      description: 'db_pool_waiting. RampartDbPoolWaiting pages when it stays above 0.',
      unit: 'short',
      min: 0,
      queries: [{ expr: `db_pool_waiting{${J}}`, legend: '{{instance}}' }],
      steps: [
        [null, 'green'],
        [1, 'red'],
      ],
    }),
  ]);
}

function model(): DashboardBuilder {
  return dashboard(
    'rampart-model',
    'Rampart / Model latency, tokens and budgets',
    'Upstream model latency and errors, tokens spent and budget refusals.',
    [
      row('Latency and errors'),
      timeseries({
        title: 'Time to first token p95 by provider',
        description: 'external_model_latency_seconds{phase="first_token"}. RampartExternalModelSlowFirstToken tickets above 5 s.',
        unit: 's',
        min: 0,
        queries: [
          {
            expr: `histogram_quantile(0.95, sum by (provider, le) (rate(external_model_latency_seconds_bucket{${J},phase="first_token"}[${RI}])))`,
            legend: '{{provider}}',
          },
        ],
        steps: [
          [null, 'green'],
          [5, 'red'],
        ],
      }),
      timeseries({
        title: 'Whole reply p95 by provider',
        description: 'external_model_latency_seconds{phase="total"}.',
        unit: 's',
        min: 0,
        queries: [
          {
            expr: `histogram_quantile(0.95, sum by (provider, le) (rate(external_model_latency_seconds_bucket{${J},phase="total"}[${RI}])))`,
            legend: '{{provider}}',
          },
        ],
      }),
      timeseries({
        title: 'Model calls by provider and outcome',
        description: 'Finished calls (phase="total") per second.',
        unit: 'ops',
        min: 0,
        queries: [
          {
            expr: `sum by (provider, outcome) (rate(external_model_latency_seconds_count{${J},phase="total"}[${RI}]))`,
            legend: '{{provider}} {{outcome}}',
          },
        ],
      }),
      timeseries({
        title: 'Model error ratio by provider (5 m)',
        description: 'Calls not ending ok. RampartExternalModelErrors pages above 10 %.',
        unit: 'percentunit',
        min: 0,
        max: 1,
        queries: [
          {
            expr: `sum by (provider) (rate(external_model_latency_seconds_count{${J},phase="total",outcome!="ok"}[5m])) / sum by (provider) (rate(external_model_latency_seconds_count{${J},phase="total"}[5m]))`,
            legend: '{{provider}}',
          },
        ],
        steps: [
          [null, 'green'],
          [0.1, 'red'],
        ],
      }),
      row('Tokens and budgets'),
      timeseries({
        title: 'Tokens by model and kind',
        description: 'model_tokens_total (prompt, completion). RampartModelTokensSurge tickets at 3 × the 6-hour average.',
        unit: 'short',
        min: 0,
        queries: [
          {
            expr: `sum by (provider, model, kind) (rate(model_tokens_total{${J}}[${RI}]))`,
            legend: '{{provider}} {{model}} {{kind}}',
          },
          { expr: `3 * sum(rate(model_tokens_total{${J}}[6h]))`, legend: '3 × 6-hour average' },
        ],
      }),
      timeseries({
        title: 'Calls refused for spent budgets by window',
        description: 'model_budget_rejections_total (day, month). RampartModelBudgetRejections tickets above 0.05/s.',
        unit: 'ops',
        min: 0,
        queries: [{ expr: `sum by (window) (rate(model_budget_rejections_total{${J}}[${RI}]))`, legend: '{{window}}' }],
      }),
      stat({
        title: 'Reply streams open',
        description: 'sse_streams_active, all replicas.',
        unit: 'short',
        queries: [{ expr: `sum(sse_streams_active{${J}})` }],
      }),
    ],
  );
}

function mail(): DashboardBuilder {
  return dashboard('rampart-mail', 'Rampart / Mail outbox', 'The transactional mail outbox and its sender.', [
    stat({
      title: 'Mails waiting',
      description: 'mail_outbox_pending (every replica reports the one table: max, not sum).',
      unit: 'short',
      queries: [{ expr: `max(mail_outbox_pending{${J}})` }],
    }),
    stat({
      title: 'Oldest waiting mail',
      description: 'mail_outbox_oldest_age_seconds. RampartMailOutboxStuck pages above 10 minutes while nothing is sent.',
      unit: 's',
      queries: [{ expr: `max(mail_outbox_oldest_age_seconds{${J}})` }],
      steps: [
        [null, 'green'],
        [600, 'red'],
      ],
    }),
    stat({
      title: 'Dead letters kept',
      description: 'mail_outbox_dead. RampartMailDeadLetters tickets on any new one.',
      unit: 'short',
      queries: [{ expr: `max(mail_outbox_dead{${J}})` }],
      steps: [
        [null, 'green'],
        [1, 'orange'],
      ],
    }),
    timeseries({
      title: 'Send attempts by template and outcome',
      description: 'mail_sent_total: sent, retry, dead.',
      unit: 'ops',
      min: 0,
      queries: [{ expr: `sum by (template, outcome) (rate(mail_sent_total{${J}}[${RI}]))`, legend: '{{template}} {{outcome}}' }],
    }),
    timeseries({
      title: 'Outbox over time',
      description: 'Waiting and dead-lettered mails.',
      unit: 'short',
      min: 0,
      queries: [
        { expr: `max(mail_outbox_pending{${J}})`, legend: 'waiting' },
        { expr: `max(mail_outbox_dead{${J}})`, legend: 'dead' },
      ],
    }),
  ]);
}

function backups(): DashboardBuilder {
  return dashboard(
    'rampart-backups',
    'Rampart / Backups and PITR',
    'Pushed by secops to the Pushgateway: `secops backup drill --pushgateway` and `secops pitr status|drill --pushgateway`.',
    [
      row('Backup restore drills'),
      stat({
        title: 'Last backup drill',
        description: 'rampart_backup_drill_last_result: 1 passed, 0 failed (RampartBackupDrillFailing).',
        unit: 'bool_yes_no',
        queries: [{ expr: 'min(rampart_backup_drill_last_result)' }],
        steps: [
          [null, 'red'],
          [1, 'green'],
        ],
      }),
      stat({
        title: 'Since the last passing backup drill',
        description: 'RampartBackupDrillStale tickets after 30 hours.',
        unit: 's',
        queries: [{ expr: 'time() - max(rampart_backup_drill_last_success_timestamp_seconds)' }],
        steps: [
          [null, 'green'],
          [30 * 3600, 'red'],
        ],
      }),
      stat({
        title: 'Latest verified backup sequence',
        description: 'rampart_backup_latest_sequence; a decrease pages (RampartBackupSequenceDecreased).',
        unit: 'none',
        queries: [{ expr: 'max(rampart_backup_latest_sequence)' }],
      }),
      timeseries(
        {
          title: 'Backup drill RTO and RPO',
          description: 'Time to a verified restore, and the age of the backup the drill restored.',
          unit: 's',
          min: 0,
          queries: [
            { expr: 'max(rampart_backup_drill_rto_seconds)', legend: 'RTO' },
            { expr: 'max(rampart_backup_drill_rpo_seconds)', legend: 'RPO' },
          ],
        },
        6,
      ),
      row('Point-in-time recovery'),
      timeseries({
        title: 'WAL archive lag',
        description:
          'rampart_pitr_archive_lag_seconds (0 while no WAL waits). RampartWalArchivingStalled pages above 10 minutes.',
        unit: 's',
        min: 0,
        queries: [{ expr: 'max(rampart_pitr_archive_lag_seconds)', legend: 'lag' }],
        steps: [
          [null, 'green'],
          [600, 'red'],
        ],
      }),
      timeseries({
        title: 'Recoverability window',
        description: 'Oldest backup to newest archived WAL. RampartPitrWindowShort tickets under 24 hours.',
        unit: 's',
        min: 0,
        queries: [{ expr: 'max(rampart_pitr_window_seconds)', legend: 'window' }],
        steps: [
          [null, 'red'],
          [24 * 3600, 'green'],
        ],
      }),
      stat({
        title: 'WAL archiving failing',
        description: 'rampart_pitr_archive_failing: 1 when the newest archive attempt failed.',
        unit: 'bool_yes_no',
        queries: [{ expr: 'max(rampart_pitr_archive_failing)' }],
        steps: [
          [null, 'green'],
          [1, 'red'],
        ],
      }),
      stat({
        title: 'WAL not yet archived',
        description: 'rampart_pitr_unarchived_bytes.',
        unit: 'bytes',
        queries: [{ expr: 'max(rampart_pitr_unarchived_bytes)' }],
      }),
      stat({
        title: 'Last PITR drill',
        description: 'rampart_pitr_drill_last_result: 1 passed, 0 failed (RampartPitrDrillFailing).',
        unit: 'bool_yes_no',
        queries: [{ expr: 'min(rampart_pitr_drill_last_result)' }],
        steps: [
          [null, 'red'],
          [1, 'green'],
        ],
      }),
      stat({
        title: 'PITR drill RTO',
        description: 'Restore and WAL replay time of the last PITR drill.',
        unit: 's',
        queries: [{ expr: 'max(rampart_pitr_drill_rto_seconds)' }],
      }),
    ],
  );
}

/** Every dashboard, by the file it is written to under dashboards/. */
export function buildDashboards(): { file: string; dashboard: Record<string, unknown> }[] {
  return [
    ['overview.json', overview()],
    ['auth.json', auth()],
    ['rate-limits.json', rateLimits()],
    ['database.json', database()],
    ['model.json', model()],
    ['mail.json', mail()],
    ['backups.json', backups()],
  ].map(([file, b]) => ({
    file: file as string,
    dashboard: (b as DashboardBuilder).build() as unknown as Record<string, unknown>,
  }));
}

/** Every Prometheus query of a dashboard, with the panel it belongs to. */
export function panelQueries(dashboard: Record<string, unknown>): { panel: string; expr: string }[] {
  const out: { panel: string; expr: string }[] = [];
  const visit = (panels: unknown) => {
    for (const p of (panels ?? []) as { title?: string; targets?: { expr?: string }[]; panels?: unknown }[]) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ panel: p.title ?? '', expr: t.expr });
      visit(p.panels);
    }
  };
  visit(dashboard.panels);
  return out;
}

/** The files the generator owns, path → content. */
export function generatedFiles(root = ROOT): Map<string, string> {
  const files = new Map<string, string>();
  const data: Record<string, string> = {};
  for (const { file, dashboard } of buildDashboards()) {
    const json = `${JSON.stringify(dashboard, null, 2)}\n`;
    files.set(join(dashboardDir(root), file), json);
    data[`rampart-${file}`] = json;
  }
  const configMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: 'rampart-grafana-dashboards',
      labels: { grafana_dashboard: '1' },
      annotations: { grafana_folder: 'Rampart' },
    },
    data,
  };
  files.set(
    configMapPath(root),
    `# Generated by scripts/dashboards.ts from the dashboards it builds (dashboards/*.json): do not edit.\n# The Grafana sidecar loads every ConfigMap labelled grafana_dashboard: "1".\n${stringify(configMap, { lineWidth: 0 })}`,
  );
  return files;
}

/** Paths that differ from what the generator writes (or are missing, or are stale extra dashboards). */
export function staleFiles(root = ROOT): string[] {
  const files = generatedFiles(root);
  const stale = [...files]
    .filter(([path, content]) => !existsSync(path) || readFileSync(path, 'utf8') !== content)
    .map(([p]) => p);
  if (existsSync(dashboardDir(root))) {
    for (const name of readdirSync(dashboardDir(root))) {
      const path = join(dashboardDir(root), name);
      if (name.endsWith('.json') && !files.has(path)) stale.push(path);
    }
  }
  return stale;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const rootAt = args.indexOf('--root');
  const root = rootAt >= 0 ? resolve(args[rootAt + 1] ?? '.') : ROOT;
  const unknown = args.filter((a, i) => a !== '--write' && a !== '--root' && i !== rootAt + 1);
  if (unknown.length || (rootAt >= 0 && args[rootAt + 1] === undefined)) {
    process.stderr.write(`dashboards: usage: node --import tsx scripts/dashboards.ts [--write] [--root DIR]\n`);
    process.exit(2);
  }
  if (args.includes('--write')) {
    for (const [path, content] of generatedFiles(root)) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content);
    }
  } else {
    const stale = staleFiles(root);
    if (stale.length) {
      process.stderr.write(
        `stale, run node --import tsx scripts/dashboards.ts --write:\n${stale.map((p) => `  ${p}`).join('\n')}\n`,
      );
      process.exit(1);
    }
  }
}
