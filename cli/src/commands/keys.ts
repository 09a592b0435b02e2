import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { setTimeout as sleepFor } from 'node:timers/promises';
import { keyringFromDocument } from '../../../service/src/public/auth.js';
import {
  DEFAULT_CLOCK_TOLERANCE_MS,
  DEFAULT_MARGIN_MS,
  initialDocument,
  type KeySummary,
  type KeysDocument,
  KeyRotationError,
  parseKeysDocument,
  promotableAt,
  promote,
  prunableAt,
  prune,
  type RotationTimings,
  serializeKeysDocument,
  stage,
  stagedKey,
  summarize,
} from '../../../service/src/public/auth.js';
import type { JwtAlgorithm } from '../../../service/src/public/auth.js';
import type { SecretReference, SecretStore } from '../../../service/src/public/secrets.js';
import type { CliConfig } from '../lib/config.js';
import type { CliContext } from '../lib/context.js';
import { formatAge } from '../lib/duration.js';
import { CliError, ConfigurationError, UsageError } from '../lib/errors.js';
import { createReporter, type Reporter } from '../lib/output.js';
import { openSecretStore, secretFailure } from '../lib/secrets.js';

/**
 * `secops keys`: the JWT keyring document in a secret store (JWT_KEYS_REF), and its rotation in three
 * phases — stage, promote, prune — each safe to re-run, each a check-and-set write so two rotations
 * that collide cannot both land (the second fails and is re-run on the new document).
 */

export type Phase = 'stage' | 'promote' | 'prune';

/** Where the keyring lives and the timings its phases wait by; what is not given comes from the service's settings. */
export interface KeysTarget {
  /** The secret reference holding the document (--ref); default JWT_KEYS_REF, else file:$JWT_KEYS_FILE. */
  ref?: string;
  /** --reload-interval / --token-ttl; default JWT_KEYS_RELOAD_INTERVAL_SECONDS / ACCESS_TOKEN_TTL_SECONDS. */
  timings?: Partial<RotationTimings>;
}

interface ResolvedTarget {
  ref: string;
  timings: RotationTimings;
}

export type KeysOptions =
  | (KeysTarget & { action: 'init'; alg: JwtAlgorithm; importSecretRef: string | undefined })
  | (KeysTarget & { action: 'list' })
  | (KeysTarget & { action: 'remove'; kid: string; dryRun: boolean })
  | (KeysTarget & {
      action: 'rotate';
      phases: Phase[];
      alg: JwtAlgorithm;
      /** Replica metrics endpoints that must show the staged key before promote. */
      replicas: string[];
      /** For https:// replicas: the CA their certificates chain to, and the name they carry (pods are reached by IP). */
      replicaTls?: ReplicaTls;
      /** Sleep until a phase is safe instead of failing with the wait. */
      wait: boolean;
      dryRun: boolean;
    });

export interface KeysDependencies {
  store?: SecretStore;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  fetch?: typeof fetch;
}

export interface PhaseReport {
  phase: Phase;
  changed: boolean;
  kid?: string;
  previous?: string;
  removed?: string[];
  kept?: { kid: string; prunableAt: string }[];
  waited_ms: number;
  version: string | null;
}

export interface KeysResult {
  ref: string;
  dry_run?: boolean;
  phases?: PhaseReport[];
  keys: KeySummary[];
  version: string | null;
}

/** `--ref`, else the service's own JWT_KEYS_REF, else JWT_KEYS_FILE as a file reference. */
function resolveRef(flag: string | undefined, config: CliConfig): string {
  if (flag) return flag;
  const source = config.source('JWT_KEYS');
  if (source.kind === 'ref') return source.reference;
  if (source.kind === 'file') return `file:${source.path}`;
  if (source.kind === 'conflict') throw new ConfigurationError([source.problem]);
  throw new UsageError(
    source.kind === 'value'
      ? 'JWT_KEYS is set inline: rotation needs a store to write to; pass --ref or set JWT_KEYS_REF / JWT_KEYS_FILE'
      : 'where is the keyring? pass --ref (e.g. vault://secret/rampart#jwt_keys) or set JWT_KEYS_REF',
  );
}

/** Timings from the service's own settings (so the waits match the replicas), overridden by what was given. */
function resolveTimings(given: Partial<RotationTimings> | undefined, config: CliConfig): RotationTimings {
  const needsSettings = given?.reloadIntervalMs === undefined || given.tokenLifetimeMs === undefined;
  const settings = needsSettings ? config.read(['JWT_KEYS_RELOAD_INTERVAL_SECONDS', 'ACCESS_TOKEN_TTL_SECONDS']) : undefined;
  return {
    reloadIntervalMs: given?.reloadIntervalMs ?? (settings?.JWT_KEYS_RELOAD_INTERVAL_SECONDS ?? 0) * 1000,
    tokenLifetimeMs: given?.tokenLifetimeMs ?? (settings?.ACCESS_TOKEN_TTL_SECONDS ?? 0) * 1000,
    clockToleranceMs: given?.clockToleranceMs ?? DEFAULT_CLOCK_TOLERANCE_MS,
    marginMs: given?.marginMs ?? DEFAULT_MARGIN_MS,
  };
}

