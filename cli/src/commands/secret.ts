import { randomBytes } from 'node:crypto';
import type { SecretStore } from '../../../service/src/public/secrets.js';
import type { CliContext } from '../lib/context.js';
import { createReporter } from '../lib/output.js';
import { openSecretStore, secretFailure } from '../lib/secrets.js';

/** `secops secret generate`: random bytes from the OS CSPRNG, base64url, to stdout or into a secret store. */
export interface GenerateOptions {
  bytes: number;
  /** A secret reference to write to instead of stdout; the value is then never printed. */
  to: string | undefined;
  /** Replace an existing value at `to` (default: refuse, so a live secret is never clobbered by accident). */
  overwrite: boolean;
}

export interface GenerateDependencies {
  /** The entropy source (node:crypto randomBytes: the OS CSPRNG). */
  random?: (size: number) => Uint8Array;
  store?: SecretStore;
}

export type GenerateResult =
  | { written: false; bytes: number; secret: string }
  | { written: true; bytes: number; to: string; version: string | null };

export function generateSecret(bytes: number, random: (size: number) => Uint8Array = randomBytes): string {
  const material = random(bytes);
  if (material.length !== bytes) throw new Error(`the entropy source returned ${material.length} bytes, not ${bytes}`);
  return Buffer.from(material).toString('base64url');
}

export async function run(options: GenerateOptions, ctx: CliContext, deps: GenerateDependencies = {}): Promise<GenerateResult> {
  const out = createReporter(ctx);
  const secret = generateSecret(options.bytes, deps.random);
  if (!options.to) {
    const result: GenerateResult = { written: false, bytes: options.bytes, secret };
    out.json(result);
    // The bare value, so `$(secops secret generate)` and pipes get exactly the secret.
    if (!ctx.json) ctx.stdout.write(`${secret}\n`);
    return result;
  }
  const { store, ref } = await openSecretStore(ctx, options.to, deps.store);
  let version: string | undefined;
  try {
    ({ version } = await out.step(`writing ${options.bytes} random bytes to ${options.to}`, () =>
      store.write(ref, secret, options.overwrite ? {} : { expectedVersion: null }),
    ));
  } catch (err) {
    throw secretFailure(err, options.to, options.overwrite ? undefined : 'it already holds a value; pass --overwrite to replace it');
  }
  const result: GenerateResult = { written: true, bytes: options.bytes, to: options.to, version: version ?? null };
  out.success(`wrote a new ${options.bytes}-byte secret to ${options.to}${version ? ` (version ${version})` : ''}; the value was not printed`);
  out.json(result);
  return result;
}
