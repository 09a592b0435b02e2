/**
 * k8s/: builds both kustomize overlays and checks every object:
 *  - schema: core kinds through kubernetes-models (types, required fields) plus a strict
 *    unknown-field check (kubernetes-models' validate() ignores misspelled keys); CRDs
 *    (ServiceMonitor, PrometheusRule, ExternalSecret) against a hand list of known fields;
 *  - policy: workload hardening, digest-pinned images, shutdown timing, one database credential per
 *    workload (its own role's), HPA, NetworkPolicies (evaluated: who may reach what), Ingress TLS
 *    without snippet annotations (HSTS from the controller's ConfigMap), trusted proxies, the
 *    retention CronJob, monitoring wiring;
 *  - k8s/base/prometheusrule.yaml is what scripts/gen-prometheusrule.mjs generates from alerts/.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { DEFAULT_ROLES, ROLE_KINDS } from '../../cli/src/lib/db-roles/defaults.js';
import { SETTINGS } from '../../service/src/config/settings.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OVERLAYS = ['staging', 'production'] as const;
type Overlay = (typeof OVERLAYS)[number];
type Obj = Record<string, any>;

const IMAGE_RE = /^ghcr\.io\/rampart\/rampart@sha256:[0-9a-f]{64}$/;
const TAG_ANNOTATION = 'rampart.io/image-tag';
const TAG_RE = /^ghcr\.io\/rampart\/rampart:[0-9a-f]{40}$/;
const CRD_KINDS = new Set(['ServiceMonitor', 'PrometheusRule', 'ExternalSecret']);

// ---- building ----------------------------------------------------------------------------------

const kubectlAvailable = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;
const built = new Map<Overlay, Obj[]>();

function build(overlay: Overlay): Obj[] {
  const cached = built.get(overlay);
  if (cached) return cached;
  const out = execFileSync('kubectl', ['kustomize', join(ROOT, 'k8s/overlays', overlay)], {
    encoding: 'utf8',
    maxBuffer: 32 * 1024 * 1024,
  });
  const docs = parseAllDocuments(out).map((d) => {
    if (d.errors.length) throw new Error(d.errors.map((e) => e.message).join('; '));
    return d.toJS() as Obj;
  });
  const objs = docs.filter((d) => d && typeof d === 'object');
  built.set(overlay, objs);
  return objs;
}

/** Skips when kubectl is missing (outside CI); fails in CI. Returns the objects otherwise. */
function objects(t: TestContext, overlay: Overlay): Obj[] | undefined {
  if (!kubectlAvailable) {
    if (process.env.CI) assert.fail('kubectl is required in CI to build k8s/overlays');
    t.skip('kubectl not installed');
    return undefined;
  }
  return build(overlay);
}

const byKind = (objs: Obj[], kind: string) => objs.filter((o) => o.kind === kind);
const one = (objs: Obj[], kind: string, name?: string): Obj => {
  const found = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  assert.equal(found.length, 1, `exactly one ${kind}${name ? `/${name}` : ''}`);
  return found[0] as Obj;
};
const id = (o: Obj) => `${o.kind}/${o.metadata?.name}`;

// ---- schema: kubernetes-models + unknown fields -------------------------------------------------

// kubernetes-models 5 is ES modules only (its exports have no `require` condition): the groups our
// manifests use are imported once here.
const MODEL_GROUPS = ['v1', 'apps/v1', 'autoscaling/v2', 'batch/v1', 'networking.k8s.io/v1', 'policy/v1'];
const models = new Map<string, Record<string, unknown>>(
  await Promise.all(
    MODEL_GROUPS.map(async (g) => [g, (await import(`kubernetes-models/${g}`)) as Record<string, unknown>] as const),
  ),
);

function modelClass(apiVersion: string, kind: string): any {
  const mod = models.get(apiVersion);
  if (!mod) throw new Error(`kubernetes-models group ${apiVersion} is not loaded (add it to MODEL_GROUPS)`);
  const cls = mod[kind];
  if (!cls) throw new Error(`kubernetes-models has no ${apiVersion} ${kind}`);
  return cls;
}

/**
 * Keys the model's schema does not define. kubernetes-models' validators are compiled JSON
 * schemas: they read every property the schema defines (and enumerate the keys of maps such as
 * labels). Validating a recording proxy therefore tells which keys the schema knows; any key of
 * an object that was never read, in an object whose keys were never enumerated, is unknown.
 */
function unknownFields(cls: any, data: Obj): string[] {
  type Rec = { path: string; read: Set<string>; enumerated: boolean };
  const recs = new Map<object, Rec>();
  const proxies = new WeakMap<object, object>();
  const wrap = (value: unknown, path: string): unknown => {
    if (value === null || typeof value !== 'object') return value;
    const target = value as object;
    const existing = proxies.get(target);
    if (existing) return existing;
    const rec: Rec = recs.get(target) ?? { path, read: new Set(), enumerated: false };
    recs.set(target, rec);
    const proxy = new Proxy(target, {
      get(t, k, r) {
        if (typeof k !== 'string') return Reflect.get(t, k, r);
        rec.read.add(k);
        return wrap(Reflect.get(t, k, r), `${rec.path}/${k}`);
      },
      has(t, k) {
        if (typeof k === 'string') rec.read.add(k);
        return Reflect.has(t, k);
      },
      ownKeys(t) {
        rec.enumerated = true;
        return Reflect.ownKeys(t);
      },
    });
    proxies.set(target, proxy);
    return proxy;
  };
  try {
    cls.prototype.validate.call(wrap(structuredClone(data), ''));
  } catch {
    // type errors are reported by the real validation; here only the reads matter
  }
  const unknown: string[] = [];
  for (const [target, rec] of recs) {
    if (Array.isArray(target) || rec.enumerated) continue;
    for (const key of Object.keys(target)) if (!rec.read.has(key)) unknown.push(`${rec.path}/${key}`);
  }
  return unknown;
}

/** Hand schemas for the CRDs: `true` = any value; `[S]` = list of S; object = known keys only. */
type Shape = true | Shape[] | { [key: string]: Shape };
const META: Shape = { name: true, namespace: true, labels: true, annotations: true };
const LABEL_SELECTOR: Shape = { matchLabels: true, matchExpressions: true };
const CRD_SHAPES: Record<string, Shape> = {
  'monitoring.coreos.com/v1 ServiceMonitor': {
    apiVersion: true,
    kind: true,
    metadata: META,
    spec: {
      selector: LABEL_SELECTOR,
      namespaceSelector: { any: true, matchNames: true },
      jobLabel: true,
      targetLabels: true,
      podTargetLabels: true,
      sampleLimit: true,
      endpoints: [
        {
          port: true,
          targetPort: true,
          path: true,
          scheme: true,
          interval: true,
          scrapeTimeout: true,
          honorLabels: true,
          honorTimestamps: true,
          tlsConfig: true,
          relabelings: true,
          metricRelabelings: true,
        },
      ],
    },
  },
  'monitoring.coreos.com/v1 PrometheusRule': {
    apiVersion: true,
    kind: true,
    metadata: META,
    spec: {
      groups: [
        {
          name: true,
          interval: true,
          limit: true,
          query_offset: true,
          partial_response_strategy: true,
          rules: [{ alert: true, record: true, expr: true, for: true, keep_firing_for: true, labels: true, annotations: true }],
        },
      ],
    },
  },
  'external-secrets.io/v1beta1 ExternalSecret': {
    apiVersion: true,
    kind: true,
    metadata: META,
    spec: {
      refreshInterval: true,
      secretStoreRef: { name: true, kind: true },
      target: { name: true, creationPolicy: true, deletionPolicy: true, template: true, immutable: true },
      data: [
        {
          secretKey: true,
          remoteRef: {
            key: true,
            property: true,
            version: true,
            conversionStrategy: true,
            decodingStrategy: true,
            metadataPolicy: true,
          },
          sourceRef: true,
        },
      ],
      dataFrom: true,
    },
  },
};

