import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createDatabase, type Database } from '../../../service/src/platform/db.js';
import { EMBEDDED_POSTGRES_SETTINGS } from '../../../service/src/platform/pglite.js';
import { migrateLatest } from '../../../service/src/platform/migrations.js';
import { createSessionsRepo } from '../../../service/src/components/auth/sessions-repo.js';

function embedded(dataDir?: string): Database {
  const quiet = { warn: () => undefined, error: () => undefined };
  return createDatabase({ dataDir, poolMax: 1, acquireTimeoutMs: 60_000, statementTimeoutMs: 30_000, log: quiet });
}

async function settings(db: Database): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of ['shared_buffers', 'maintenance_work_mem', 'temp_buffers']) {
    const r = await db.knex.raw(`show ${name}`);
    out[name] = (r.rows as Record<string, string>[])[0]?.[name] as string;
  }
  return out;
}

/** The tuned values, spelled out: a test against the constant alone would pass with the tuning removed. */
const TUNED = { shared_buffers: '16MB', maintenance_work_mem: '8MB', temp_buffers: '1MB' };

describe('embedded PGlite tuned for a small footprint (platform/pglite)', () => {
  it('the settings are those the database reports, not PostgreSQL’s defaults (shared_buffers 128MB…)', () => {
    assert.deepEqual({ ...EMBEDDED_POSTGRES_SETTINGS }, TUNED);
  });

  it('a new DATA_DIR is initialised (in a child process) and runs with them; so does a restart on it, with its data', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-pglite-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const first = embedded(dir);
    try {
      assert.deepEqual(await settings(first), TUNED);
      await first.knex.raw('create table kept (n int)');
      await first.knex.raw('insert into kept values (42)');
    } finally {
      await first.close();
    }
    assert.ok(existsSync(join(dir, 'PG_VERSION')));

    const again = embedded(dir);
    try {
      assert.deepEqual(await settings(again), TUNED);
      const r = await again.knex.raw('select n from kept');
      assert.deepEqual(r.rows, [{ n: 42 }]);
    } finally {
      await again.close();
    }
  });

  it('the in-memory database (no DATA_DIR) runs with them too', async () => {
    const db = embedded();
    try {
      assert.deepEqual(await settings(db), TUNED);
    } finally {
      await db.close();
    }
  });

  it('a first start interrupted before PG_VERSION was written starts over: the leftovers are replaced, other files kept', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-pglite-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // What a kill during initdb (its staging directory) or while moving its result in (a bare base/) leaves.
    mkdirSync(join(dir, '.pglite-initdb-AbC123', 'base'), { recursive: true });
    mkdirSync(join(dir, 'base', '1'), { recursive: true });
    writeFileSync(join(dir, 'base', '1', 'junk'), 'half a table');
    mkdirSync(join(dir, 'mail'));
    writeFileSync(join(dir, 'mail', 'kept.eml'), 'a development mail');
    const db = embedded(dir);
    try {
      assert.deepEqual(await settings(db), TUNED);
      await db.knex.raw('create table t (n int)');
    } finally {
      await db.close();
    }
    assert.deepEqual(
      readdirSync(dir).filter((e) => e.startsWith('.pglite-initdb-')),
      [],
    );
    assert.equal(existsSync(join(dir, 'base', '1', 'junk')), false);
    assert.equal(readFileSync(join(dir, 'mail', 'kept.eml'), 'utf8'), 'a development mail');
  });

  it('the migrations apply, and a password login’s write (a PL/pgSQL function) runs on it', async () => {
    const db = embedded();
    try {
      await migrateLatest(db);
      const { rows } = await db.knex.raw("insert into users (email, password_hash) values ('pglite@example.com', 'h') returning id");
      const userId = rows[0].id as string;
      const at = new Date();
      const write = (deviceHash: Buffer | null) =>
        createSessionsRepo(db.knex).openPasswordLogin({
          userId,
          passwordHash: 'h',
          ip: '127.0.0.1',
          userAgent: null,
          expiresAt: new Date(at.getTime() + 60_000),
          refreshHash: randomBytes(32),
          authTime: at,
          amr: ['pwd'],
          now: at,
          maxSessions: 1,
          deviceHash,
          maxDevices: 20,
        });
      const first = await write(randomBytes(32));
      assert.equal(first.outcome, 'opened');
      const second = await write(null);
      assert.ok(second.outcome === 'opened' && first.outcome === 'opened');
      assert.deepEqual(second.evicted, [first.sessionId]);
    } finally {
      await db.close();
    }
  });
});
