import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { keyringSource } from '../../../service/src/components/auth/keyring-source.js';
import { ConfigError, loadConfig } from '../../../service/src/config/load.js';
import { readJwtMaterial } from '../../../service/src/config/references.js';
import { envSchema, pickSource, readSettings, SETTINGS, settingsWithSource } from '../../../service/src/config/settings.js';
import { CONFIGURATION_DOC, renderConfigurationDoc } from '../../../scripts/config-docs.js';

const problemsOf = (env: Record<string, string>) => {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return [...err.problems];
  }
};

describe('the settings table (service/src/config/settings.ts) is the one declaration of every setting', () => {
  it('docs/configuration.md is generated from it and matches (run `npm run docs:config` after a change)', () => {
    assert.equal(readFileSync(CONFIGURATION_DOC, 'utf8'), renderConfigurationDoc());
  });

  it('documents every setting in one line, and the environment schema has exactly its names', () => {
    for (const [name, spec] of Object.entries(SETTINGS)) {
      assert.match(name, /^[A-Z][A-Z0-9_]*$/);
      assert.ok(spec.doc.length > 5 && !spec.doc.includes('\n'), `${name} has a one-line doc`);
    }
    assert.deepEqual(Object.keys(envSchema.shape).sort(), Object.keys(SETTINGS).sort());
  });

  it('derives the secret-store and file sources from the table', () => {
    assert.deepEqual(settingsWithSource('ref'), ['JWT_SECRET', 'JWT_KEYS', 'MAIL_URL', 'AUDIT_HASH_KEY', 'MFA_ENCRYPTION_KEY', 'DATABASE_URL', 'REDIS_URL', 'MODEL_API_KEY', 'MODEL_FALLBACK_API_KEY', 'PITR_REPO_CIPHER_PASS', 'BACKUP_SIGNING_KEY']);
    assert.deepEqual(settingsWithSource('file'), settingsWithSource('ref'));
  });

  it('one source per setting: NAME, NAME_FILE and NAME_REF exclude each other (empty counts as unset)', () => {
    assert.deepEqual(pickSource({}, 'DATABASE_URL'), { kind: 'none' });
    assert.deepEqual(pickSource({ DATABASE_URL: '', DATABASE_URL_FILE: '/f' }, 'DATABASE_URL'), { kind: 'file', path: '/f' });
    assert.deepEqual(pickSource({ DATABASE_URL_REF: 'env:X' }, 'DATABASE_URL'), { kind: 'ref', reference: 'env:X' });
    assert.deepEqual(pickSource({ DATABASE_URL: 'postgres://x', DATABASE_URL_FILE: '/f' }, 'DATABASE_URL'), {
      kind: 'conflict',
      problem: 'DATABASE_URL and DATABASE_URL_FILE are both set; set only one',
    });
    // A setting without sources in the table ignores look-alike variables.
    assert.deepEqual(pickSource({ PORT_FILE: '/f' }, 'PORT'), { kind: 'none' });
  });

  it('readSettings parses a few settings with the same parsers and defaults as start-up', () => {
    assert.deepEqual(readSettings({}, ['BACKUP_DIR', 'ACCESS_TOKEN_TTL_SECONDS']), {
      values: { BACKUP_DIR: './backups', ACCESS_TOKEN_TTL_SECONDS: 900 },
    });
    const bad = readSettings({ ACCESS_TOKEN_TTL_SECONDS: '5' }, ['ACCESS_TOKEN_TTL_SECONDS']);
    assert.ok('problems' in bad && bad.problems[0]?.startsWith('ACCESS_TOKEN_TTL_SECONDS: '));
  });

  it('a JWT_SECRET under 64 bytes is refused at start in development too, as the keyring reload refuses it', async () => {
    const short = Buffer.alloc(32, 1).toString('base64url');
    const problems = problemsOf({ NODE_ENV: 'development', JWT_SECRET: short });
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? '', /^JWT_SECRET is too short: 32 bytes decoded, at least 64 required/);
    const reload = keyringSource(() => readJwtMaterial({ JWT_SECRET: short }, { read: async () => ({ value: '' }) } as never));
    await assert.rejects(reload(), /JWT_SECRET is too short: 32 bytes/);
  });
});

describe('a setting read from NAME_FILE', () => {
  it('an empty file is refused at start and on the keyring reload alike, naming the file', async () => {
    const readFile = () => '\n';
    assert.throws(
      () => loadConfig({ NODE_ENV: 'development', JWT_SECRET_FILE: '/run/secrets/jwt' }, { readFile }),
      (err: unknown) => err instanceof ConfigError && err.problems.includes('JWT_SECRET_FILE: /run/secrets/jwt is empty'),
    );
    await assert.rejects(
      readJwtMaterial({ JWT_SECRET_FILE: '/run/secrets/jwt' }, { read: async () => ({ value: '' }) } as never, readFile),
      (err: unknown) => err instanceof ConfigError && err.problems.includes('JWT_SECRET_FILE: /run/secrets/jwt is empty'),
    );
  });
});
