import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { requireTool, runTool } from '../../cli/src/lib/backup/pg-tools.js';
import { finishedTableData, pgRestore, VERBOSE_LINE, withClient } from '../../cli/src/lib/backup/restore.js';
import type { Manifest } from '../../cli/src/lib/backup/manifest.js';
import { allTableStats, listTables, migrationHead, STABLE_TEXT_SETTINGS } from '../../cli/src/lib/backup/table-stats.js';
import { LoadedTables, verifyAgainstManifest } from '../../cli/src/lib/backup/verify.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { backupPrerequisites, seededDatabase, tempDir } from './backup-fixtures.js';

/**
 * pg_restore's progress as a drill uses it (cli/src/lib/backup/restore.ts `onTableLoaded`): a parallel
 * restore reports each public table the moment its data is committed — every row already readable from
 * another session — while it goes on; its progress lines never reach an error message.
 */

const skip = await backupPrerequisites();

describe("pg_restore's progress lines, as its processes write them into one stderr", () => {
  it('reads a finished item through interleaved prefixes, and keeps errors and their continuations out of progress', () => {
    // The leader's and a worker's messages interleave at their separate writes (prefix, space, text).
    for (const line of [
      'pg_restore: finished item 3561 TABLE DATA refresh_tokens',
      'pg_restore:pg_restore:  finished item 3561 TABLE DATA refresh_tokens',
      'pg_restore: pg_restore: finished item 3561 TABLE DATA refresh_tokens',
      'finished item 3561 TABLE DATA refresh_tokens',
      'pg_restore: finished item 3561 TABLE DATA refresh_tokenspg_restore: processing data for table "public.users"',
    ]) {
      assert.ok(VERBOSE_LINE.test(line), line);
      assert.equal(finishedTableData(line), '3561', line);
    }
    for (const line of ['pg_restore: processing data for table "public.users"', 'pg_restore: finished item 3359 CONSTRAINT messages messages_pkey']) {
      assert.ok(VERBOSE_LINE.test(line), line);
      assert.equal(finishedTableData(line), undefined, line);
    }
    for (const line of [
      'pg_restore: error: could not execute query: ERROR:  relation "users" already exists',
      'pg_restore:pg_restore: error: could not execute query',
      'pg_restore: pg_restore:  warning: errors ignored on restore: 1',
      'Command was: CREATE TABLE public.users (',
      'processing data for table "public.users"',
    ])
      assert.ok(!VERBOSE_LINE.test(line), line);
  });
});

