import { existsSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { CliError, EXIT, UsageError } from '../errors.js';
import { runFile } from '../supply-chain/exec.js';

/** A rendered Kubernetes object, as YAML gives it. */
export type K8sObject = Record<string, any>;

/**
 * `kubectl kustomize <overlay>`: the objects a deployment of that overlay applies. Bounded by
 * `timeoutMs`; a missing kubectl is an environment error (exit 78), a missing overlay a usage error.
 */
export async function renderOverlay(dir: string, timeoutMs: number, kubectl = 'kubectl'): Promise<K8sObject[]> {
  if (!existsSync(dir)) throw new UsageError(`--kustomize: no such directory ${dir}`);
  const res = await runFile(kubectl, ['kustomize', dir], { timeoutMs, maxBuffer: 32 * 1024 * 1024 });
  if (res.spawnError)
    throw new CliError(
      `--kustomize needs kubectl on PATH (${res.spawnError.message}): install kubectl, or leave out --kustomize`,
      {
        exitCode: EXIT.config,
        code: 'tool_missing',
      },
    );
  if (res.timedOut)
    throw new CliError(`kubectl kustomize ${dir} did not finish within ${timeoutMs} ms`, { code: 'kustomize_failed' });
  if (res.code !== 0)
    throw new UsageError(`kubectl kustomize ${dir} failed: ${res.stderr.trim().split('\n').slice(-3).join(' ')}`);
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(res.stdout)) {
    if (doc.errors.length > 0)
      throw new CliError(`kubectl kustomize ${dir}: ${doc.errors[0]?.message}`, { code: 'kustomize_failed' });
    const value = doc.toJS() as unknown;
    if (value && typeof value === 'object') objects.push(value as K8sObject);
  }
  return objects;
}

/** A workload's pod spec (Deployment, StatefulSet, DaemonSet, Job, CronJob), else undefined. */
export function podSpecOf(o: K8sObject): K8sObject | undefined {
  if (o.kind === 'CronJob') return o.spec?.jobTemplate?.spec?.template?.spec;
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(o.kind)) return o.spec?.template?.spec;
  return undefined;
}

export interface Container {
  owner: string;
  c: K8sObject;
}

/** Every container (init containers too) of every workload, named `Kind/name container`. */
export function containersOf(objects: readonly K8sObject[], kinds?: readonly string[]): Container[] {
  return objects.flatMap((o) => {
    if (kinds && !kinds.includes(o.kind)) return [];
    const spec = podSpecOf(o);
    if (!spec) return [];
    return [...(spec.initContainers ?? []), ...(spec.containers ?? [])].map((c: K8sObject) => ({
      owner: `${o.kind}/${o.metadata?.name} ${c.name}`,
      c,
    }));
  });
}

/** A container's environment variable: its literal value, `valueFrom` when set from elsewhere, or undefined. */
export function envOf(c: K8sObject, name: string): string | { from: string } | undefined {
  const e = (c.env ?? []).find((v: K8sObject) => v.name === name);
  if (!e) return undefined;
  if (e.valueFrom) return { from: Object.keys(e.valueFrom)[0] ?? 'valueFrom' };
  return typeof e.value === 'string' ? e.value : String(e.value ?? '');
}

export const idOf = (o: K8sObject) => `${o.kind}/${o.metadata?.name}`;
