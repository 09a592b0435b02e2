import { existsSync, readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { type AlertRule, REQUIRED_ALERTS } from './alerts.js';
import { containersOf, envOf, idOf, type K8sObject, podSpecOf } from './kustomize.js';
import { egressRulesTo, SETTINGS_CHECK_IDS, settingsChecks } from './manifest-settings.js';
import { type CheckResult, fail, pass } from './result.js';

/**
 * The manifest tier (`--kustomize <overlay>`): what the rendered objects promise — pinned images,
 * network policies, probes, disruption budget, autoscaler, resources, hardened pods, TLS at the
 * ingress, the WAF, alert coverage, the backup/drill/retention CronJobs, secrets from the secret
 * manager — and the service's settings as the Deployment sets them (manifest-settings.ts).
 */
export const STRUCTURE_CHECK_IDS = [
  'k8s.image-digests',
  'k8s.egress',
  'k8s.private-data',
  'k8s.probes',
  'k8s.pdb',
  'k8s.hpa',
  'k8s.resources',
  'k8s.security-context',
  'k8s.shutdown',
  'k8s.ingress-tls',
  'k8s.waf',
  'k8s.prometheusrule',
  'k8s.cronjobs',
  'k8s.external-secrets',
] as const;

export const MANIFEST_CHECK_IDS: readonly string[] = [...STRUCTURE_CHECK_IDS, ...SETTINGS_CHECK_IDS];

export interface ManifestInput {
  objects: readonly K8sObject[];
  overlay: string;
  /** The alerts the PrometheusRule must carry (from --alerts-dir); undefined: the required list. */
  alerts?: readonly AlertRule[];
  /** The ingress controller's ConfigMap file (its WAF settings), when given or found. */
  wafConfig?: string;
}

const DIGEST = /@sha256:[0-9a-f]{64}$/;
const SHA_TAG = /:[0-9a-f]{40}$/;
const PRIVATE = [/^10\./, /^172\.(1[6-9]|2\d|3[01])\./, /^192\.168\./];
const TITLES: Record<(typeof STRUCTURE_CHECK_IDS)[number], string> = {
  'k8s.image-digests': 'Images pinned by digest (@sha256:) with their immutable git-SHA tag recorded (rampart.io/image-tag)',
  'k8s.egress': 'Egress restricted: a default-deny NetworkPolicy, and every allowed egress names its ports and destinations',
  'k8s.private-data': 'PostgreSQL and Redis reached on private addresses only; no LoadBalancer/NodePort Service',
  'k8s.probes': 'Liveness and readiness probes on every Deployment container',
  'k8s.pdb': 'PodDisruptionBudget covering the API pods',
  'k8s.hpa': 'HorizontalPodAutoscaler on the API Deployment, at least 2 replicas',
  'k8s.resources': 'CPU and memory requests and limits on every container',
  'k8s.security-context': 'Pods hardened: non-root, read-only root filesystem, no privilege escalation, all capabilities dropped',
  'k8s.shutdown':
    'Graceful shutdown budget: terminationGracePeriodSeconds ≥ preStop + SHUTDOWN_DELAY_MS + SHUTDOWN_GRACE_MS; rolling updates keep every pod until its successor is ready',
  'k8s.ingress-tls': 'HTTPS at the ingress: every host of every Ingress in its tls section',
  'k8s.waf': 'WAF: ModSecurity with the OWASP Core Rule Set, blocking (SecRuleEngine On)',
  'k8s.prometheusrule': 'PrometheusRule carries every alert of --alerts-dir, unchanged',
  'k8s.cronjobs': 'Scheduled backup, restore-drill and retention CronJobs (not suspended)',
  'k8s.external-secrets':
    'Secrets from the secret manager (ExternalSecret), never as plain values or Secret objects in the manifests',
};

export function manifestChecks(input: ManifestInput): CheckResult[] {
  const { objects } = input;
  const results: CheckResult[] = [];
  const check = (id: (typeof STRUCTURE_CHECK_IDS)[number], problems: readonly (string | false | undefined)[], seen: string) => {
    const p = problems.filter((x): x is string => typeof x === 'string');
    results.push(p.length === 0 ? pass(id, TITLES[id], seen) : fail(id, TITLES[id], p.join('; ')));
  };
  const workloads = objects.filter((o) => podSpecOf(o) !== undefined);
  const containers = containersOf(objects);
  const deployments = objects.filter((o) => o.kind === 'Deployment');
  const api = containersOf(objects, ['Deployment']);
  const policies = objects.filter((o) => o.kind === 'NetworkPolicy');

  // Images.
  const unpinned = containers.filter(({ c }) => !DIGEST.test(String(c.image ?? '')));
  const placeholder = containers.filter(({ c }) => /@sha256:0{64}$/.test(String(c.image ?? '')));
  const untagged = workloads.filter((w) => !SHA_TAG.test(String(w.metadata?.annotations?.['rampart.io/image-tag'] ?? '')));
  check(
    'k8s.image-digests',
    [
      unpinned.length > 0 && `not pinned by digest: ${unpinned.map(({ owner, c }) => `${owner} (${c.image})`).join(', ')}`,
      placeholder.length > 0 &&
        `placeholder digest sha256:000…0 (the release pipeline sets the real one: kustomize edit set image): ${placeholder.map((x) => x.owner).join(', ')}`,
      untagged.length > 0 && `no immutable git-SHA tag (rampart.io/image-tag): ${untagged.map(idOf).join(', ')}`,
    ],
    `${containers.length} container(s) pinned: ${[...new Set(containers.map(({ c }) => String(c.image).replace(/@sha256:([0-9a-f]{12})[0-9a-f]+/, '@sha256:$1…')))].join(', ')}`,
  );

  // Network.
  const defaultDeny = policies.find(
    (p) =>
      Object.keys(p.spec?.podSelector ?? {}).length === 0 &&
      (p.spec?.policyTypes ?? []).includes('Egress') &&
      (p.spec?.policyTypes ?? []).includes('Ingress') &&
      !(p.spec?.egress ?? []).length &&
      !(p.spec?.ingress ?? []).length,
  );
  const openRules = policies.flatMap((p) =>
    (p.spec?.egress ?? []).flatMap((rule: K8sObject, i: number) => {
      const problems = [!rule.to?.length && 'any destination', !rule.ports?.length && 'any port'].filter(Boolean);
      return problems.length > 0 ? [`NetworkPolicy/${p.metadata?.name} egress[${i}]: ${problems.join(' and ')}`] : [];
    }),
  );
  const destinations = policies.flatMap((p) =>
    (p.spec?.egress ?? []).map(
      (rule: K8sObject) =>
        `${(rule.ports ?? []).map((x: K8sObject) => x.port).join('/')}→${(rule.to ?? []).map((t: K8sObject) => t.ipBlock?.cidr ?? t.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] ?? 'pods').join(',')}`,
    ),
  );
  check(
    'k8s.egress',
    [
      !defaultDeny && 'no default-deny NetworkPolicy (podSelector {}, Ingress and Egress, no rule)',
      openRules.length > 0 && openRules.join(', '),
    ],
    `NetworkPolicy/${defaultDeny?.metadata?.name} denies by default; allowed egress: ${[...new Set(destinations)].join(' ')}`,
  );
  const data = { PostgreSQL: egressRulesTo(objects, [5432]), Redis: egressRulesTo(objects, [6379, 6380]) };
  const exposed = objects.filter((o) => o.kind === 'Service' && ['LoadBalancer', 'NodePort'].includes(o.spec?.type));
  check(
    'k8s.private-data',
    [
      ...Object.entries(data).map(([name, cidrs]) =>
        cidrs.length === 0
          ? `no egress rule to ${name}`
          : cidrs.some((c) => !PRIVATE.some((p) => p.test(c))) &&
            `${name} reachable at non-private ${cidrs.filter((c) => !PRIVATE.some((p) => p.test(c))).join(', ')}`,
      ),
      !defaultDeny && 'no default-deny NetworkPolicy: every destination is reachable',
      exposed.length > 0 && `exposed outside the cluster: ${exposed.map(idOf).join(', ')}`,
    ],
    `PostgreSQL at ${data.PostgreSQL.join(', ')}, Redis at ${data.Redis.join(', ')} (private); no LoadBalancer/NodePort Service`,
  );

  // Workloads.
  const noProbes = api.filter(({ c }) => !c.livenessProbe || !c.readinessProbe);
  check(
    'k8s.probes',
    [
      api.length === 0 && 'no Deployment',
      noProbes.length > 0 && `without liveness or readiness probe: ${noProbes.map((x) => x.owner).join(', ')}`,
    ],
    api
      .map(
        ({ owner, c }) =>
          `${owner}: liveness ${c.livenessProbe?.httpGet?.path ?? 'exec'}, readiness ${c.readinessProbe?.httpGet?.path ?? 'exec'}`,
      )
      .join('; '),
  );
  const selects = (selector: K8sObject | undefined, o: K8sObject) => {
    const labels = o.spec?.template?.metadata?.labels ?? {};
    const wanted = selector?.matchLabels ?? {};
    return Object.keys(wanted).length > 0 && Object.entries(wanted).every(([k, v]) => labels[k] === v);
  };
  const pdbs = objects.filter((o) => o.kind === 'PodDisruptionBudget');
  const unprotected = deployments.filter((d) => !pdbs.some((p) => selects(p.spec?.selector, d)));
  check(
    'k8s.pdb',
    [
      deployments.length === 0 && 'no Deployment',
      unprotected.length > 0 && `no PodDisruptionBudget selects ${unprotected.map(idOf).join(', ')}`,
    ],
    pdbs
      .map(
        (p) =>
          `${idOf(p)}: ${p.spec?.maxUnavailable !== undefined ? `maxUnavailable ${p.spec.maxUnavailable}` : `minAvailable ${p.spec?.minAvailable}`}`,
      )
      .join('; '),
  );
  const hpas = objects.filter((o) => o.kind === 'HorizontalPodAutoscaler');
  const hpaProblems = deployments.flatMap((d) => {
    const h = hpas.find(
      (x) => x.spec?.scaleTargetRef?.kind === 'Deployment' && x.spec?.scaleTargetRef?.name === d.metadata?.name,
    );
    if (!h) return [`no HorizontalPodAutoscaler targets ${idOf(d)}`];
    return (h.spec?.minReplicas ?? 1) < 2
      ? [`${idOf(h)}: minReplicas ${h.spec?.minReplicas ?? 1} (one pod is a single point of failure)`]
      : [];
  });
  check(
    'k8s.hpa',
    [deployments.length === 0 && 'no Deployment', hpaProblems.length > 0 && hpaProblems.join(', ')],
    hpas.map((h) => `${idOf(h)}: ${h.spec?.minReplicas}–${h.spec?.maxReplicas} replicas`).join('; '),
  );
  const unbounded = containers.filter(({ c }) =>
    ['requests', 'limits'].some((k) => !c.resources?.[k]?.cpu || !c.resources?.[k]?.memory),
  );
  check(
    'k8s.resources',
    [unbounded.length > 0 && `without cpu and memory requests and limits: ${unbounded.map((x) => x.owner).join(', ')}`],
    `${containers.length} container(s) with requests and limits`,
  );
  const soft = workloads.flatMap((w) => {
    const pod = podSpecOf(w) ?? {};
    return [...(pod.initContainers ?? []), ...(pod.containers ?? [])].flatMap((c: K8sObject) => {
      const sc = c.securityContext ?? {};
      const nonRoot = sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot;
      const problems = [
        nonRoot !== true && 'runAsNonRoot',
        sc.readOnlyRootFilesystem !== true && 'readOnlyRootFilesystem',
        sc.allowPrivilegeEscalation !== false && 'allowPrivilegeEscalation: false',
        !(sc.capabilities?.drop ?? []).includes('ALL') && 'capabilities.drop ALL',
        sc.privileged === true && 'not privileged',
      ].filter(Boolean);
      return problems.length > 0 ? [`${idOf(w)} ${c.name}: needs ${problems.join(', ')}`] : [];
    });
  });
  check(
    'k8s.security-context',
    [soft.length > 0 && soft.join('; ')],
    `${containers.length} container(s) non-root, read-only root, no escalation, no capabilities`,
  );
  const shutdown = deployments.flatMap((d) => {
    const pod = podSpecOf(d) ?? {};
    const grace = Number(pod.terminationGracePeriodSeconds ?? 30);
    return (pod.containers ?? []).map((c: K8sObject) => {
      const sleep = Number((c.lifecycle?.preStop?.exec?.command ?? []).join(' ').match(/sleep\s+(\d+)/)?.[1] ?? 0);
      const delay = Number(envOf(c, 'SHUTDOWN_DELAY_MS') ?? 5000) / 1000;
      const drain = Number(envOf(c, 'SHUTDOWN_GRACE_MS') ?? 25000) / 1000;
      const need = sleep + delay + drain;
      const surge = d.spec?.strategy?.rollingUpdate?.maxUnavailable;
      return {
        text: `${idOf(d)} ${c.name}: grace ${grace}s for preStop ${sleep}s + delay ${delay}s + drain ${drain}s = ${need}s, maxUnavailable ${surge ?? 'default 25%'}`,
        ok: grace >= need && String(surge) === '0',
      };
    });
  });
  check(
    'k8s.shutdown',
    [
      deployments.length === 0 && 'no Deployment',
      ...shutdown.filter((s: { ok: boolean }) => !s.ok).map((s: { text: string }) => s.text),
    ],
    shutdown.map((s: { text: string }) => s.text).join('; '),
  );

  // Ingress.
  const ingresses = objects.filter((o) => o.kind === 'Ingress');
  const uncovered = ingresses.flatMap((i) => {
    const tlsHosts = new Set((i.spec?.tls ?? []).filter((t: K8sObject) => t.secretName).flatMap((t: K8sObject) => t.hosts ?? []));
    return (i.spec?.rules ?? [])
      .map((r: K8sObject) => r.host)
      .filter((h: string) => !tlsHosts.has(h))
      .map((h: string) => `${idOf(i)}: ${h ?? '(any host)'} without TLS`);
  });
  check(
    'k8s.ingress-tls',
    [ingresses.length === 0 && 'no Ingress', ...uncovered],
    ingresses
      .map(
        (i) =>
          `${idOf(i)}: ${(i.spec?.tls ?? []).flatMap((t: K8sObject) => t.hosts ?? []).join(', ')} (secret ${(i.spec?.tls ?? []).map((t: K8sObject) => t.secretName).join(', ')})`,
      )
      .join('; '),
  );
  results.push(wafCheck(ingresses, objects, input.wafConfig));

  // Alerts in the PrometheusRule.
  const deployed = new Map<string, string>();
  for (const pr of objects.filter((o) => o.kind === 'PrometheusRule'))
    for (const g of pr.spec?.groups ?? [])
      for (const r of g.rules ?? []) if (r.alert) deployed.set(r.alert, String(r.expr ?? '').trim());
  const wanted = input.alerts
    ? input.alerts.map((a) => ({ name: a.alert, expr: a.expr as string | undefined }))
    : Object.keys(REQUIRED_ALERTS).map((name) => ({ name, expr: undefined }));
  const absent = wanted.filter((a) => !deployed.has(a.name)).map((a) => a.name);
  const changed = wanted
    .filter((a) => a.expr !== undefined && deployed.has(a.name) && deployed.get(a.name) !== a.expr)
    .map((a) => a.name);
  check(
    'k8s.prometheusrule',
    [
      deployed.size === 0 && 'no PrometheusRule with alerts',
      absent.length > 0 && `alerts not deployed: ${absent.join(', ')}`,
      changed.length > 0 &&
        `deployed with another expression than --alerts-dir (regenerate: node scripts/gen-prometheusrule.mjs): ${changed.join(', ')}`,
    ],
    `${deployed.size} alerts deployed, all ${wanted.length} of ${input.alerts ? '--alerts-dir' : 'the required list'} among them`,
  );

  // CronJobs.
  const cronjobs = objects.filter((o) => o.kind === 'CronJob');
  const TASKS = { backup: ['backup', 'create'], 'restore drill': ['backup', 'drill'], retention: ['retention', 'run'] } as const;
  const found = Object.entries(TASKS).map(([task, args]) => {
    const job = cronjobs.find((cj) =>
      (podSpecOf(cj)?.containers ?? []).some((c: K8sObject) => {
        const argv = [...(c.command ?? []), ...(c.args ?? [])].map(String);
        const at = argv.indexOf(args[0]);
        return at >= 0 && argv[at + 1] === args[1];
      }),
    );
    return { task, job };
  });
  check(
    'k8s.cronjobs',
    found.flatMap(({ task, job }) =>
      !job
        ? [`no CronJob runs the ${task} (secops ${TASKS[task as keyof typeof TASKS].join(' ')})`]
        : job.spec?.suspend === true
          ? [`${idOf(job)} (${task}) is suspended`]
          : [],
    ),
    found.map(({ task, job }) => `${task}: ${job ? `${idOf(job)} "${job.spec?.schedule}"` : 'none'}`).join(', '),
  );

  // Secrets.
  const externals = objects.filter((o) => o.kind === 'ExternalSecret');
  const produced = new Set(externals.map((e) => e.spec?.target?.name ?? e.metadata?.name));
  const plainSecrets = objects.filter(
    (o) => o.kind === 'Secret' && (Object.keys(o.data ?? {}).length > 0 || Object.keys(o.stringData ?? {}).length > 0),
  );
  const secretSettings = [
    'JWT_SECRET',
    'JWT_KEYS',
    'DATABASE_URL',
    'REDIS_URL',
    'MODEL_API_KEY',
    'MAIL_URL',
    'AUDIT_HASH_KEY',
    'MFA_ENCRYPTION_KEY',
    'BACKUP_SIGNING_KEY',
    'BACKUP_ENCRYPT_KEY',
  ];
  const inline = containers.flatMap(({ owner, c }) =>
    secretSettings.filter((n) => typeof envOf(c, n) === 'string').map((n) => `${owner}: ${n}`),
  );
  const mounted = workloads.flatMap((w) =>
    (podSpecOf(w)?.volumes ?? [])
      .filter((v: K8sObject) => v.secret?.secretName)
      .map((v: K8sObject) => ({ w, name: v.secret.secretName as string })),
  );
  const unmanaged = mounted
    .filter((m: { name: string }) => !produced.has(m.name))
    .map((m: { w: K8sObject; name: string }) => `${idOf(m.w)} mounts Secret ${m.name}`);
  const jwt = externals.some((e) => (e.spec?.data ?? []).some((d: K8sObject) => /^jwt/.test(String(d.secretKey))));
  check(
    'k8s.external-secrets',
    [
      externals.length === 0 && 'no ExternalSecret',
      !jwt && 'the JWT keys (jwt-keys / jwt-secret) do not come from an ExternalSecret',
      plainSecrets.length > 0 && `Secret objects with data in the manifests: ${plainSecrets.map(idOf).join(', ')}`,
      inline.length > 0 && `secrets as plain values: ${inline.join(', ')}`,
      unmanaged.length > 0 && `not from the secret manager: ${[...new Set(unmanaged)].join(', ')}`,
    ],
    externals
      .map(
        (e) =>
          `${idOf(e)} → Secret ${e.spec?.target?.name} from ${e.spec?.secretStoreRef?.kind}/${e.spec?.secretStoreRef?.name} (${(e.spec?.data ?? []).length} keys, jwt-keys among them)`,
      )
      .join('; '),
  );

  results.push(...settingsChecks(api, objects));
  return results;
}

/**
 * k8s.waf: ModSecurity on, with the CRS, blocking. From the Ingress annotations, or from the ingress
 * controller's ConfigMap — in the rendered objects, or in the file given (the controller is the
 * cluster's: k8s/ingress-nginx/controller-configmap.yaml).
 */
function wafCheck(ingresses: readonly K8sObject[], objects: readonly K8sObject[], file: string | undefined): CheckResult {
  const id = 'k8s.waf';
  const title = TITLES[id];
  const sources: { where: string; settings: Record<string, string> }[] = [];
  for (const i of ingresses) {
    const a = i.metadata?.annotations ?? {};
    const pick = (k: string) => a[`nginx.ingress.kubernetes.io/${k}`];
    if (pick('enable-modsecurity') !== undefined)
      sources.push({
        where: `${idOf(i)} annotations`,
        settings: {
          'enable-modsecurity': pick('enable-modsecurity'),
          'enable-owasp-modsecurity-crs': pick('enable-owasp-core-rules'),
          'modsecurity-snippet': pick('modsecurity-snippet') ?? '',
        },
      });
  }
  const configMaps = objects.filter((o) => o.kind === 'ConfigMap' && o.data?.['enable-modsecurity'] !== undefined);
  if (file && existsSync(file)) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      const o = doc.toJS() as K8sObject | null;
      if (o?.kind === 'ConfigMap') configMaps.push(o);
    }
  }
  for (const cm of configMaps) sources.push({ where: `${idOf(cm)}${file ? ` (${file})` : ''}`, settings: cm.data ?? {} });
  if (sources.length === 0)
    return fail(
      id,
      title,
      `no ModSecurity setting on the Ingress nor in an ingress-nginx ConfigMap${file ? ` (${file})` : ' (pass --waf-config <controller ConfigMap>)'}`,
    );
  const judged = sources.map(({ where, settings }) => {
    const problems = [
      String(settings['enable-modsecurity']) !== 'true' && 'enable-modsecurity is not "true"',
      String(settings['enable-owasp-modsecurity-crs']) !== 'true' && 'the OWASP CRS is not enabled',
      /SecRuleEngine\s+(DetectionOnly|Off)/i.test(settings['modsecurity-snippet'] ?? '') &&
        'SecRuleEngine is not On (detection only)',
    ].filter(Boolean);
    return { where, problems };
  });
  const good = judged.find((j) => j.problems.length === 0);
  return good
    ? pass(id, title, `${good.where}: ModSecurity on, OWASP CRS on, SecRuleEngine On`)
    : fail(id, title, judged.map((j) => `${j.where}: ${j.problems.join(', ')}`).join('; '));
}