describe('a parallel restore reports each table as its data is committed', { skip }, () => {
  let source: TestDatabase;
  let dumpDir: string;
  let root: string;
  const targets: TestDatabase[] = [];
  before(async () => {
    source = await seededDatabase(300);
    root = tempDir('restore-progress');
    dumpDir = join(root, 'dump');
    await runTool(requireTool('pg_dump', process.env), ['--format=directory', '--jobs=2', '--no-password', `--file=${dumpDir}`], {
      env: process.env,
      connection: source.url as string,
    });
  });
  after(async () => {
    for (const target of targets) await target.drop();
    await source?.drop();
    if (root) rmSync(root, { recursive: true, force: true });
  });
  const emptyTarget = async () => {
    const target = await createTestDatabase({ migrated: false });
    targets.push(target);
    return target.url as string;
  };
  const rowCounts = (url: string) =>
    withClient(url, async (client) => {
      const counts = new Map<string, number>();
      for (const table of await listTables(client)) {
        const { rows } = await client.query<{ n: string }>(`select count(*) as n from public."${table.name}"`);
        counts.set(table.name, Number(rows[0]?.n));
      }
      return counts;
    });

  it('with -j2: every public table, once, each with all its rows visible when reported, before the restore ends', async () => {
    const expected = await rowCounts(source.url as string);
    const url = await emptyTarget();
    const seen: string[] = [];
    const countedWhenReported = new Map<string, Promise<number>>();
    let restoreEnded = false;
    const reportedBeforeEnd: boolean[] = [];
    await pgRestore(dumpDir, {
      targetUrl: url,
      jobs: 2,
      noOwner: true,
      env: process.env,
      onTableLoaded: (table) => {
        seen.push(table);
        reportedBeforeEnd.push(!restoreEnded);
        countedWhenReported.set(
          table,
          withClient(url, async (client) =>
            Number((await client.query(`select count(*) as n from public."${table}"`)).rows[0].n),
          ),
        );
      },
    });
    restoreEnded = true;
    assert.deepEqual([...seen].sort(), [...expected.keys()].sort(), 'each public table reported');
    assert.equal(new Set(seen).size, seen.length, 'no table twice');
    assert.ok(reportedBeforeEnd.every(Boolean));
    for (const [table, counted] of countedWhenReported) assert.equal(await counted, expected.get(table), table);
    assert.ok((expected.get('messages') ?? 0) >= 900, 'the seeded data is there');
  });

  it('with -j1 nothing is reported (a serial restore prints no per-item end): the caller counts every table loaded at the end', async () => {
    const url = await emptyTarget();
    const seen: string[] = [];
    await pgRestore(dumpDir, { targetUrl: url, jobs: 1, noOwner: true, env: process.env, onTableLoaded: (t) => seen.push(t) });
    assert.deepEqual(seen, []);
    assert.deepEqual(await rowCounts(url), await rowCounts(source.url as string));
  });

  it('a failing restore names its error, without the progress lines it asked pg_restore for', async () => {
    const url = await emptyTarget();
    await pgRestore(dumpDir, { targetUrl: url, jobs: 2, noOwner: true, env: process.env });
    // Again into the same database: the first CREATE TABLE fails and --exit-on-error stops it.
    await assert.rejects(
      pgRestore(dumpDir, { targetUrl: url, jobs: 2, noOwner: true, env: process.env, onTableLoaded: () => undefined }),
      (err: Error) => {
        assert.match(err.message, /pg_restore exited with code 1/);
        assert.match(err.message, /error: .*already exists/);
        assert.doesNotMatch(err.message, /pg_restore: (launching|processing|finished|creating|connecting)/);
        return true;
      },
    );
  });
});

describe('verification while a restore runs (LoadedTables)', { skip }, () => {
  let db: TestDatabase;
  before(async () => {
    db = await seededDatabase(100);
  });
  after(async () => {
    await db?.drop();
  });

  it('measures a table only once it is reported loaded, and finishes only after the restore has ended', async () => {
    const url = db.url as string;
    const expected = await withClient(url, async (client) => {
      for (const sql of STABLE_TEXT_SETTINGS) await client.query(sql);
      return { tables: await allTableStats(client, await listTables(client), 'sha256'), head: await migrationHead(client) };
    });
    const manifest = {
      tables: expected.tables,
      checksumAlgorithm: 'sha256',
      migrationHead: expected.head,
    } as unknown as Manifest;
    // The messages are taken out, as if their data were still being restored.
    await db.db.knex.raw('create table held_messages as select * from messages');
    await db.db.knex.raw('delete from messages');
    const loaded = new LoadedTables();
    let settled = false;
    const verifying = verifyAgainstManifest(url, manifest, { jobs: 2, exact: false, loaded }).finally(() => {
      settled = true;
    });
    for (const table of expected.tables) if (table.name !== 'messages') loaded.loaded(table.name);
    await db.db.knex.raw('select 1'); // a round trip: the workers have had their turn
    assert.equal(settled, false, 'verification ended before messages was loaded');
    await db.db.knex.raw('insert into messages select * from held_messages');
    await db.db.knex.raw('drop table held_messages');
    loaded.loaded('messages');
    loaded.end();
    const verification = await verifying;
    assert.deepEqual(verification.failures, []);
    assert.equal(
      verification.tables.find((t) => t.name === 'messages')?.rows,
      expected.tables.find((t) => t.name === 'messages')?.rows,
    );
  });

  it('abort(): verification takes no more tables and settles', async () => {
    const url = db.url as string;
    const manifest = {
      tables: [{ name: 'messages', rows: 1, checksum: 'x', orderBy: ['id'], bytes: 1 }],
      checksumAlgorithm: 'sha256',
      migrationHead: null,
    } as unknown as Manifest;
    const loaded = new LoadedTables();
    const verifying = verifyAgainstManifest(url, manifest, { jobs: 2, exact: false, loaded });
    loaded.abort();
    const verification = await verifying;
    assert.equal(verification.tables[0]?.rows, null, 'messages was not measured');
  });
});
