import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { CliError } from '../errors.js';

/** Reads a JSON file; a missing or malformed file is a CliError naming the path. */
export function readJsonFile(path: string, what: string): unknown {
  if (!existsSync(path)) throw new CliError(`${what} not found: ${path}`, { code: 'file_not_found' });
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new CliError(`${what} is not valid JSON: ${path} (${(err as Error).message})`, { code: 'invalid_json' });
  }
}

/** Writes a JSON document with a trailing newline, creating the directory (e.g. build/). */
export function writeJsonFile(path: string, document: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(document, null, 2)}\n`);
}
