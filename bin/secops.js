#!/usr/bin/env node
import './require-node.js';
// The `secops` entry point. Runs the compiled CLI when `npm run build` has produced it, else the
// TypeScript sources through tsx, so `npx secops --help` works from a fresh clone without a build.
import { existsSync } from 'node:fs';

const built = new URL('../dist/cli/src/main.js', import.meta.url);
let entry;
if (existsSync(built)) {
  entry = built.href;
} else {
  const { register } = await import('tsx/esm/api');
  register();
  entry = new URL('../cli/src/main.ts', import.meta.url).href;
}
const { main } = await import(entry);
process.exitCode = await main();