function shapeErrors(value: unknown, shape: Shape, path: string): string[] {
  if (shape === true) return [];
  if (Array.isArray(shape)) {
    if (!Array.isArray(value)) return [`${path}: expected a list`];
    return value.flatMap((v, i) => shapeErrors(v, shape[0] as Shape, `${path}/${i}`));
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [`${path}: expected an object`];
  const errors: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    const sub = shape[k];
    if (sub === undefined) errors.push(`${path}/${k}: unknown field`);
    else errors.push(...shapeErrors(v, sub, `${path}/${k}`));
  }
  return errors;
}

function crdErrors(o: Obj): string[] {
  const shape = CRD_SHAPES[`${o.apiVersion} ${o.kind}`];
  if (!shape) return [`${id(o)}: no schema for ${o.apiVersion} ${o.kind}`];
  const errors = shapeErrors(o, shape, '').map((e) => `${id(o)} ${e}`);
  if (typeof o.metadata?.name !== 'string') errors.push(`${id(o)}: metadata.name is required`);
  if (o.kind === 'ServiceMonitor') {
    if (!o.spec?.selector) errors.push(`${id(o)}: spec.selector is required`);
    if (!o.spec?.endpoints?.length) errors.push(`${id(o)}: spec.endpoints is empty`);
  }
  if (o.kind === 'PrometheusRule') {
    for (const g of o.spec?.groups ?? []) {
      if (typeof g.name !== 'string') errors.push(`${id(o)}: a group has no name`);
      for (const r of g.rules ?? []) {
        if ((typeof r.alert === 'string') === (typeof r.record === 'string'))
          errors.push(`${id(o)} group ${g.name}: exactly one of alert/record`);
        if (typeof r.expr !== 'string') errors.push(`${id(o)} group ${g.name}: expr must be a string`);
      }
    }
  }
  if (o.kind === 'ExternalSecret') {
    if (!o.spec?.secretStoreRef?.name) errors.push(`${id(o)}: spec.secretStoreRef.name is required`);
    if (!o.spec?.target?.name) errors.push(`${id(o)}: spec.target.name is required`);
    for (const d of o.spec?.data ?? [])
      if (!d.secretKey || !d.remoteRef?.key) errors.push(`${id(o)}: data entries need secretKey and remoteRef.key`);
  }
  return errors;
}

function schemaErrors(o: Obj): string[] {
  if (CRD_KINDS.has(o.kind)) return crdErrors(o);
  const cls = modelClass(o.apiVersion, o.kind);
  const errors: string[] = [];
  try {
    new cls(o).validate();
  } catch (err) {
    errors.push(`${id(o)}: ${(err as Error).message}`);
  }
  for (const u of unknownFields(cls, o)) errors.push(`${id(o)}: unknown field ${u}`);
  return errors;
}

// ---- workloads ----------------------------------------------------------------------------------

type Workload = { obj: Obj; pod: Obj; podMeta: Obj };
function workloads(objs: Obj[]): Workload[] {
  const out: Workload[] = [];
  for (const o of objs) {
    if (o.kind === 'Deployment' || o.kind === 'Job')
      out.push({ obj: o, pod: o.spec.template.spec, podMeta: o.spec.template.metadata ?? {} });
    if (o.kind === 'CronJob')
      out.push({ obj: o, pod: o.spec.jobTemplate.spec.template.spec, podMeta: o.spec.jobTemplate.spec.template.metadata ?? {} });
  }
  return out;
}
const envOf = (c: Obj) => new Map<string, string>((c.env ?? []).map((e: Obj) => [e.name, e.value]));

function cpuCores(q: string): number {
  return q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q);
}

function hardeningErrors(w: Workload): string[] {
  const errors: string[] = [];
  const where = id(w.obj);
  const { pod } = w;
  const psc = pod.securityContext ?? {};
  if (pod.automountServiceAccountToken !== false) errors.push(`${where}: automountServiceAccountToken must be false`);
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) errors.push(`${where}: host namespaces`);
  if (
    typeof w.obj.metadata?.annotations?.[TAG_ANNOTATION] !== 'string' ||
    !TAG_RE.test(w.obj.metadata.annotations[TAG_ANNOTATION])
  )
    errors.push(`${where}: annotation ${TAG_ANNOTATION} must carry the git-SHA tag`);
  const tmpVolumes = new Set((pod.volumes ?? []).filter((v: Obj) => v.emptyDir).map((v: Obj) => v.name));
  const secretVolumes = new Set((pod.volumes ?? []).filter((v: Obj) => v.secret).map((v: Obj) => v.name));
  for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
    const at = `${where} container ${c.name}`;
    const sc = c.securityContext ?? {};
    const runAsNonRoot = sc.runAsNonRoot ?? psc.runAsNonRoot;
    const runAsUser = sc.runAsUser ?? psc.runAsUser;
    const seccomp = sc.seccompProfile?.type ?? psc.seccompProfile?.type;
    if (runAsNonRoot !== true) errors.push(`${at}: runAsNonRoot`);
    if (!(Number.isInteger(runAsUser) && runAsUser >= 10000)) errors.push(`${at}: runAsUser ≥ 10000`);
    if (seccomp !== 'RuntimeDefault') errors.push(`${at}: seccompProfile RuntimeDefault`);
    if (sc.readOnlyRootFilesystem !== true) errors.push(`${at}: readOnlyRootFilesystem`);
    if (sc.allowPrivilegeEscalation !== false) errors.push(`${at}: allowPrivilegeEscalation false`);
    if (sc.privileged === true) errors.push(`${at}: privileged`);
    if (!sc.capabilities?.drop?.includes('ALL')) errors.push(`${at}: capabilities.drop ALL`);
    if (sc.capabilities?.add?.length) errors.push(`${at}: capabilities.add`);
    const tmp = (c.volumeMounts ?? []).find((m: Obj) => m.mountPath === '/tmp');
    if (!tmp || !tmpVolumes.has(tmp.name)) errors.push(`${at}: an emptyDir at /tmp`);
    for (const r of ['requests', 'limits'])
      for (const q of ['cpu', 'memory']) if (!c.resources?.[r]?.[q]) errors.push(`${at}: resources.${r}.${q}`);
    if (typeof c.image !== 'string' || !IMAGE_RE.test(c.image)) errors.push(`${at}: image ${c.image} not pinned by digest`);
    if (/:latest(@|$)/.test(c.image ?? '')) errors.push(`${at}: latest tag`);
    if (c.imagePullPolicy === 'Never') errors.push(`${at}: imagePullPolicy Never`);
    const env = envOf(c);
    if (env.get('NODE_ENV') !== 'production') errors.push(`${at}: NODE_ENV=production`);
    if (!(Number(env.get('UV_THREADPOOL_SIZE')) >= 4)) errors.push(`${at}: UV_THREADPOOL_SIZE ≥ 4`);
    for (const name of [
      'JWT_SECRET',
      'DATABASE_URL',
      'REDIS_URL',
      'MODEL_API_KEY',
      'JWT_KEYS',
      'MAIL_URL',
      'AUDIT_HASH_KEY',
      'MFA_ENCRYPTION_KEY',
    ])
      if ((c.env ?? []).some((e: Obj) => e.name === name)) errors.push(`${at}: ${name} as a plain variable (use ${name}_FILE)`);
    // The API reads the keyring; the maintenance Jobs (secops) read the database settings only and get no JWT keys.
    const isApi = c.name === 'api';
    if (
      !isApi &&
      (env.has('JWT_KEYS_FILE') ||
        (pod.volumes ?? []).some((v: Obj) => (v.secret?.items ?? []).some((i: Obj) => i.key === 'jwt-keys')))
    )
      errors.push(`${at}: a maintenance Job must not mount the JWT keys`);
    for (const name of isApi ? ['JWT_KEYS_FILE', 'DATABASE_URL_FILE'] : ['DATABASE_URL_FILE']) {
      const file = env.get(name);
      const mount = (c.volumeMounts ?? []).find(
        (m: Obj) => secretVolumes.has(m.name) && typeof file === 'string' && file.startsWith(`${m.mountPath}/`),
      );
      if (!mount) errors.push(`${at}: ${name} must point into a secret volume`);
      else if (mount.readOnly !== true) errors.push(`${at}: secret volume must be mounted readOnly`);
    }
  }
  return errors;
}

