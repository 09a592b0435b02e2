#!/usr/bin/env node
// `npm run build`: compiles TypeScript to dist/, copies the assets the code reads at run time, and
// writes dist/build-info.json (version, git SHA, build time) for /version, build_info and the logs.
// `--out DIR` builds elsewhere (a test builds into a temporary folder and starts the result).
// It also bundles the `secops` CLI into dist/cli/bundle/ (./build-cli.mjs), which bin/secops.js runs.
// `--prepare` is package.json's "prepare" script, run by `npm ci` and `npm install`: it builds too, but
// skips (exit 0, saying why) when the compilers are not installed, as under `npm ci --omit=dev`, and
// a build that fails there (a type error in a work in progress) leaves no dist/ and does not fail the
// install: bin/secops.js then says that it runs the sources.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

if (process.argv.includes('--prepare')) {
  const missing = ['typescript', 'esbuild'].filter((name) => !existsSync(join('node_modules', name, 'package.json')));
  if (missing.length) {
    console.log(
      `build skipped: ${missing.join(' and ')} not installed (development dependencies); bin/secops.js runs dist/ only once it is built`,
    );
    process.exit(0);
  }
}

const outFlag = process.argv.indexOf('--out');
const out = outFlag >= 0 ? process.argv[outFlag + 1] : 'dist';
if (!out) throw new Error('--out needs a directory');
rmSync(out, { recursive: true, force: true });

async function build() {
  const { bundleCli } = await import('./build-cli.mjs');
  const startedAt = Date.now();
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json', '--outDir', out], {
    stdio: 'inherit',
  });
  mkdirSync(join(out, 'service'), { recursive: true });
  cpSync('service/openapi.yaml', join(out, 'service/openapi.yaml'));
  cpSync('service/src/platform/tracing-preload.mjs', join(out, 'service/src/platform/tracing-preload.mjs'));
  // The password-hashing thread's script: plain JavaScript, loaded by path (components/auth/hash-pool.ts).
  cpSync('service/src/components/auth/hash-worker.mjs', join(out, 'service/src/components/auth/hash-worker.mjs'));
  await bundleCli(out, startedAt);

  let gitSha = process.env.GIT_SHA;
  if (!gitSha) {
    try {
      gitSha = execFileSync('git', ['rev-parse', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim();
    } catch {
      gitSha = 'unknown';
    }
  }
  const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
  const info = { version, git_sha: gitSha, built_at: new Date().toISOString() };
  writeFileSync(join(out, 'build-info.json'), `${JSON.stringify(info, null, 2)}\n`);
  console.log(`built ${version} (${gitSha}) into ${out}/`);
}

if (process.argv.includes('--prepare')) {
  try {
    await build();
  } catch (err) {
    rmSync(out, { recursive: true, force: true });
    console.error(
      `\nbuild FAILED (${err.message.split('\n')[0]}): no dist/; bin/secops.js runs the sources through tsx until \`npm run build\` succeeds`,
    );
  }
} else {
  await build();
}
