/**
 * No dynamic code execution anywhere the service or the CLI runs (ASVS 5.0 1.3.2): no eval, no Function
 * constructor, no string timers, no node:vm. Biome's noGlobalEval covers eval only; this covers the rest,
 * and shows on planted lines that it catches each form.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { sourceFiles } from '../helpers/source-files.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const SOURCES = ['service', 'cli', 'bin', 'migrations'];

const FORBIDDEN: [RegExp, string][] = [
  [/(?<![\w.$])eval\s*\(/, 'eval('],
  [/\bnew\s+Function\s*\(/, 'new Function('],
  [/(?<![\w.$])Function\s*\(\s*['"`]/, 'Function("…")'],
  [/\b(?:setTimeout|setInterval|setImmediate)\s*\(\s*['"`]/, 'a timer given a string'],
  [/\bfrom\s+['"](?:node:)?vm['"]|\brequire\(\s*['"](?:node:)?vm['"]\s*\)|\bimport\(\s*['"](?:node:)?vm['"]\s*\)/, 'node:vm'],
];

function findings(text: string): string[] {
  const found: string[] = [];
  text.split('\n').forEach((line, i) => {
    const code = line.replace(/\/\/.*$/, ''); // a comment may name what it does not do
    for (const [pattern, what] of FORBIDDEN) if (pattern.test(code)) found.push(`${i + 1}: ${what}`);
  });
  return found;
}

describe('dynamic code execution', () => {
  it('no source of the service or the CLI runs eval, new Function or node:vm', () => {
    const planted = [
      'const x = eval(input);',
      'const f = new Function("a", body);',
      "const g = Function('return this')();",
      "setTimeout('doIt()', 10);",
      "import { runInNewContext } from 'node:vm';",
      "const vm = require('vm');",
    ];
    for (const line of planted) assert.ok(findings(line).length > 0, `the scan catches: ${line}`);
    for (const line of [
      'retrieval(x);',
      'const evaluate = (a) => a;',
      'setTimeout(() => run(), 10);',
      "import { Function as F } from './types.js';",
    ]) {
      assert.deepEqual(findings(line), [], `no false alarm on: ${line}`);
    }

    const scanned = SOURCES.flatMap((dir) => sourceFiles(join(ROOT, dir)));
    assert.ok(scanned.length > 100, `scanned ${scanned.length} files`);
    const problems = scanned.flatMap((path) => findings(readFileSync(path, 'utf8')).map((f) => `${relative(ROOT, path)}:${f}`));
    assert.deepEqual(problems, []);
  });
});