async function resolveTarget(target: KeysTarget, ctx: CliContext): Promise<ResolvedTarget> {
  const config = await ctx.config();
  return { ref: resolveRef(target.ref, config), timings: resolveTimings(target.timings, config) };
}

interface Session {
  ctx: CliContext;
  out: Reporter;
  store: SecretStore;
  ref: SecretReference;
  refText: string;
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
  fetch: typeof fetch;
}

async function readDocument(s: Session): Promise<{ doc: KeysDocument; version: string | undefined }> {
  let stored: Awaited<ReturnType<SecretStore['read']>>;
  try {
    stored = await s.store.read(s.ref);
  } catch (err) {
    throw secretFailure(err, s.refText);
  }
  try {
    return { doc: parseKeysDocument(stored.value), version: stored.version };
  } catch (err) {
    throw asCliError(err);
  }
}

/** Check-and-set write of a document the service will accept (validated by the service's own keyring loader first). */
async function writeDocument(s: Session, doc: KeysDocument, expectedVersion: string | null | undefined): Promise<string | undefined> {
  const text = serializeKeysDocument(doc);
  await keyringFromDocument(text); // throws KeyringError if a replica could not load it
  try {
    return (await s.store.write(s.ref, text, { expectedVersion })).version;
  } catch (err) {
    throw secretFailure(
      err,
      s.refText,
      expectedVersion === null
        ? 'a keyring already exists there (list it with `secops keys list`)'
        : 'the keyring changed since it was read (another rotation?); nothing was written — re-run this phase',
    );
  }
}

function asCliError(err: unknown): unknown {
  if (err instanceof KeyRotationError && err.code === 'not_ready') {
    const how = err.waitMs === undefined ? '' : ' (or add --wait)';
    return new CliError(`${err.message}${how}; nothing was changed`, { code: 'keys_not_ready', cause: err });
  }
  if (err instanceof KeyRotationError) return new CliError(err.message, { code: `keys_${err.code}`, cause: err });
  return err;
}

const seconds = (ms: number) => `${Math.ceil(ms / 1000)} s`;

/** Sleeps `ms` showing a countdown (spinner on a TTY, one line otherwise). */
async function waitFor(s: Session, ms: number, why: string): Promise<number> {
  if (ms <= 0) return 0;
  await s.out.step(`waiting ${seconds(ms)}: ${why}`, () => s.sleep(ms));
  return ms;
}

export interface ReplicaTls {
  /** PEM bundle the replicas' metrics certificates chain to (the cluster's internal CA); default: the system's. */
  caFile?: string;
  /** The name the certificates carry, when replicas are addressed by pod IP (k8s: rampart-metrics). */
  serverName?: string;
}

/**
 * One replica's /metrics text: over https:// with the given CA and server name, verified (node:https;
 * fetch cannot take a CA), else through the session's fetch. Undefined when it does not answer 200.
 */
async function replicaMetrics(s: Session, url: URL, tls: ReplicaTls | undefined): Promise<string | undefined> {
  if (url.protocol !== 'https:') {
    const res = await s.fetch(url, { signal: AbortSignal.timeout(5000) });
    return res.ok ? res.text() : undefined;
  }
  const ca = tls?.caFile ? readFileSync(tls.caFile) : undefined;
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, servername: tls?.serverName, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(res.statusCode === 200 ? body : undefined));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** Polls each replica's metrics until every one shows `kid` loaded, or `timeoutMs` passes. */
async function replicasHaveLoaded(s: Session, replicas: string[], kid: string, timeoutMs: number, tls?: ReplicaTls): Promise<void> {
  const pattern = new RegExp(`^jwt_keyring_keys\\{[^}]*kid="${kid.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"[^}]*\\} 1$`, 'm');
  const deadline = s.now().getTime() + timeoutMs;
  const pending = new Set(replicas);
  await s.out.step(`checking that ${replicas.length} replica(s) loaded ${kid}`, async () => {
    while (pending.size > 0) {
      for (const replica of [...pending]) {
        const url = new URL('/metrics', replica);
        try {
          const text = await replicaMetrics(s, url, tls);
          if (text !== undefined && pattern.test(text)) pending.delete(replica);
        } catch {
          // unreachable (or its certificate not trusted) for now: retried until the deadline
        }
      }
      if (pending.size === 0) break;
      if (s.now().getTime() >= deadline) {
        throw new CliError(`replica(s) ${[...pending].join(', ')} have not loaded ${kid}; not promoting (nothing was changed)`, {
          code: 'keys_replicas_not_ready',
        });
      }
      await s.sleep(1000);
    }
  });
}

