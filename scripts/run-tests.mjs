#!/usr/bin/env node
// Runs every test file under test/ with node's test runner (Node 20's --test does not expand globs).
// Extra arguments are passed through, e.g. `npm test -- --test-name-pattern=refresh`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function collect(dir) {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return name === 'helpers' || name === 'fixtures' ? [] : collect(path);
      return name.endsWith('.test.ts') ? [path] : [];
    });
}

// A directory argument runs the test files under it (`npm run test:reliability` → test/reliability).
const args = process.argv.slice(2).flatMap((a) => (!a.startsWith('-') && existsSync(a) && statSync(a).isDirectory() ? collect(a) : [a]));
const files = args.some((a) => !a.startsWith('-')) ? [] : collect('test');
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=120000', ...args, ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
