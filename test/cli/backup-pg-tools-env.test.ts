/**
 * pg_dump / pg_restore / pg_amcheck run as children of secops (cli/src/lib/backup/pg-tools.ts). They
 * get PATH and the libpq variables of the one connection they are given, and nothing else from the
 * parent's environment: no key files, secret-manager references, cloud or Vault credentials, nor
 * another database URL (issue 26). A fake `pg_dump` on PATH writes the environment it was given.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { libpqEnv, requireTool, runTool } from '../../cli/src/lib/backup/pg-tools.js';

const dir = mkdtempSync(join(tmpdir(), 'rampart-pgtools-env-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const out = join(dir, 'env.json');
const fake = join(dir, 'pg_dump');
writeFileSync(
  fake,
  `#!${process.execPath}\nrequire('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.env));\n`,
);
chmodSync(fake, 0o755);

/** What a secops process may hold: settings, secrets (as *_FILE / *_REF or plain), cloud and Vault credentials. */
const PARENT: Record<string, string> = {
  PATH: `${dir}:/usr/bin:/bin`,
  HOME: '/tmp',
  NODE_ENV: 'production',
  DATABASE_URL: 'postgres://owner:owner-secret@db.internal:5432/rampart',
  DATABASE_URL_FILE: '/var/run/secrets/rampart/database-url',
  MIGRATE_DATABASE_URL: 'postgres://migrator:m-secret@db.internal/rampart',
  BACKUP_ENCRYPT_KEY: 'c2VjcmV0LWVuY3J5cHQta2V5',
  BACKUP_ENCRYPT_KEY_FILE: '/var/run/secrets/rampart/backup-encrypt-key',
  BACKUP_SIGNING_KEY_FILE: '/var/run/secrets/rampart/backup-signing-key',
  RETENTION_ENCRYPT_KEY_FILE: '/var/run/secrets/rampart/retention-encrypt-key',
  AUDIT_HASH_KEY: 'audit-hash',
  JWT_SECRET: 'jwt-secret',
  JWT_KEYS_REF: 'vault:rampart/jwt-keys',
  PITR_REPO_CIPHER_PASS: 'cipher',
  MODEL_API_KEY: 'sk-model',
  CLIENT_SECRET: 'oauth-client-secret',
  AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'aws-secret',
  AWS_SESSION_TOKEN: 'aws-session',
  VAULT_TOKEN: 'hvs.vault-token',
  VAULT_ADDR: 'https://vault.internal:8200',
  NODE_OPTIONS: '--max-old-space-size=96', // harmless here; a --require would run code in the child
  // libpq variables of the parent would redirect the child to another server or user.
  PGHOST: 'other.internal',
  PGUSER: 'postgres',
  PGPASSWORD: 'superuser-secret',
  PGSERVICE: 'admin',
};

async function childEnv(connection?: string): Promise<Record<string, string>> {
  rmSync(out, { force: true });
  const tool = requireTool('pg_dump', PARENT);
  assert.equal(tool, fake, 'the fake pg_dump is found first on PATH');
  await runTool(tool, ['--version'], { env: PARENT, connection });
  return JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>;
}

describe('pg-tools: the environment of pg_dump / pg_restore / pg_amcheck', () => {
  it('the child gets PATH and its connection as libpq variables, nothing else from the parent', async () => {
    const env = await childEnv(
      'postgres://rampart_backup:b%40ck-up@db.internal:6432/rampart?sslmode=verify-full&sslrootcert=/etc/ssl/rds.pem',
    );
    // Node itself may add nothing but what it is given; a shell-less spawn passes the object as is.
    delete env.__CF_USER_TEXT_ENCODING; // macOS adds it to every process
    assert.deepEqual(env, {
      PATH: PARENT.PATH,
      PGHOST: 'db.internal',
      PGPORT: '6432',
      PGUSER: 'rampart_backup',
      PGPASSWORD: 'b@ck-up',
      PGDATABASE: 'rampart',
      PGSSLMODE: 'verify-full',
      PGSSLROOTCERT: '/etc/ssl/rds.pem',
    });
  });

  it('no secret, key file, secret reference, cloud or Vault variable reaches the child', async () => {
    const env = await childEnv('postgres://rampart_backup:pw@db.internal/rampart');
    const leaked = Object.keys(env).filter((k) =>
      /(_KEY|_SECRET|_FILE|_REF|_TOKEN|_PASS)$|^DATABASE_URL|_DATABASE_URL$|^AWS_|^VAULT_|^NODE_OPTIONS$|^JWT_|^PGSERVICE$/.test(
        k,
      ),
    );
    assert.deepEqual(leaked, []);
    for (const value of Object.values(env))
      for (const secret of [
        'owner-secret',
        'm-secret',
        'aws-secret',
        'hvs.vault-token',
        'superuser-secret',
        'sk-model',
        'jwt-secret',
      ])
        assert.ok(!value.includes(secret), `a child variable carries ${secret}`);
  });

  it('without a connection (pg_dump --version) the child gets PATH only', async () => {
    const env = await childEnv();
    delete env.__CF_USER_TEXT_ENCODING;
    assert.deepEqual(env, { PATH: PARENT.PATH });
  });
});

describe('libpqEnv: one server per tool', () => {
  it('refuses a URL naming several servers, saying to name one; one server gives its libpq variables', () => {
    assert.throws(
      () => libpqEnv('postgres://app:pw@db-a:5432,db-b:5432/rampart?target_session_attrs=read-write'),
      /the database URL names several hosts: name the one server to use/,
    );
    assert.deepEqual(libpqEnv('postgres://app@db-a:5433/rampart'), {
      PGHOST: 'db-a',
      PGPORT: '5433',
      PGUSER: 'app',
      PGDATABASE: 'rampart',
    });
  });
});
