#!/usr/bin/env node
// `npm run build`: compiles TypeScript to dist/, copies the assets the code reads at run time, and
// writes dist/build-info.json (version, git SHA, build time) for /version, build_info and the logs.
// `--out DIR` builds elsewhere (a test builds into a temporary folder and starts the result).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const outFlag = process.argv.indexOf('--out');
const out = outFlag >= 0 ? process.argv[outFlag + 1] : 'dist';
if (!out) throw new Error('--out needs a directory');
rmSync(out, { recursive: true, force: true });
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json', '--outDir', out], { stdio: 'inherit' });
mkdirSync(join(out, 'service'), { recursive: true });
cpSync('service/openapi.yaml', join(out, 'service/openapi.yaml'));
cpSync('service/src/platform/tracing-preload.mjs', join(out, 'service/src/platform/tracing-preload.mjs'));
// The password-hashing thread's script: plain JavaScript, loaded by path (components/auth/hash-pool.ts).
cpSync('service/src/components/auth/hash-worker.mjs', join(out, 'service/src/components/auth/hash-worker.mjs'));

let gitSha = process.env.GIT_SHA;
if (!gitSha) {
  try {
    gitSha = execFileSync('git', ['rev-parse', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    gitSha = 'unknown';
  }
}
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
const info = { version, git_sha: gitSha, built_at: new Date().toISOString() };
writeFileSync(join(out, 'build-info.json'), `${JSON.stringify(info, null, 2)}\n`);
console.log(`built ${version} (${gitSha}) into ${out}/`);
