import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

it('`node bin/secops.js --help` exits 0 and lists migrate, with this checkout built or not (bin-bundle.test.ts covers both)', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['bin/secops.js', '--help'], {
    cwd: ROOT,
    timeout: 20_000,
  });
  assert.match(stdout, /Usage: secops/);
  assert.match(stdout, /^\s+migrate\b/m);
});

it('`node bin/secops.js` with an unknown command exits 2', async () => {
  await assert.rejects(
    promisify(execFile)(process.execPath, ['bin/secops.js', 'frobnicate'], { cwd: ROOT, timeout: 20_000 }),
    (err: { code?: number; stderr?: string }) => err.code === 2 && /unknown command/.test(err.stderr ?? ''),
  );
});

/**
 * Runs `main` once per argv in a fresh process that records every module it resolves; returns the
 * exit code of the first run and the resolved URLs.
 */
async function resolvedWhileRunning(...argvs: string[][]): Promise<{ code: number; seen: string[] }> {
  const script = `
    import { registerHooks } from 'node:module';
    const seen = [];
    registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.push(r.url); return r; } });
    const { main } = await import('./cli/src/main.ts');
    const sink = { write: () => true };
    const codes = [];
    for (const argv of ${JSON.stringify(argvs)}) codes.push(await main(argv, { stdout: sink, stderr: sink, env: {}, isTTY: false }));
    process.stdout.write(JSON.stringify({ code: codes[0], seen }));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    timeout: 20_000,
  });
  return JSON.parse(stdout) as { code: number; seen: string[] };
}

it('`--help` loads the command definitions only: no command module, no dependency but commander', async () => {
  // `--help` must not reach a command's run module (commands/<group>.ts) nor any package but
  // commander (no knex, pg, zod, argon2, …).
  const groups = ['migrate', 'keys', 'backup', 'db', 'readiness'].map((g) => [g, '--help']);
  const { code, seen } = await resolvedWhileRunning(['--help'], ...groups);
  assert.equal(code, 0);
  const commandModules = seen.filter((u) => /\/cli\/src\/commands\/[^/]+\.ts$/.test(u) && !/\.command\.ts$|\/index\.ts$/.test(u));
  assert.deepEqual(commandModules, [], 'a command module was loaded for --help');
  const packages = new Set(seen.flatMap((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1] ?? []));
  packages.delete('tsx'); // the test's TypeScript loader, not the CLI's
  assert.deepEqual([...packages], ['commander']);
  assert.ok(seen.some((u) => u.endsWith('/cli/src/commands/keys.command.ts')), 'the definitions were loaded');
});

it('a command module is loaded when its command runs', async () => {
  const { code, seen } = await resolvedWhileRunning(['secret', 'generate', '--bytes', '32']);
  assert.equal(code, 0);
  assert.ok(seen.some((u) => u.endsWith('/cli/src/commands/secret.ts')));
});