// ---- database credentials: one role per workload ------------------------------------------------

const TASK_LABEL = 'rampart.io/task';
/** A database credential's secret key: the runtime one or a maintenance role's `<task>-database-url`. */
const isDatabaseKey = (key: string) => key === 'database-url' || key.endsWith('-database-url');
/** The one database credential each maintenance task gets, by its pod's rampart.io/task label (k8s/README.md). */
const DATABASE_KEY_BY_TASK: Record<string, string> = {
  migrate: 'migrate-database-url', // rampart_migrator: DDL as the owner role
  backup: 'backup-database-url', // rampart_backup: SELECT only (pg_dump)
  'backup-drill': 'drill-database-url', // rampart_drill: CREATEDB, none of the app's tables
  retention: 'retention-database-url', // rampart_retention: SELECT/DELETE on the aged tables only
};
const RUNTIME_DATABASE_KEY = 'database-url'; // rampart_app_a / rampart_app_b: the API only
/** Tasks that encrypt and sign (backup create) or decrypt and verify (backup drill) backups: the only ones given the keys. */
const BACKUP_KEY_TASKS = new Set(['backup', 'backup-drill']);
const BACKUP_KEYS = ['backup-encrypt-key', 'backup-signing-key'] as const;
/** The retention archive key: the retention Job only (it encrypts the parts it archives). */
const RETENTION_KEY = 'retention-encrypt-key';

const isApiWorkload = (w: Workload) => w.obj.kind === 'Deployment' && w.pod.containers.some((c: Obj) => c.name === 'api');
const taskOf = (w: Workload): string | undefined => w.podMeta.labels?.[TASK_LABEL];

/** The database credential key a workload must mount: by its task label, or the runtime one for the API. */
function expectedDatabaseKey(w: Workload): string | undefined {
  const task = taskOf(w);
  if (task !== undefined) return DATABASE_KEY_BY_TASK[task];
  return isApiWorkload(w) ? RUNTIME_DATABASE_KEY : undefined;
}

/** Every Secret key a workload's pod can read: secret volume items and secretKeyRef variables. */
function secretKeysOf(w: Workload): string[] {
  const keys: string[] = [];
  for (const v of w.pod.volumes ?? []) for (const item of v.secret?.items ?? []) keys.push(item.key);
  for (const c of [...(w.pod.initContainers ?? []), ...w.pod.containers])
    for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef?.key) keys.push(e.valueFrom.secretKeyRef.key);
  return keys;
}

/**
 * Least privilege for the secrets: each workload mounts exactly one database credential, the one of
 * its task (the migration role, the backup role, the drill role, the runtime role for the API), at
 * the path its DATABASE_URL_FILE names; only the backup and drill Jobs get backup-encrypt-key and
 * backup-signing-key (and both need them); every
 * secret volume lists its keys (without `items` a pod would see every credential in the Secret) and
 * every *_FILE variable pointing into a secret volume names a key that is projected there.
 */
function credentialErrors(w: Workload): string[] {
  const errors: string[] = [];
  const where = id(w.obj);
  const task = taskOf(w);
  const secretVolumes = new Map<string, Obj>(
    (w.pod.volumes ?? []).filter((v: Obj) => v.secret).map((v: Obj) => [v.name as string, v.secret as Obj]),
  );
  for (const [name, secret] of secretVolumes)
    if (!secret.items?.length)
      errors.push(`${where}: secret volume ${name} must list its items (else every key of ${secret.secretName} is mounted)`);
  for (const c of [...(w.pod.initContainers ?? []), ...w.pod.containers])
    for (const from of c.envFrom ?? [])
      if (from.secretRef) errors.push(`${where} container ${c.name}: envFrom a Secret exposes every key in it`);

  const keys = secretKeysOf(w);
  const databaseKeys = keys.filter(isDatabaseKey);
  const expected = expectedDatabaseKey(w);
  if (expected === undefined)
    errors.push(
      `${where}: no database credential is defined for it (${TASK_LABEL}=${task ?? '(none)'}; add it to DATABASE_KEY_BY_TASK)`,
    );
  else if (databaseKeys.length !== 1 || databaseKeys[0] !== expected)
    errors.push(`${where}: must mount exactly one database credential, ${expected}; mounts [${databaseKeys.join(', ')}]`);

  const wantsBackupKey = task !== undefined && BACKUP_KEY_TASKS.has(task);
  for (const backupKey of BACKUP_KEYS) {
    const hasBackupKey = keys.includes(backupKey);
    if (hasBackupKey && !wantsBackupKey) errors.push(`${where}: only the backup and drill Jobs may mount ${backupKey}`);
    if (wantsBackupKey && !hasBackupKey) errors.push(`${where}: the ${task} Job needs ${backupKey}`);
  }
  if (keys.includes(RETENTION_KEY) && task !== 'retention')
    errors.push(`${where}: only the retention Job may mount ${RETENTION_KEY}`);
  if (task === 'retention' && !keys.includes(RETENTION_KEY)) errors.push(`${where}: the retention Job needs ${RETENTION_KEY}`);

  // Every file a *_FILE variable names inside a secret volume must be projected there (a missing file
  // stops the process at start), and DATABASE_URL_FILE must name the expected credential.
  for (const c of [...(w.pod.initContainers ?? []), ...w.pod.containers])
    for (const [name, file] of envOf(c)) {
      if (!name.endsWith('_FILE') || typeof file !== 'string') continue;
      const mount = (c.volumeMounts ?? []).find((m: Obj) => secretVolumes.has(m.name) && file.startsWith(`${m.mountPath}/`));
      if (!mount) continue;
      const rel = file.slice(mount.mountPath.length + 1);
      const item = (secretVolumes.get(mount.name)?.items ?? []).find((i: Obj) => i.path === rel);
      if (!item)
        errors.push(`${where} container ${c.name}: ${name} names ${file}, which no item of volume ${mount.name} projects`);
      else if (name === 'DATABASE_URL_FILE' && expected !== undefined && item.key !== expected)
        errors.push(`${where} container ${c.name}: DATABASE_URL_FILE reads key ${item.key}, not ${expected}`);
    }
  return errors;
}

/** Across the workloads: no database credential is shared, and every key read is in the ExternalSecret. */
function credentialSharingErrors(objs: Obj[]): string[] {
  const errors: string[] = [];
  const es = objs.find((o) => o.kind === 'ExternalSecret');
  const provided = new Set<string>((es?.spec?.data ?? []).map((d: Obj) => d.secretKey));
  const holders = new Map<string, string[]>();
  for (const w of workloads(objs))
    for (const key of new Set(secretKeysOf(w))) {
      if (!provided.has(key)) errors.push(`${id(w.obj)}: key ${key} is not in the ExternalSecret's data`);
      if (isDatabaseKey(key)) holders.set(key, [...(holders.get(key) ?? []), id(w.obj)]);
    }
  for (const [key, ws] of holders)
    if (ws.length > 1) errors.push(`database credential ${key} is shared by ${ws.join(', ')} (one role per workload)`);
  return errors;
}

// ---- NetworkPolicies: who may reach what -------------------------------------------------------

const COMPONENT = 'app.kubernetes.io/component';
/** A pod (or an address outside the cluster) as NetworkPolicies see it. */
type Peer = { namespace?: string; labels?: Record<string, string>; ip?: string };

const matchesLabels = (selector: Obj | undefined, labels: Record<string, string> = {}): boolean =>
  Object.entries(selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v) && !(selector?.matchExpressions ?? []).length;