async function runStage(s: Session, alg: JwtAlgorithm, dryRun: boolean): Promise<PhaseReport> {
  const { doc, version } = await readDocument(s);
  const result = await stage(doc, { alg, now: s.now() });
  if (!result.changed) {
    s.out.line(`stage: ${result.kid} is already staged (verify-only); nothing to do`);
    return { phase: 'stage', changed: false, kid: result.kid, waited_ms: 0, version: version ?? null };
  }
  if (dryRun) {
    s.out.line(`stage (dry run): would add a new ${alg} key as verify-only`);
    return { phase: 'stage', changed: true, kid: result.kid, waited_ms: 0, version: version ?? null };
  }
  const written = await writeDocument(s, result.document, version ?? null);
  s.out.success(`stage: added ${result.kid} (${alg}, verify-only); replicas pick it up within one reload interval`);
  return { phase: 'stage', changed: true, kid: result.kid, waited_ms: 0, version: written ?? null };
}

async function runPromote(
  s: Session,
  options: { timings: RotationTimings; replicas: string[]; replicaTls?: ReplicaTls; wait: boolean; dryRun: boolean },
): Promise<PhaseReport> {
  let { doc, version } = await readDocument(s);
  let waited = 0;
  const candidate = stagedKey(doc);
  let replicasConfirmed = false;
  if (candidate && options.replicas.length > 0) {
    await replicasHaveLoaded(s, options.replicas, candidate.kid, options.wait ? options.timings.reloadIntervalMs * 2 + 30_000 : 0, options.replicaTls);
    replicasConfirmed = true;
  } else if (candidate && options.wait && options.timings.reloadIntervalMs > 0) {
    waited = await waitFor(
      s,
      promotableAt(candidate, options.timings) - s.now().getTime(),
      `every replica re-reads the keyring and loads ${candidate.kid}`,
    );
    if (waited > 0) ({ doc, version } = await readDocument(s));
  }
  let result: ReturnType<typeof promote>;
  try {
    result = promote(doc, { now: s.now(), timings: options.timings, replicasConfirmed });
  } catch (err) {
    throw asCliError(err);
  }
  if (!result.changed) {
    s.out.line(`promote: ${result.kid} already signs; nothing to do`);
    return { phase: 'promote', changed: false, kid: result.kid, waited_ms: waited, version: version ?? null };
  }
  if (options.dryRun) {
    s.out.line(`promote (dry run): would make ${result.kid} the signing key; ${result.previous} would verify only`);
    return { phase: 'promote', changed: true, kid: result.kid, previous: result.previous, waited_ms: waited, version: version ?? null };
  }
  const written = await writeDocument(s, result.document, version ?? null);
  s.out.success(`promote: ${result.kid} now signs; ${result.previous} verifies only until it is pruned`);
  return { phase: 'promote', changed: true, kid: result.kid, previous: result.previous, waited_ms: waited, version: written ?? null };
}

async function runPrune(s: Session, options: { timings: RotationTimings; wait: boolean; dryRun: boolean }): Promise<PhaseReport> {
  let { doc, version } = await readDocument(s);
  let waited = 0;
  if (options.wait) {
    const retired = doc.keys.filter((k) => k.kid !== doc.signing && k.retired_at);
    const last = Math.max(...retired.map((k) => prunableAt(k, options.timings)).filter(Number.isFinite), 0);
    waited = await waitFor(s, last - s.now().getTime(), 'every token signed by the retired key(s) expires');
    if (waited > 0) ({ doc, version } = await readDocument(s));
  }
  const result = prune(doc, { now: s.now(), timings: options.timings });
  for (const k of result.kept) s.out.line(`prune: keeping ${k.kid} (tokens it signed may still be valid) until ${k.prunableAt}`);
  if (result.removed.length === 0) {
    s.out.line('prune: nothing to remove');
    return { phase: 'prune', changed: false, removed: [], kept: result.kept, waited_ms: waited, version: version ?? null };
  }
  if (options.dryRun) {
    s.out.line(`prune (dry run): would remove ${result.removed.join(', ')}`);
    return { phase: 'prune', changed: true, removed: result.removed, kept: result.kept, waited_ms: waited, version: version ?? null };
  }
  const written = await writeDocument(s, result.document, version ?? null);
  s.out.success(`prune: removed ${result.removed.join(', ')}`);
  return { phase: 'prune', changed: true, removed: result.removed, kept: result.kept, waited_ms: waited, version: written ?? null };
}

