import { CliError } from '../errors.js';
import { readJsonFile } from './files.js';
import { type EolTable, validateEolTable } from './runtime-eol.js';

/** The committed end-of-life table (`.secops/runtime-eol.json`), validated; a broken one is a failure (exit 1). */
export function loadEolTable(path: string): EolTable {
  const { table, problems } = validateEolTable(readJsonFile(path, 'end-of-life table'));
  if (!table) throw new CliError(`invalid end-of-life table ${path}:\n  - ${problems.join('\n  - ')}`);
  return table;
}