function ipv4(ip: string): number {
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}
function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/') as [string, string];
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ipv4(ip) / size) === Math.floor(ipv4(base) / size);
}

/** Does one `from`/`to` entry of a policy in namespace `ns` match `peer`? */
function peerMatches(entry: Obj, ns: string, peer: Peer): boolean {
  if (entry.ipBlock) {
    if (!peer.ip || peer.namespace) return false; // ipBlock is for addresses outside the cluster's pods
    return inCidr(peer.ip, entry.ipBlock.cidr) && !(entry.ipBlock.except ?? []).some((c: string) => inCidr(peer.ip as string, c));
  }
  if (peer.namespace === undefined) return false;
  if (entry.namespaceSelector) {
    if (!matchesLabels(entry.namespaceSelector, { 'kubernetes.io/metadata.name': peer.namespace })) return false;
  } else if (peer.namespace !== ns) return false;
  return entry.podSelector === undefined || matchesLabels(entry.podSelector, peer.labels);
}

/**
 * Whether `from` may open a TCP connection to `to`:`port`, by the NetworkPolicies of the namespace
 * (`ns`, where the Rampart pods live; peers elsewhere are not restricted by these policies): egress
 * of the source, if selected by any Egress policy, and ingress of the destination likewise.
 */
function allowed(objs: Obj[], ns: string, from: Peer, to: Peer, port: number): boolean {
  const nps = byKind(objs, 'NetworkPolicy');
  const direction = (pod: Peer, type: 'Ingress' | 'Egress', other: Peer): boolean => {
    if (pod.namespace !== ns) return true;
    const selecting = nps.filter((n) => n.spec.policyTypes?.includes(type) && matchesLabels(n.spec.podSelector, pod.labels));
    if (selecting.length === 0) return true;
    const key = type === 'Ingress' ? 'ingress' : 'egress';
    const peers = type === 'Ingress' ? 'from' : 'to';
    return selecting.some((n) =>
      (n.spec[key] ?? []).some(
        (r: Obj) =>
          (r[peers] === undefined || r[peers].some((e: Obj) => peerMatches(e, ns, other))) &&
          (r.ports === undefined || r.ports.some((p: Obj) => p.protocol === 'TCP' && p.port === port)),
      ),
    );
  };
  return direction(from, 'Egress', to) && direction(to, 'Ingress', from);
}

/** The labels of a workload's pods (its template's). */
const podLabels = (objs: Obj[], kind: string, name: string): Record<string, string> => {
  const o = one(objs, kind, name);
  return (kind === 'CronJob' ? o.spec.jobTemplate.spec.template.metadata.labels : o.spec.template.metadata.labels) ?? {};
};

