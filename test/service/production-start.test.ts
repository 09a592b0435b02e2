import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TEST_JWT_SECRET } from '../helpers/app.js';
import { createTestDatabase } from '../helpers/database.js';
import { buildRelease } from '../helpers/release.js';
import { spawnService } from '../helpers/service-process.js';
import { skipUnlessRealPostgres } from '../helpers/services.js';
import { PRODUCTION_ACCOUNT_SETTINGS } from '../helpers/production-env.js';

const ROOT = new URL('../..', import.meta.url).pathname;

/**
 * Reports at exit every module the process resolved under a TypeScript loader (tsx, esbuild): under
 * NODE_ENV=production the service must run the compiled JavaScript with no loader at all.
 */
const LOADER_PROBE = `data:text/javascript,${encodeURIComponent(`
import { registerHooks } from 'node:module';
const seen = new Set();
registerHooks({
  resolve(specifier, context, nextResolve) {
    const result = nextResolve(specifier, context);
    if (/node_modules[\\\\/](tsx|esbuild)[\\\\/]|\\.ts$/.test(result.url)) seen.add(result.url);
    return result;
  },
});
process.on('exit', () => process.stderr.write('LOADER_PROBE ' + JSON.stringify([...seen]) + '\\n'));
`)}`;

describe('npm start under NODE_ENV=production (bin/rampart.js)', { skip: await skipUnlessRealPostgres() }, () => {
  it('runs the compiled dist/ with no TypeScript loader, and reports the Node running it', async (t) => {
    // A release tree of its own: the build's output beside bin/ and package.json, as in the image.
    const release = buildRelease();
    t.after(() => release.remove());

    const database = await createTestDatabase({ migrated: false });
    t.after(() => database.drop());
    const service = await spawnService({
      entry: release.entry,
      imports: [LOADER_PROBE],
      env: {
        NODE_ENV: 'production', ...PRODUCTION_ACCOUNT_SETTINGS,
        DATABASE_URL: database.url as string,
        JWT_SECRET: TEST_JWT_SECRET,
        MIGRATE_ON_START: 'true',
        SHUTDOWN_DELAY_MS: '0',
        LOG_LEVEL: 'info',
      },
    });
    t.after(() => service.stop());
    const version = (await (await fetch(`${service.baseUrl}/version`)).json()) as { node_version: string };
    assert.equal(version.node_version, process.version);
    const logLines = service.output().split('\n').filter((l) => l.startsWith('{'));
    const first = JSON.parse(logLines[0] as string);
    assert.equal(first.msg, 'rampart starting');
    assert.equal(first.node_version, process.version, 'the first log line names the Node');
    assert.equal((await fetch(`${service.baseUrl}/readyz`)).status, 200, 'migrated from the compiled migrations');
    // PRODUCTION_ACCOUNT_SETTINGS names every hop in ALLOW_PLAINTEXT (no TLS here): one warning each, at start.
    const plaintext = logLines.map((l) => JSON.parse(l) as { level?: string; msg?: string }).filter((l) => l.msg?.startsWith('WARNING: ALLOW_PLAINTEXT lists '));
    assert.deepEqual(
      plaintext.map((l) => [l.level, l.msg?.split(':')[1]]),
      ['database', 'redis', 'model', 'mail', 'secrets'].map((hop) => ['warn', ` ALLOW_PLAINTEXT lists ${hop}`]),
    );

    assert.equal(await service.stop(), 0);
    const probe = service.output().split('\n').find((l) => l.startsWith('LOADER_PROBE '));
    assert.ok(probe, service.output());
    assert.deepEqual(JSON.parse(probe.slice('LOADER_PROBE '.length)), [], 'no TypeScript loader or .ts file was resolved');
  });

  it('refuses to start with a plaintext database hop that ALLOW_PLAINTEXT does not name (exit 78), naming the fix', () => {
    const { ALLOW_PLAINTEXT: _, ...settings } = PRODUCTION_ACCOUNT_SETTINGS;
    let stderr = '';
    try {
      execFileSync(process.execPath, [join(ROOT, 'test/helpers/service-entry.mjs')], {
        env: {
          PATH: process.env.PATH,
          ...settings,
          NODE_ENV: 'production',
          MAIL_URL: 'smtp://mail.internal:587',
          DATABASE_URL: 'postgres://app:hunter2@127.0.0.1:1/rampart',
          JWT_SECRET: TEST_JWT_SECRET,
        },
        stdio: 'pipe',
      });
      assert.fail('it started');
    } catch (err) {
      stderr = String((err as { stderr?: Buffer }).stderr);
      assert.equal((err as { status?: number }).status, 78, stderr);
    }
    assert.match(stderr, /configuration error: DATABASE_URL does not ask for sslmode=verify-full .*ALLOW_PLAINTEXT=database/);
    assert.doesNotMatch(stderr, /hunter2/);
  });

  it('refuses to start from a checkout that has no build, saying what to run', () => {
    const empty = mkdtempSync(join(tmpdir(), 'rampart-nobuild-'));
    try {
      cpSync(join(ROOT, 'bin'), join(empty, 'bin'), { recursive: true });
      let stderr = '';
      try {
        execFileSync(process.execPath, [join(empty, 'bin/rampart.js')], { env: { ...process.env, NODE_ENV: 'production' }, stdio: 'pipe' });
        assert.fail('it started');
      } catch (err) {
        stderr = String((err as { stderr?: Buffer }).stderr);
        assert.equal((err as { status?: number }).status, 1);
      }
      assert.match(stderr, /NODE_ENV=production runs the compiled service, and dist\/ has none: run `npm run build` first/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
