import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { retentionKey } from '../lib/backup/settings.js';
import type { CliContext } from '../lib/context.js';
import { CliError } from '../lib/errors.js';
import { createReporter } from '../lib/output.js';
import { MANIFEST } from '../lib/retention/journal.js';
import { PART_FILE, readPart } from '../lib/retention/parts.js';

/** `secops retention read --file PART`: an archive part's rows, one JSON document a line (decrypted with the key). */
export interface RetentionReadOptions {
  file: string;
  encryptKeyFile?: string;
  encryptKeyRef?: string;
}

export async function run(options: RetentionReadOptions, ctx: CliContext): Promise<Record<string, unknown>[]> {
  const out = createReporter(ctx);
  const path = resolve(options.file);
  const [dir, name] = [dirname(path), basename(path)];
  if (!PART_FILE.test(name))
    throw new CliError(`${name} is not a retention archive part (<table>-NNNNNN.jsonl.gz[.enc])`, { code: 'not_a_part' });
  const key = await retentionKey(ctx, options);
  // A completed run's manifest holds every part's sha256: a substituted part is refused.
  const manifestFile = join(dir, MANIFEST);
  const expected = existsSync(manifestFile)
    ? (JSON.parse(readFileSync(manifestFile, 'utf8')) as { parts: { file: string; sha256: string }[] }).parts.find(
        (p) => p.file === name,
      )?.sha256
    : undefined;
  const rows = await readPart(dir, name, expected, key);
  out.json({ file: path, verified: expected !== undefined, rows });
  for (const row of rows) out.line(JSON.stringify(row));
  return rows;
}