/** The CIDRs of TRUSTED_PROXIES, which the service honours X-Forwarded-For/-Proto from. */
function trustedProxyErrors(value: string | undefined): string[] {
  const cidrs = (value ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  if (cidrs.length === 0) return ['TRUSTED_PROXIES is empty: the client address would be the controller pod’s'];
  const errors: string[] = [];
  const PRIVATE = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'];
  for (const cidr of cidrs) {
    const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(cidr);
    if (!m) {
      errors.push(`${cidr}: not an IPv4 CIDR`);
      continue;
    }
    // The ingress controller's pods, not the cluster: at most a /24 each (256 addresses).
    if (Number(m[2]) < 24) errors.push(`${cidr}: wider than a /24 (the ingress controller's pods only, not the cluster)`);
    if (!PRIVATE.some((p) => inCidr(m[1] as string, p))) errors.push(`${cidr}: not a private range`);
  }
  return errors;
}

// ---- tests --------------------------------------------------------------------------------------

describe('k8s manifests', () => {
  for (const overlay of OVERLAYS) {
    describe(`overlay ${overlay}`, () => {
      it('builds with kubectl kustomize and holds every expected object', (t) => {
        const objs = objects(t, overlay);
        if (!objs) return;
        const kinds = new Set(objs.map((o) => o.kind));
        for (const k of [
          'ServiceAccount',
          'Deployment',
          'Service',
          'Ingress',
          'ServiceMonitor',
          'PodDisruptionBudget',
          'HorizontalPodAutoscaler',
          'NetworkPolicy',
          'Job',
          'CronJob',
          'PrometheusRule',
          'ExternalSecret',
          'PersistentVolumeClaim',
        ])
          assert.ok(kinds.has(k), `${overlay} has a ${k}`);
        const ns = overlay === 'production' ? 'rampart' : 'rampart-staging';
        for (const o of objs) assert.equal(o.metadata?.namespace, ns, `${id(o)} namespace`);
        const names = objs.map(id);
        assert.equal(new Set(names).size, names.length, 'no duplicate objects');
      });

      it('the API pods are given every setting production requires (else they refuse to start)', (t) => {
        const objs = objects(t, overlay);
        if (!objs) return;
        const api = objs.find((o) => o.kind === 'Deployment' && o.metadata?.name === 'rampart-api');
        assert.ok(api, 'the API Deployment');
        const container = api.spec.template.spec.containers.find((c: Obj) => c.name === 'api');
        const given = new Set((container.env ?? []).map((e: Obj) => e.name as string));
        const required = (Object.entries(SETTINGS) as [string, { requiredInProduction?: boolean }][])
          .filter(([, spec]) => spec.requiredInProduction)
          .map(([name]) => name);
        assert.ok(required.includes('MAIL_URL') && required.includes('DATABASE_URL'), required.join(', '));
        const missing = required.filter((name) => ![name, `${name}_FILE`, `${name}_REF`].some((v) => given.has(v)));
        assert.deepEqual(missing, [], `${overlay}: the API Deployment lacks ${missing.join(', ')}`);
        // The JWT secret is required too, as JWT_SECRET or a JWT_KEYS keyring (checked by loadConfig).
        assert.ok(
          ['JWT_SECRET', 'JWT_SECRET_FILE', 'JWT_SECRET_REF', 'JWT_KEYS', 'JWT_KEYS_FILE', 'JWT_KEYS_REF'].some((v) =>
            given.has(v),
          ),
        );
      });

      it('every object validates against its schema, with no unknown field', (t) => {
        const objs = objects(t, overlay);
        if (!objs) return;
        const errors = objs.flatMap(schemaErrors);
        assert.deepEqual(errors, []);
      });

      it('every workload (Deployment, Job, CronJob) is hardened and digest-pinned', (t) => {
        const objs = objects(t, overlay);
        if (!objs) return;
        const ws = workloads(objs);
        assert.ok(ws.length >= 4, 'the Deployment, the migration Job and both CronJobs');
        assert.deepEqual(ws.flatMap(hardeningErrors), []);
      });

      it('the Deployment: probes, secrets, shutdown timing', (t) => {
        const objs = objects(t, overlay);
        if (!objs) return;
        const dep = one(objs, 'Deployment', 'rampart-api');
        const pod = dep.spec.template.spec;
        const c = pod.containers.find((x: Obj) => x.name === 'api');
        assert.ok(c);
        assert.equal(dep.spec.replicas, undefined, 'replicas are left to the HPA');
        assert.equal(c.startupProbe?.httpGet?.path, '/healthz');
        assert.equal(c.livenessProbe?.httpGet?.path, '/healthz');
        assert.equal(c.readinessProbe?.httpGet?.path, '/readyz');
        const env = envOf(c);
        // Ingress → pod TLS (issue 25): both listeners serve HTTPS from the mounted secret, probed over HTTPS.
        assert.equal(env.get('TLS_CERT_FILE'), '/var/run/secrets/rampart/tls.crt');
        assert.equal(env.get('TLS_KEY_FILE'), '/var/run/secrets/rampart/tls.key');
        for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe]) assert.equal(probe?.httpGet?.scheme, 'HTTPS');
        assert.ok(env.get('REDIS_URL_FILE'), 'REDIS_URL_FILE');
        assert.equal(env.get('MIGRATE_ON_START'), 'false', 'migrations run in the Job, not at start');
        // The service's defaults in production (README): delay 5000 ms, grace 25000 ms.
        const delayMs = Number(env.get('SHUTDOWN_DELAY_MS') ?? 5000);
        const graceMs = Number(env.get('SHUTDOWN_GRACE_MS') ?? 25000);
        const cmd: string[] = c.lifecycle?.preStop?.exec?.command ?? [];
        assert.equal(cmd[0], 'sleep', 'preStop sleeps');
        const preStop = Number(cmd[1]);
        assert.ok(preStop * 1000 >= delayMs, `preStop ${preStop}s ≥ SHUTDOWN_DELAY_MS ${delayMs}ms`);
        const tgps = pod.terminationGracePeriodSeconds;
        const needed = preStop + delayMs / 1000 + graceMs / 1000;
        assert.ok(tgps > needed, `terminationGracePeriodSeconds ${tgps} > preStop + delay + grace = ${needed} (with margin)`);
        assert.ok(tgps - needed >= 5, 'at least 5 s of margin');
        // UV_THREADPOOL_SIZE = CPU limit + 4 (bin/boot.js).
        assert.equal(Number(env.get('UV_THREADPOOL_SIZE')), Math.ceil(cpuCores(String(c.resources.limits.cpu))) + 4);
        // Password-hashing threads = the CPU limit in whole CPUs, at least 1, as config/load.ts cpuBudget
        // derives it from the cgroup quota: more would make the quota throttle the pod, event loop included.
        assert.equal(
          Number(env.get('ARGON2_MAX_CONCURRENCY')),
          Math.max(1, Math.floor(cpuCores(String(c.resources.limits.cpu)))),
          'ARGON2_MAX_CONCURRENCY = limits.cpu',
        );
        // Services select the pods; metrics only through the metrics Service.
        const labels = dep.spec.template.metadata.labels;
        for (const svc of byKind(objs, 'Service'))
          for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(labels[k], v, `${id(svc)} selects the pods`);
        const api = one(objs, 'Service', 'rampart-api');
        assert.ok(
          !api.spec.ports.some((p: Obj) => p.targetPort === 'metrics' || p.targetPort === 9464),
          'no metrics on the API Service',
        );
      });

      it('migration Job and backup CronJobs', (t) => {
        const objs = objects(t, overlay);
        if (!objs) return;
        const args = (pod: Obj) => [...(pod.containers[0].command ?? []), ...(pod.containers[0].args ?? [])].join(' ');
        const job = one(objs, 'Job', 'rampart-migrate');
        assert.match(args(job.spec.template.spec), /^secops migrate latest\b/);
        assert.ok(job.metadata.annotations['argocd.argoproj.io/hook'] === 'PreSync', 'runs before the rollout');
        assert.ok(job.spec.activeDeadlineSeconds > 0);
        assert.equal(job.spec.template.spec.restartPolicy, 'Never');
        const crons = byKind(objs, 'CronJob');
        const backup = crons.find((c) => /secops backup create\b/.test(args(c.spec.jobTemplate.spec.template.spec)));
        const drill = crons.find((c) => /secops backup drill\b.*--max-age 26h/.test(args(c.spec.jobTemplate.spec.template.spec)));
        assert.ok(backup, 'a backup create CronJob');
        assert.ok(drill, 'a backup drill --max-age 26h CronJob');
        assert.match(backup.spec.schedule, /^\d+ \d+ \* \* \*$/, 'nightly');
        assert.match(drill.spec.schedule, /^\d+ \d+ \* \* [0-6]$/, 'weekly');
        for (const c of crons) {
          assert.equal(c.spec.concurrencyPolicy, 'Forbid', `${id(c)} concurrencyPolicy`);
          assert.ok(c.spec.startingDeadlineSeconds > 0, `${id(c)} startingDeadlineSeconds`);
          assert.ok(c.spec.jobTemplate.spec.activeDeadlineSeconds > 0, `${id(c)} activeDeadlineSeconds`);
        }
      });

      it('each workload mounts only its own database credential (one role per workload)', (t) => {
        const objs = objects(t, overlay);
        if (!objs) return;
        const ws = workloads(objs);
        // The API and each maintenance task are there, so the rules below cover all five roles.
        const tasks = ws.map((w) => (isApiWorkload(w) ? 'api' : taskOf(w))).sort();
        assert.deepEqual(tasks, ['api', 'backup', 'backup-drill', 'migrate', 'retention']);
        assert.deepEqual([...ws.flatMap(credentialErrors), ...credentialSharingErrors(objs)], []);
        const es = one(objs, 'ExternalSecret');
        const remote = new Map<string, string>(es.spec.data.map((d: Obj) => [d.secretKey, d.remoteRef.key]));
        for (const key of [RUNTIME_DATABASE_KEY, ...Object.values(DATABASE_KEY_BY_TASK)])
          assert.equal(remote.get(key), `rampart/${key}`, `the ExternalSecret provides ${key} from rampart/${key}`);
      });

      it('HPA, PDB, NetworkPolicies, Ingress and monitoring', (t) => {
        const objs = objects(t, overlay);
        if (!objs) return;
        const hpa = one(objs, 'HorizontalPodAutoscaler');
        assert.equal(hpa.apiVersion, 'autoscaling/v2');
        assert.equal(hpa.spec.scaleTargetRef.name, 'rampart-api');
        assert.ok(hpa.spec.maxReplicas >= hpa.spec.minReplicas);
        if (overlay === 'production') assert.ok(hpa.spec.minReplicas >= 2, 'production HPA minReplicas ≥ 2');
        const pdb = one(objs, 'PodDisruptionBudget');
        assert.ok(pdb.spec.maxUnavailable !== undefined || pdb.spec.minAvailable !== undefined);

        const nps = byKind(objs, 'NetworkPolicy');
        const deny = nps.find(
          (n) =>
            Object.keys(n.spec.podSelector ?? {}).length === 0 &&
            n.spec.policyTypes?.includes('Ingress') &&
            n.spec.policyTypes?.includes('Egress') &&
            !n.spec.ingress &&
            !n.spec.egress,
        );
        assert.ok(deny, 'a default-deny policy for ingress and egress');
        const egressPorts = new Set(
          nps.flatMap((n) =>
            (n.spec.egress ?? []).flatMap((r: Obj) => (r.ports ?? []).map((p: Obj) => `${p.protocol}/${p.port}`)),
          ),
        );
        for (const p of ['UDP/53', 'TCP/53', 'TCP/5432', 'TCP/6380', 'TCP/443', 'TCP/8200'])
          assert.ok(egressPorts.has(p), `egress ${p} allowed`);
        // Redis over TLS only (rediss:// on 6380): plaintext 6379 is not admitted (issue 25).
        assert.ok(!egressPorts.has('TCP/6379'), 'no egress to plaintext Redis');
        for (const n of nps)
          for (const r of n.spec.egress ?? []) assert.ok(r.ports?.length, `${id(n)}: every egress rule names its ports`);
        const ingressRules = nps.flatMap((n) => n.spec.ingress ?? []);
        assert.ok(ingressRules.length > 0);
        for (const r of ingressRules) {
          assert.ok(r.from?.length && r.ports?.length, 'ingress rules name sources and ports');
          const ns = r.from.map((f: Obj) => f.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name']);
          const ports = r.ports.map((p: Obj) => p.port);
          if (ns.includes('ingress-nginx')) assert.deepEqual(ports, [3000]);
          else if (ns.includes('monitoring')) assert.deepEqual(ports, [9464]);
          else if (r.from.every((f: Obj) => !f.namespaceSelector && f.podSelector?.matchLabels?.[COMPONENT] === 'secops'))
            assert.deepEqual(ports, [9464], 'secops pods reach the metrics port only');
          else assert.fail(`unexpected ingress source ${JSON.stringify(r.from)}`);
        }

        const ing = one(objs, 'Ingress');
        assert.equal(ing.spec.ingressClassName, 'nginx');
        const tlsHosts = new Set(ing.spec.tls.flatMap((x: Obj) => x.hosts));
        for (const rule of ing.spec.rules) assert.ok(tlsHosts.has(rule.host), `TLS covers ${rule.host}`);
        assert.ok(ing.spec.tls.every((x: Obj) => x.secretName));
        // No snippet annotation (raw nginx configuration; needs allow-snippet-annotations cluster-wide):
        // HSTS comes from the controller's ConfigMap (checked below, "the ingress-nginx ConfigMap …").
        const snippets = Object.keys(ing.metadata.annotations ?? {}).filter((k) => /snippet/i.test(k));
        assert.deepEqual(snippets, [], 'no snippet annotations on the Ingress');
        // Plain HTTP is refused by the service (403 https_required), never redirected (issue 25, ASVS 4.1.2),
        // and nginx → pod is TLS as well (the pods serve HTTPS with TLS_CERT_FILE).
        assert.equal(ing.metadata.annotations['nginx.ingress.kubernetes.io/ssl-redirect'], 'false');
        assert.equal(ing.metadata.annotations['nginx.ingress.kubernetes.io/force-ssl-redirect'], 'false');
        assert.equal(ing.metadata.annotations['nginx.ingress.kubernetes.io/backend-protocol'], 'HTTPS');
        // The edge (issue 25, docs/edge.md): the body limit is MAX_REQUEST_SIZE_BYTES's default (nginx's
        // size units: k = 1024), and the flood limits sit above the service's own per-IP limit.
        const a = ing.metadata.annotations as Record<string, string>;
        const bodySize = /^(\d+)k$/.exec(a['nginx.ingress.kubernetes.io/proxy-body-size'] ?? '');
        assert.equal(Number(bodySize?.[1]) * 1024, SETTINGS.MAX_REQUEST_SIZE_BYTES.schema.parse(undefined), 'proxy-body-size = MAX_REQUEST_SIZE_BYTES');
        const rps = Number(a['nginx.ingress.kubernetes.io/limit-rps']);
        const perMinute = SETTINGS.RATE_LIMIT_GLOBAL_PER_MINUTE.schema.parse(undefined) as number;
        assert.ok(rps * 60 > perMinute, `limit-rps ${rps}/s above the application's ${perMinute}/min per IP`);
        assert.ok(Number(a['nginx.ingress.kubernetes.io/limit-burst-multiplier']) >= 1);
        const conns = Number(a['nginx.ingress.kubernetes.io/limit-connections']);
        assert.ok(conns >= 10 && conns <= 1000, `limit-connections ${conns}`);
        for (const rule of ing.spec.rules)
          for (const p of rule.http.paths) assert.equal(p.backend.service.name, 'rampart-api', 'only the API is exposed');

        const sm = one(objs, 'ServiceMonitor');
        const metricsSvc = byKind(objs, 'Service').find((s) =>
          Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v),
        );
        assert.ok(metricsSvc, 'the ServiceMonitor selects a Service');
        assert.ok(metricsSvc.spec.ports.some((p: Obj) => p.name === sm.spec.endpoints[0].port && p.port === 9464));
        // Prometheus → pod over TLS, verifying the pod certificate (issue 25).
        assert.equal(sm.spec.endpoints[0].scheme, 'https');
        assert.ok(sm.spec.endpoints[0].tlsConfig?.ca && sm.spec.endpoints[0].tlsConfig?.serverName, 'a CA and a name to verify');
        assert.ok(!sm.spec.endpoints[0].tlsConfig?.insecureSkipVerify, 'the certificate is verified');

        const es = one(objs, 'ExternalSecret');
        const keys = new Set(es.spec.data.map((d: Obj) => d.secretKey));
        for (const w of workloads(objs))
          for (const v of w.pod.volumes ?? [])
            if (v.secret) {
              assert.equal(v.secret.secretName, es.spec.target.name, `${id(w.obj)} mounts the ExternalSecret's target`);
              for (const item of v.secret.items ?? []) assert.ok(keys.has(item.key), `${id(w.obj)} key ${item.key} is provided`);
            }
      });
      it('NetworkPolicies: the runbook’s `--replica` check reaches the metrics port from a secops pod, and nothing more', (t) => {
        const objs = objects(t, overlay);
        if (!objs) return;
        const ns = objs[0]?.metadata?.namespace as string;
        const api: Peer = { namespace: ns, labels: podLabels(objs, 'Deployment', 'rampart-api') };
        // `secops keys rotate promote --replica http://<pod-ip>:9464`, from a secops pod (runbooks/secret-rotation.md).
        const secops: Peer = { namespace: ns, labels: { 'app.kubernetes.io/name': 'rampart', [COMPONENT]: 'secops' } };
        assert.ok(allowed(objs, ns, secops, api, 9464), 'a secops pod reaches the API pods’ metrics port (--replica)');
        assert.ok(!allowed(objs, ns, secops, api, 3000), 'but not the API port');
        for (const task of ['migrate', 'backup', 'backup-drill', 'retention']) {
          const w: Workload | undefined = workloads(objs).find((x) => taskOf(x) === task);
          assert.ok(w, task);
          assert.equal(w.podMeta.labels?.[COMPONENT], 'secops', `${task} pods are secops pods`);
        }
        // Prometheus still scrapes; the ingress controller reaches 3000 and not the metrics.
        const prometheus: Peer = { namespace: 'monitoring', labels: { 'app.kubernetes.io/name': 'prometheus' } };
        const controller: Peer = {
          namespace: 'ingress-nginx',
          labels: { 'app.kubernetes.io/name': 'ingress-nginx', [COMPONENT]: 'controller' },
        };
        assert.ok(allowed(objs, ns, prometheus, api, 9464));
        assert.ok(allowed(objs, ns, controller, api, 3000));
        assert.ok(!allowed(objs, ns, controller, api, 9464));
        // Other pods — in this namespace, in the controller's namespace (its admission webhook, a
        // default backend), anywhere else — reach neither port.
        const other: Peer = { namespace: ns, labels: { 'app.kubernetes.io/name': 'debug' } };
        const webhook: Peer = {
          namespace: 'ingress-nginx',
          labels: { 'app.kubernetes.io/name': 'ingress-nginx', [COMPONENT]: 'admission-webhook' },
        };
        const elsewhere: Peer = { namespace: 'default', labels: { 'app.kubernetes.io/name': 'rampart', [COMPONENT]: 'secops' } };
        for (const [name, peer] of Object.entries({ other, webhook, elsewhere }))
          for (const port of [3000, 9464]) assert.ok(!allowed(objs, ns, peer, api, port), `${name} → API:${port} is denied`);
        assert.ok(!allowed(objs, ns, api, api, 9464), 'API pods do not reach each other');
      });

      it('TRUSTED_PROXIES names the ingress controller’s pods, not the cluster (each overlay its own)', (t) => {
        const objs = objects(t, overlay);
        if (!objs) return;
        const c = one(objs, 'Deployment', 'rampart-api').spec.template.spec.containers.find((x: Obj) => x.name === 'api');
        const value = envOf(c).get('TRUSTED_PROXIES');
        assert.deepEqual(trustedProxyErrors(value), []);
        const base = parse(readFileSync(join(ROOT, 'k8s/base/deployment.yaml'), 'utf8')) as Obj;
        const placeholder = envOf(base.spec.template.spec.containers[0]).get('TRUSTED_PROXIES');
        assert.notEqual(value, placeholder, `${overlay} sets the range of its own cluster`);
      });

      it('the retention CronJob: daily, the documented windows, encrypted archives on a volume, its own role, PostgreSQL reachable', (t) => {
        const objs = objects(t, overlay);
        if (!objs) return;
        const cron = one(objs, 'CronJob', 'rampart-retention');
        const pod = cron.spec.jobTemplate.spec.template.spec;
        const c = pod.containers[0];
        const argv = [...(c.command ?? []), ...(c.args ?? [])];
        assert.equal(argv.slice(0, 3).join(' '), 'secops retention run');
        const flag = (name: string) => argv[argv.indexOf(name) + 1];
        // docs/security.md: messages and conversations 90 days, audit events 400 days.
        const security = readFileSync(join(ROOT, 'docs/security.md'), 'utf8');
        assert.match(security, /secops retention run --older-than 90d/);
        assert.match(security, /--audit-older-than` \(400 days\)/);
        assert.equal(flag('--older-than'), '90d');
        assert.equal(flag('--audit-older-than'), '400d');
        assert.ok(!argv.includes('--dry-run'));
        assert.match(cron.spec.schedule, /^\d+ \d+ \* \* \*$/, 'daily');
        assert.equal(cron.spec.timeZone, 'Etc/UTC');
        assert.equal(cron.spec.concurrencyPolicy, 'Forbid');
        // After the nightly backup's window (start + activeDeadlineSeconds), so deleted rows are in a backup too.
        const backup = one(objs, 'CronJob', 'rampart-backup');
        const minutes = (schedule: string) => {
          const [m, h] = schedule.split(' ');
          return Number(h) * 60 + Number(m);
        };
        assert.ok(
          minutes(cron.spec.schedule) >= minutes(backup.spec.schedule) + backup.spec.jobTemplate.spec.activeDeadlineSeconds / 60,
          'retention starts after the backup’s deadline',
        );
        // Archives: a directory on the archive PVC, parts encrypted with the retention key from the Secret.
        const archiveDir = flag('--archive-dir') as string;
        const mount = (c.volumeMounts ?? []).find(
          (m: Obj) => archiveDir.startsWith(`${m.mountPath}/`) || archiveDir === m.mountPath,
        );
        assert.ok(mount, `--archive-dir ${archiveDir} is on a mounted volume`);
        const volume = pod.volumes.find((v: Obj) => v.name === mount.name);
        assert.equal(volume?.persistentVolumeClaim?.claimName, 'rampart-retention-archive');
        one(objs, 'PersistentVolumeClaim', 'rampart-retention-archive');
        const env = envOf(c);
        assert.equal(env.get('RETENTION_ENCRYPT_KEY_FILE'), '/var/run/secrets/rampart/retention-encrypt-key');
        const items = pod.volumes.find((v: Obj) => v.secret).secret.items as Obj[];
        assert.deepEqual(
          items.map((i) => i.key).sort(),
          ['retention-database-url', 'retention-encrypt-key'],
          'its own credential and the archive key, nothing else',
        );
        // Its own least-privilege role (secops db roles apply / check --as retention).
        assert.equal(DATABASE_KEY_BY_TASK.retention, 'retention-database-url');
        assert.equal(DEFAULT_ROLES.retention, 'rampart_retention');
        assert.ok((ROLE_KINDS as readonly string[]).includes('retention'));
        // NetworkPolicy: a secops pod; PostgreSQL reachable, the public internet not.
        const ns = cron.metadata.namespace as string;
        const self: Peer = { namespace: ns, labels: cron.spec.jobTemplate.spec.template.metadata.labels };
        const egress = one(objs, 'NetworkPolicy', 'rampart-secops-egress');
        const pg = egress.spec.egress[0].to[0].ipBlock.cidr as string;
        const pgHost = pg.replace(/\.0\/\d+$/, '.10');
        assert.ok(allowed(objs, ns, self, { ip: pgHost }, 5432), `retention reaches PostgreSQL ${pgHost}:5432`);
        assert.ok(!allowed(objs, ns, self, { ip: '203.0.113.10' }, 443), 'and not the internet');
      });
    });
  }

  it('production runs more replicas than staging, with stricter (Guaranteed) resources', (t) => {
    const prod = objects(t, 'production');
    const stg = prod && objects(t, 'staging');
    if (!prod || !stg) return;
    const hp = one(prod, 'HorizontalPodAutoscaler');
    const hs = one(stg, 'HorizontalPodAutoscaler');
    assert.ok(hp.spec.minReplicas >= 2 && hp.spec.minReplicas > hs.spec.minReplicas);
    assert.ok(hp.spec.maxReplicas > hs.spec.maxReplicas);
    assert.ok(hs.spec.maxReplicas <= 2, 'staging: 1–2 replicas');
    const c = one(prod, 'Deployment').spec.template.spec.containers[0];
    assert.deepEqual(c.resources.requests, c.resources.limits, 'production: requests == limits');
  });

  it('the ingress-nginx ConfigMap keys: snippets off, HSTS (1 year, subdomains, preload) for what nginx generates', () => {
    const cm = parse(readFileSync(join(ROOT, 'k8s/ingress-nginx/controller-configmap.yaml'), 'utf8')) as Obj;
    assert.deepEqual(schemaErrors(cm), []);
    assert.equal(cm.metadata.namespace, 'ingress-nginx');
    const d = cm.data as Record<string, string>;
    assert.equal(d['allow-snippet-annotations'], 'false');
    assert.equal(d.hsts, 'true');
    assert.ok(Number(d['hsts-max-age']) >= 31536000, 'max-age ≥ 1 year');
    assert.equal(d['hsts-include-subdomains'], 'true');
    assert.equal(d['hsts-preload'], 'true');
    // TLS 1.2+ with forward-secret AEAD suites only, no redirect of plain HTTP (issue 25; ASVS 12.1.1, 12.1.2, 4.1.2).
    assert.equal(d['ssl-protocols'], 'TLSv1.2 TLSv1.3');
    const ciphers = (d['ssl-ciphers'] ?? '').split(':');
    assert.ok(ciphers.length > 0 && ciphers.every((c) => /^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/.test(c)), ciphers.join(':'));
    assert.equal(d['ssl-redirect'], 'false');
    // Edge limits answer 429, like the service (issue 25).
    assert.equal(d['limit-req-status-code'], '429');
    assert.equal(d['limit-conn-status-code'], '429');
    // The WAF (issue 25, docs/edge.md; run for real by test/k8s/waf.test.ts): ModSecurity with the CRS,
    // blocking, paranoia level 1, bodies capped at MAX_REQUEST_SIZE_BYTES. The controller pastes the
    // snippet into `modsecurity_rules '…'`: a single quote would end it, and nginx caps a parameter at 4 KiB.
    assert.equal(d['enable-modsecurity'], 'true');
    assert.equal(d['enable-owasp-modsecurity-crs'], 'true');
    const waf = d['modsecurity-snippet'] ?? '';
    assert.ok(!waf.includes("'"), 'no single quote in the snippet');
    assert.ok(Buffer.byteLength(waf) < 4096, `snippet ${Buffer.byteLength(waf)} bytes (nginx's limit: 4096)`);
    const directive = (name: string) => [...waf.matchAll(new RegExp(`^\\s*${name}\\s+(\\S+)`, 'gm'))].map((m) => m[1]);
    assert.deepEqual(directive('SecRuleEngine'), ['On'], 'blocking, not DetectionOnly');
    const maxBody = String(SETTINGS.MAX_REQUEST_SIZE_BYTES.schema.parse(undefined));
    assert.deepEqual(directive('SecRequestBodyLimit'), [maxBody]);
    assert.deepEqual(directive('SecRequestBodyNoFilesLimit'), [maxBody]);
    assert.match(waf, /setvar:tx\.paranoia_level=1,setvar:tx\.blocking_paranoia_level=1/);
    // Exclusions remove one target from named rules; whole rules or tags are never switched off.
    assert.doesNotMatch(waf, /SecRuleRemoveBy|ctl:ruleRemoveById|ctl:ruleRemoveByTag|ctl:ruleEngine=(Off|DetectionOnly)|SecRuleEngine\s+(Off|DetectionOnly)/);
    for (const m of waf.matchAll(/ctl:ruleRemoveTargetById=(\d+);([^,"]+)/g)) assert.match(m[2] as string, /^ARGS:json\.\w+$/, `exclusion ${m[0]}`);
    // Not part of the Rampart overlays (the controller is the cluster's): no overlay renders it.
    const base = parse(readFileSync(join(ROOT, 'k8s/base/kustomization.yaml'), 'utf8')) as Obj;
    assert.ok(!(base.resources as string[]).some((r) => r.includes('ingress-nginx')));
  });

  it('the trusted-proxy rule rejects the whole cluster, public ranges and an empty list', () => {
    assert.deepEqual(trustedProxyErrors('10.120.4.0/26,10.120.4.64/26'), []);
    assert.deepEqual(trustedProxyErrors('10.0.0.0/8'), [
      "10.0.0.0/8: wider than a /24 (the ingress controller's pods only, not the cluster)",
    ]);
    assert.deepEqual(trustedProxyErrors('203.0.113.0/24'), ['203.0.113.0/24: not a private range']);
    assert.equal(trustedProxyErrors('').length, 1);
  });

  it('the unknown-field check catches misspelled fields', () => {
    const dep = parse(readFileSync(join(ROOT, 'k8s/base/deployment.yaml'), 'utf8'));
    const Deployment = modelClass('apps/v1', 'Deployment');
    assert.deepEqual(unknownFields(Deployment, dep), []);
    const bad = structuredClone(dep);
    bad.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
    bad.spec.template.spec.terminationGracePeriod = 45;
    bad.metadata.label = { a: 'b' };
    new Deployment(bad).validate(); // kubernetes-models alone accepts it …
    assert.deepEqual(unknownFields(Deployment, bad).sort(), [
      '/metadata/label',
      '/spec/template/spec/containers/0/securityContext/readOnlyRootFileSystem',
      '/spec/template/spec/terminationGracePeriod',
    ]);
    const sm = {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: { name: 'x' },
      spec: { selector: {}, endpoints: [{ port: 'm', intervall: '30s' }] },
    };
    assert.deepEqual(crdErrors(sm), ['ServiceMonitor/x /spec/endpoints/0/intervall: unknown field']);
  });

  it("the credential policy catches a Job given another workload's credential, or the backup key", () => {
    const base = (file: string) => parse(readFileSync(join(ROOT, 'k8s/base', file), 'utf8')) as Obj;
    const ws = workloads(['deployment.yaml', 'job-migrate.yaml', 'cronjob-backup.yaml', 'cronjob-backup-drill.yaml'].map(base));
    assert.deepEqual(ws.flatMap(credentialErrors), []);
    const items = (w: Workload): Obj[] => w.pod.volumes.find((v: Obj) => v.secret).secret.items;
    const [api, migrate, backup] = ws as [Workload, Workload, Workload, Workload];

    // The migration Job back on the runtime credential: wrong key for it, and shared with the API.
    const reverted = structuredClone(migrate);
    (items(reverted).find((i) => i.key === 'migrate-database-url') as Obj).key = 'database-url';
    assert.deepEqual(credentialErrors(reverted), [
      'Job/rampart-migrate: must mount exactly one database credential, migrate-database-url; mounts [database-url]',
      'Job/rampart-migrate container secops: DATABASE_URL_FILE reads key database-url, not migrate-database-url',
    ]);
    const es = {
      kind: 'ExternalSecret',
      spec: {
        data: [
          'database-url',
          'jwt-keys',
          'redis-url',
          'model-api-key',
          'mail-url',
          'audit-hash-key',
          'mfa-encryption-key',
          'tls-crt',
          'tls-key',
          'migrate-database-url',
        ].map((k) => ({ secretKey: k })),
      },
    };
    assert.deepEqual(credentialSharingErrors([es, api.obj, reverted.obj]), [
      'database credential database-url is shared by Deployment/rampart-api, Job/rampart-migrate (one role per workload)',
    ]);

    // A second credential next to its own; the backup key in the migration Job; no backup key for the backup.
    const extra = structuredClone(migrate);
    items(extra).push(
      { key: 'backup-database-url', path: 'backup-database-url' },
      { key: 'backup-encrypt-key', path: 'backup-encrypt-key' },
    );
    assert.deepEqual(credentialErrors(extra), [
      'Job/rampart-migrate: must mount exactly one database credential, migrate-database-url; mounts [migrate-database-url, backup-database-url]',
      'Job/rampart-migrate: only the backup and drill Jobs may mount backup-encrypt-key',
    ]);
    const noKey = structuredClone(backup);
    items(noKey).splice(
      items(noKey).findIndex((i) => i.key === 'backup-encrypt-key'),
      1,
    );
    assert.deepEqual(credentialErrors(noKey), [
      'CronJob/rampart-backup: the backup Job needs backup-encrypt-key',
      'CronJob/rampart-backup container secops: BACKUP_ENCRYPT_KEY_FILE names /var/run/secrets/rampart/backup-encrypt-key, which no item of volume secrets projects',
    ]);
    const noSigningKey = structuredClone(backup);
    items(noSigningKey).splice(
      items(noSigningKey).findIndex((i) => i.key === 'backup-signing-key'),
      1,
    );
    assert.deepEqual(credentialErrors(noSigningKey), [
      'CronJob/rampart-backup: the backup Job needs backup-signing-key',
      'CronJob/rampart-backup container secops: BACKUP_SIGNING_KEY_FILE names /var/run/secrets/rampart/backup-signing-key, which no item of volume secrets projects',
    ]);

    // A secret volume without items mounts every key; an unknown task has no credential; a key the
    // ExternalSecret does not provide.
    const all = structuredClone(api);
    delete all.pod.volumes.find((v: Obj) => v.secret).secret.items;
    assert.ok(
      credentialErrors(all).includes(
        'Deployment/rampart-api: secret volume secrets must list its items (else every key of rampart-secrets is mounted)',
      ),
    );
    const unknownTask = structuredClone(migrate);
    unknownTask.podMeta.labels[TASK_LABEL] = 'reindex';
    assert.ok(
      credentialErrors(unknownTask).some((e) => e.includes('no database credential is defined for it (rampart.io/task=reindex')),
    );
    assert.deepEqual(credentialSharingErrors([es, backup.obj]), [
      "CronJob/rampart-backup: key backup-database-url is not in the ExternalSecret's data",
      "CronJob/rampart-backup: key backup-encrypt-key is not in the ExternalSecret's data",
      "CronJob/rampart-backup: key backup-signing-key is not in the ExternalSecret's data",
    ]);
  });

  it('k8s/base/prometheusrule.yaml is generated from alerts/ and up to date', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-promrule-'));
    try {
      const out = join(dir, 'prometheusrule.yaml');
      const r = spawnSync(process.execPath, [join(ROOT, 'scripts/gen-prometheusrule.mjs'), '--out', out], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(
        readFileSync(join(ROOT, 'k8s/base/prometheusrule.yaml'), 'utf8'),
        readFileSync(out, 'utf8'),
        'stale: run node scripts/gen-prometheusrule.mjs',
      );
      const rule = parse(readFileSync(out, 'utf8'));
      assert.deepEqual(crdErrors(rule), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the generator handles a missing alerts/ directory and rejects a malformed rule file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-promrule-'));
    try {
      const out = join(dir, 'out.yaml');
      const gen = (alerts: string) =>
        spawnSync(process.execPath, [join(ROOT, 'scripts/gen-prometheusrule.mjs'), '--alerts', alerts, '--out', out], {
          encoding: 'utf8',
        });
      const empty = gen(join(dir, 'no-such-dir'));
      assert.equal(empty.status, 0, empty.stderr);
      assert.match(empty.stderr, /no rule file/);
      assert.deepEqual(parse(readFileSync(out, 'utf8')).spec.groups, []);
      const alerts = join(dir, 'alerts');
      mkdirSync(alerts);
      writeFileSync(join(alerts, 'bad.yaml'), 'groups:\n  - name: g\n    rules:\n      - expr: up\n');
      const bad = gen(alerts);
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, /exactly one of "alert" or "record"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
