import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface FileModeEntry {
  path: string;
  kind: 'dir' | 'file';
  mode: number;
}

/** Every entry under `dir` (itself included) with its permission bits. */
export function fileModes(dir: string): FileModeEntry[] {
  const found: FileModeEntry[] = [{ path: dir, kind: 'dir', mode: statSync(dir).mode & 0o777 }];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...fileModes(path));
    else found.push({ path, kind: 'file', mode: statSync(path).mode & 0o777 });
  }
  return found;
}