function printKeys(out: Reporter, keys: KeySummary[], now: Date): void {
  out.line('KID                          ALG    ROLE     AGE        NEXT');
  for (const k of keys) {
    const next =
      k.next_phase_at === null
        ? ''
        : `${k.role === 'staged' ? 'promotable' : 'prunable'} ${
            Date.parse(k.next_phase_at) <= now.getTime() ? 'now' : `in ${formatAge(Date.parse(k.next_phase_at) - now.getTime())}`
          }`;
    out.line(
      `${k.kid.padEnd(28)} ${k.alg.padEnd(6)} ${k.role.padEnd(8)} ${(k.age_seconds === null ? '?' : formatAge(k.age_seconds * 1000)).padEnd(10)} ${next}`,
    );
  }
}

export async function run(given: KeysOptions, ctx: CliContext, deps: KeysDependencies = {}): Promise<KeysResult> {
  const options: KeysOptions & ResolvedTarget = { ...given, ...(await resolveTarget(given, ctx)) };
  const out = createReporter(ctx);
  const { store, ref } = await openSecretStore(ctx, options.ref, deps.store);
  const s: Session = {
    ctx,
    out,
    store,
    ref,
    refText: options.ref,
    now: deps.now ?? (() => new Date()),
    sleep: deps.sleep ?? ((ms) => sleepFor(ms)),
    fetch: deps.fetch ?? fetch,
  };

  if (options.action === 'init') {
    let importSecret: Uint8Array | undefined;
    if (options.importSecretRef) {
      const source = await openSecretStore(ctx, options.importSecretRef, deps.store);
      let value: string;
      try {
        value = (await source.store.read(source.ref)).value;
      } catch (err) {
        throw secretFailure(err, options.importSecretRef);
      }
      importSecret = new Uint8Array(Buffer.from(value.trim(), 'base64url'));
    }
    const doc = await initialDocument({ alg: options.alg, now: s.now(), importSecret });
    const version = await writeDocument(s, doc, null);
    out.success(
      `created a keyring at ${options.ref} signing with ${doc.signing}${importSecret ? ' (the imported JWT_SECRET: its tokens stay valid)' : ''}`,
    );
    const result: KeysResult = { ref: options.ref, keys: summarize(doc, s.now(), options.timings), version: version ?? null };
    out.json(result);
    return result;
  }

  if (options.action === 'list') {
    const { doc, version } = await readDocument(s);
    const keys = summarize(doc, s.now(), options.timings);
    printKeys(out, keys, s.now());
    const result: KeysResult = { ref: options.ref, keys, version: version ?? null };
    out.json(result);
    return result;
  }

  if (options.action === 'remove') {
    const { doc, version } = await readDocument(s);
    if (doc.signing === options.kid) {
      throw new CliError(`"${options.kid}" is the signing key: stage and promote another key first`, { code: 'keys_signing_key' });
    }
    if (!doc.keys.some((k) => k.kid === options.kid)) {
      out.line(`remove: no key "${options.kid}" in the keyring; nothing to do`);
      const result: KeysResult = { ref: options.ref, keys: summarize(doc, s.now(), options.timings), version: version ?? null };
      out.json(result);
      return result;
    }
    const next: KeysDocument = { signing: doc.signing, keys: doc.keys.filter((k) => k.kid !== options.kid) };
    let written = version;
    if (options.dryRun) out.line(`remove (dry run): would remove ${options.kid}`);
    else {
      written = await writeDocument(s, next, version ?? null);
      out.success(`removed ${options.kid}: tokens it signed are refused as soon as each replica reloads (SIGHUP for at once)`);
    }
    const result: KeysResult = { ref: options.ref, dry_run: options.dryRun, keys: summarize(options.dryRun ? doc : next, s.now(), options.timings), version: written ?? null };
    out.json(result);
    return result;
  }

  const phases: PhaseReport[] = [];
  for (const phase of options.phases) {
    if (phase === 'stage') phases.push(await runStage(s, options.alg, options.dryRun));
    else if (phase === 'promote') phases.push(await runPromote(s, options));
    else phases.push(await runPrune(s, options));
  }
  const { doc, version } = await readDocument(s);
  const keys = summarize(doc, s.now(), options.timings);
  if (options.phases.length > 1 || !ctx.json) printKeys(out, keys, s.now());
  const result: KeysResult = { ref: options.ref, dry_run: options.dryRun, phases, keys, version: version ?? null };
  out.json(result);
  return result;
}
