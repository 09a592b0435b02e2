import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

it('`node bin/secops.js --help` works without a build: exits 0 and lists migrate', async () => {
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

it('`--help` loads no database driver: command modules are imported only when their command runs', async () => {
  const script = `
    import { createRequire } from 'node:module';
    const { main } = await import('./cli/src/main.ts');
    const sink = { write: () => true };
    const code = await main(['--help'], { stdout: sink, stderr: sink, env: {}, isTTY: false });
    const drivers = Object.keys(createRequire(import.meta.url).cache).filter((p) => /node_modules\\/(knex|pg)\\//.test(p));
    process.stdout.write(JSON.stringify({ code, drivers }));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    timeout: 20_000,
  });
  assert.deepEqual(JSON.parse(stdout), { code: 0, drivers: [] });
});
