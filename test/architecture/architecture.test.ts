import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = new URL('../..', import.meta.url).pathname;
const LINT = join(ROOT, 'scripts/lint-architecture.mjs');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');

/**
 * A miniature of the repository's layout that obeys every rule: a component with its entry points,
 * another that uses it through them, the composition root, the public surface and a CLI command.
 */
const GOOD: Record<string, string> = {
  'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', strict: true } }),
  'node_modules/koa/package.json': JSON.stringify({ name: 'koa', version: '3.0.0', main: 'index.js' }),
  'node_modules/koa/index.js': 'module.exports = class Koa {};\n',
  'service/src/platform/db.ts': 'export const connect = () => 1;\n',
  'service/src/platform/errors.ts': 'export class AppError extends Error {}\n',
  'service/src/components/auth/users-repo.ts': "import { connect } from '../../platform/db.js';\nexport const findUser = () => connect();\n",
  'service/src/components/auth/service.ts': "import { findUser } from './users-repo.js';\nexport const me = () => findUser();\n",
  'service/src/components/auth/routes.ts': "import Koa from 'koa';\nimport { me } from './service.js';\nexport const routes = () => [Koa, me];\n",
  'service/src/components/auth/public.ts': 'export const kidFor = (s: string) => s;\n',
  'service/src/components/auth/index.ts': "export * from './public.js';\nexport { routes } from './routes.js';\nexport { me } from './service.js';\n",
  'service/src/components/chat/repo.ts': "import { connect } from '../../platform/db.js';\nexport const list = () => connect();\n",
  'service/src/components/chat/service.ts': "import { me } from '../auth/index.js';\nimport { list } from './repo.js';\nexport const chat = () => [me(), list()];\n",
  'service/src/components/chat/routes.ts': "import { chat } from './service.js';\nexport const routes = () => chat;\n",
  'service/src/components/chat/index.ts': "export { routes } from './routes.js';\n",
  'service/src/deps.ts': "import { routes as auth } from './components/auth/index.js';\nimport { routes as chat } from './components/chat/index.js';\nexport const deps = [auth, chat];\n",
  'service/src/app.ts': "import Koa from 'koa';\nimport { deps } from './deps.js';\nexport const app = [Koa, deps];\n",
  'service/src/public/auth.ts': "export * from '../components/auth/public.js';\n",
  'service/src/public/db.ts': "export * from '../platform/db.js';\n",
  'cli/src/commands/keys.ts': "import { kidFor } from '../../../service/src/public/auth.js';\nimport { connect } from '../../../service/src/public/db.js';\nexport type KeysOptions = { ref: string };\nexport const run = (o: KeysOptions) => [kidFor(o.ref), connect()];\n",
  'cli/src/commands/keys.command.ts':
    "import type { KeysOptions } from './keys.js';\nexport const parse = (ref: string): KeysOptions => ({ ref });\nexport const load = () => import('./keys.js');\n",
  'cli/src/commands/index.ts': "import { load, parse } from './keys.command.js';\nexport const GROUPS = [load, parse];\n",
  'bench/run.ts': "import { routes } from '../service/src/components/chat/index.js';\nimport { AppError } from '../service/src/platform/errors.js';\nexport const x = [routes, AppError];\n",
};

function lint(t: import('node:test').TestContext, planted: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-architecture-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [path, text] of Object.entries({ ...GOOD, ...planted })) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const run = spawnSync(process.execPath, [LINT, '--config', CONFIG, '--cwd', dir, 'service/src', 'cli/src', 'bench'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: run.status, out: run.stdout + run.stderr };
}

describe('npm run lint: the architecture rules (.dependency-cruiser.cjs)', () => {
  it('passes a tree that follows every rule', (t) => {
    const { code, out } = lint(t, {});
    assert.equal(code, 0, out);
    assert.match(out, /no violations/);
  });

  const planted: [rule: string, why: string, files: Record<string, string>][] = [
    [
      'no-cycles',
      'two CLI modules that import each other (one of them type-only)',
      {
        'cli/src/lib/a.ts': "import type { B } from './b.js';\nexport type A = { b?: B };\n",
        'cli/src/lib/b.ts': "import type { A } from './a.js';\nexport type B = { a?: A };\n",
      },
    ],
    [
      'platform-imports-no-component',
      'platform code importing a component',
      { 'service/src/platform/tracing.ts': "import { me } from '../components/auth/index.js';\nexport const t = me;\n" },
    ],
    [
      'components-meet-through-entry-points',
      "chat reaching into auth's repo",
      { 'service/src/components/chat/service.ts': "import { findUser } from '../auth/users-repo.js';\nexport const chat = () => findUser();\n" },
    ],
    [
      'outside-uses-component-entry-points',
      "the composition root wiring a component's repo itself",
      {
        'service/src/deps.ts':
          "import { findUser } from './components/auth/users-repo.js';\nimport { routes } from './components/chat/index.js';\nexport const deps = [findUser, routes];\n",
      },
    ],
    [
      'outside-uses-component-entry-points',
      "a bench importing a component's repo",
      { 'bench/run.ts': "import { list } from '../service/src/components/chat/repo.js';\nexport const x = list;\n" },
    ],
    [
      'routes-import-no-database',
      'a route querying the database',
      { 'service/src/components/chat/routes.ts': "import { connect } from '../../platform/db.js';\nexport const routes = () => connect();\n" },
    ],
    [
      'cli-uses-the-public-surface',
      'the CLI importing a platform module directly',
      { 'cli/src/commands/keys.ts': "import { connect } from '../../../service/src/platform/db.js';\nexport const run = () => connect();\n" },
    ],
    [
      'cli-is-no-web-app',
      'the CLI loading Koa through the public surface',
      {
        'service/src/public/web.ts': "export { routes } from '../components/chat/index.js';\n",
        'cli/src/commands/serve.ts': "import { routes } from '../../../service/src/public/web.js';\nexport const run = () => routes;\n",
      },
    ],
    [
      'cli-definitions-load-commands-lazily',
      'a command definition importing its command module statically',
      {
        'cli/src/commands/keys.command.ts':
          "import { type KeysOptions, run } from './keys.js';\nexport const parse = (ref: string): KeysOptions => ({ ref });\nexport const load = () => ({ run });\n",
      },
    ],
  ];
  for (const [rule, why, files] of planted) {
    it(`fails on ${why} (${rule})`, (t) => {
      const { code, out } = lint(t, files);
      assert.equal(code, 1, out);
      assert.match(out, new RegExp(`✖ ${rule}: `));
    });
  }

  it('passes on this repository', () => {
    const run = spawnSync(process.execPath, [LINT], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 0, run.stdout + run.stderr);
  });
});
