import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Manifest } from '../../cli/src/lib/backup/manifest.js';
import { withClient } from '../../cli/src/lib/backup/restore.js';
import {
  CHECKSUM_ALGORITHMS,
  listTables,
  PARALLEL_SETTINGS,
  STABLE_TEXT_SETTINGS,
  tableStats,
  tableStatsQuery,
} from '../../cli/src/lib/backup/table-stats.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { backupPrerequisites, rehashFiles, secops, seededDatabase, tamperTableData, tempDir } from './backup-fixtures.js';

const skip = await backupPrerequisites();

describe("row checksums (SHA-256 of each table's binary COPY stream by default; sha256-binary, sha256, sum64 and ordered still verify)", { skip }, () => {
  let source: TestDatabase;
  let url: string;
  let root: string;
  before(async () => {
    source = await seededDatabase(200);
    url = source.url as string;
    root = tempDir('checksums');
  });
  after(async () => {
    await source?.drop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const checksums = (table: string) =>
    withClient(url, async (client) => {
      for (const sql of STABLE_TEXT_SETTINGS) await client.query(sql);
      const info = (await listTables(client)).find((t) => t.name === table);
      assert.ok(info, table);
      const result: Record<string, string> = {};
      for (const algorithm of CHECKSUM_ALGORITHMS) result[algorithm] = (await tableStats(client, info, algorithm)).checksum;
      return result;
    });

  it('one changed value changes the sha256 checksum, as it changes the sum64 and ordered ones', async () => {
    const before = await checksums('messages');
    assert.match(before.sha256 as string, /^[0-9a-f]{64}$/);
    await source.db.knex.raw(
      "update messages set content = content || '.' where id = (select min(id::text)::uuid from messages)",
    );
    const after = await checksums('messages');
    for (const algorithm of CHECKSUM_ALGORITHMS) assert.notEqual(after[algorithm], before[algorithm], algorithm);
  });

  it("a drill's parallel form of every checksum equals the backup's, with the rows hashed by parallel workers", async () => {
    await withClient(url, async (client) => {
      // The seeded tables are far below min_parallel_table_scan_size: lowered so the workers run here.
      for (const sql of [...STABLE_TEXT_SETTINGS, 'set min_parallel_table_scan_size = 0']) await client.query(sql);
      const tables = await listTables(client);
      const serial: Record<string, string> = {};
      for (const table of tables)
        for (const algorithm of CHECKSUM_ALGORITHMS)
          serial[`${table.name} ${algorithm}`] = (await tableStats(client, table, algorithm)).checksum;
      for (const sql of PARALLEL_SETTINGS) await client.query(sql);
      const messages = tables.find((t) => t.name === 'messages');
      assert.ok(messages);
      const plan = (await client.query(`explain ${tableStatsQuery(messages, 'sha256', { parallel: true })}`)).rows
        .map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN'])
        .join('\n');
      assert.match(plan, /Gather Merge[\s\S]*Parallel Seq Scan on messages/, plan);
      for (const table of tables)
        for (const algorithm of CHECKSUM_ALGORITHMS)
          assert.equal(
            (await tableStats(client, table, algorithm, { parallel: true })).checksum,
            serial[`${table.name} ${algorithm}`],
            `${table.name} ${algorithm}`,
          );
    });
  });

  it('the sha256 checksums (text and binary) do not depend on the order rows are stored or read in', async () => {
    const before = await checksums('conversations');
    // Rewrites the table in primary-key order (the rows were inserted in user order): same rows, new order.
    await source.db.knex.raw('cluster conversations using conversations_pkey');
    const after = await checksums('conversations');
    assert.equal(after.sha256, before.sha256);
    assert.equal(after['sha256-binary'], before['sha256-binary']);
  });

  it('sha256-copy hashes the rows in their stored order: the same rows stored in another order are a difference', async () => {
    // The order a dump writes and its restore keeps; a copy that holds the rows in any other order is
    // not the dump's restore, and is reported rather than hidden.
    const before = await checksums('users');
    await source.db.knex.raw('cluster users using users_pkey');
    const after = await checksums('users');
    assert.notEqual(after['sha256-copy'], before['sha256-copy']);
    assert.equal(after['sha256-binary'], before['sha256-binary']);
  });

  it('sha256-copy counts the rows COPY sent and hashes an empty table too', async () => {
    await withClient(url, async (client) => {
      for (const sql of STABLE_TEXT_SETTINGS) await client.query(sql);
      await client.query('create table empty_copy (id int primary key)');
      try {
        const empty = await tableStats(client, { name: 'empty_copy', key: ['id'] }, 'sha256-copy');
        assert.equal(empty.rows, 0);
        assert.match(empty.checksum, /^[0-9a-f]{64}$/);
        const messages = (await listTables(client)).find((t) => t.name === 'messages');
        assert.ok(messages);
        const { rows } = await client.query<{ n: string }>('select count(*) as n from messages');
        assert.equal((await tableStats(client, messages, 'sha256-copy')).rows, Number(rows[0]?.n));
      } finally {
        await client.query('drop table empty_copy');
      }
    });
  });

  /** `secops backup create --dir <parent> …` on `dbUrl` (default: the seeded database): the backup's directory and manifest. */
  async function createBackup(parent: string, args: string[], dbUrl: string = url): Promise<{ dir: string; manifest: Manifest }> {
    const run = await secops(['--json', 'backup', 'create', '--dir', parent, ...args], dbUrl);
    assert.equal(run.code, 0, run.stderr);
    const { dir } = JSON.parse(run.stdout) as { dir: string };
    return { dir, manifest: JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest };
  }

  /** `secops backup drill --from <dir>` on `dbUrl` (default: the seeded database) passes (exit 0). */
  async function assertDrillPasses(dir: string, dbUrl: string = url): Promise<void> {
    const drill = await secops(['backup', 'drill', '--from', dir], dbUrl);
    assert.equal(drill.code, 0, drill.stderr);
  }

  /** One value changed in the dump: the signed file hashes refuse it first (exit 65); re-recorded and re-signed, the row checksums must catch it. */
  async function assertDrillCatchesAlteredRow(dir: string) {
    await tamperTableData(join(dir, 'dump'), 'conversations', 'chat of user1', 'chat of usEr1');
    assert.equal((await secops(['backup', 'drill', '--from', dir], url)).code, 65);
    await rehashFiles(dir);
    const tampered = await secops(['backup', 'drill', '--from', dir], url);
    assert.equal(tampered.code, 1);
    assert.match(tampered.stderr, /table conversations: checksum differs/);
  }

  it('a new backup records sha256-copy; a drill proves it and fails on an altered row', async () => {
    const { dir, manifest } = await createBackup(join(root, 'sha256-copy'), []);
    assert.equal(manifest.checksumAlgorithm, 'sha256-copy');
    await assertDrillPasses(dir);
    await assertDrillCatchesAlteredRow(dir);
  });

  it('a sha256-copy backup taken while rows are updated, inserted and deleted describes its snapshot: its drill passes', async (t) => {
    // Updates move row versions around the heap while pg_dump and the checksums read it: both read
    // the dump's snapshot in the same physical order, so the restored copy must hash the same.
    const busy = await seededDatabase(300);
    t.after(() => busy.drop());
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      const knex = busy.db.knex;
      while (writing) {
        await knex.raw("update messages set content = content || '+' where id = (select id from messages order by random() limit 1)");
        await knex.raw(
          "insert into messages (conversation_id, role, content) select id, 'user', 'written during the backup' from conversations order by random() limit 1",
        );
        await knex.raw('delete from messages where id = (select id from messages order by random() limit 1)');
        writes += 3;
      }
    })();
    let backup: { dir: string; manifest: Manifest };
    try {
      backup = await createBackup(join(root, 'busy'), [], busy.url as string);
    } finally {
      writing = false;
      await writer;
    }
    assert.equal(backup.manifest.checksumAlgorithm, 'sha256-copy');
    assert.ok(writes > 0, 'rows were written while the backup ran');
    await assertDrillPasses(backup.dir, busy.url as string);
  });

  it('a backup taken with sha256-binary (the earlier default) still verifies and catches an altered row', async () => {
    const { dir, manifest } = await createBackup(join(root, 'sha256-binary'), ['--checksum', 'sha256-binary']);
    assert.equal(manifest.checksumAlgorithm, 'sha256-binary');
    await assertDrillPasses(dir);
    await assertDrillCatchesAlteredRow(dir);
  });

  it('a database with a partitioned table gets sha256-binary (COPY has no stored order for it), and its drill passes', async (t) => {
    const parted = await seededDatabase(20);
    t.after(() => parted.drop());
    await parted.db.knex.raw('create table readings (id int not null, at date not null, primary key (id, at)) partition by range (at)');
    await parted.db.knex.raw("create table readings_2025 partition of readings for values from ('2025-01-01') to ('2026-01-01')");
    await parted.db.knex.raw("create table readings_2026 partition of readings for values from ('2026-01-01') to ('2027-01-01')");
    await parted.db.knex.raw("insert into readings select g, date '2025-06-01' + g * 7 from generate_series(1, 60) g");
    const { dir, manifest } = await createBackup(join(root, 'partitioned'), [], parted.url as string);
    assert.equal(manifest.checksumAlgorithm, 'sha256-binary');
    assert.equal(manifest.tables.find((x) => x.name === 'readings')?.rows, 60);
    await assertDrillPasses(dir, parted.url as string);
  });

  it("a backup taken with sha256 over the rows' text (the earlier default) still verifies and catches an altered row", async () => {
    const { dir, manifest } = await createBackup(join(root, 'sha256'), ['--checksum', 'sha256']);
    assert.equal(manifest.checksumAlgorithm, 'sha256');
    await assertDrillPasses(dir);
    await assertDrillCatchesAlteredRow(dir);
  });

  it('a table with a column of a user-defined type (its OID changes in a restored copy) gets sha256, and its drill passes', async (t) => {
    const typed = await seededDatabase(20);
    t.after(() => typed.drop());
    await typed.db.knex.raw("create type mood as enum ('calm', 'busy')");
    await typed.db.knex.raw("create table moods (id int primary key, mood mood not null, history mood[] not null default '{}')");
    await typed.db.knex.raw("insert into moods select g, 'calm', '{busy}' from generate_series(1, 5) g");
    const dirOf = join(root, 'typed');
    const { dir, manifest } = await createBackup(dirOf, [], typed.url as string);
    assert.equal(manifest.checksumAlgorithm, 'sha256');
    await assertDrillPasses(dir, typed.url as string);

    // Why: the same type, table and rows made in another database (as a restore makes them) get
    // another OID, which the binary form carries; the text form is the same.
    const other = await createTestDatabase({ migrated: false });
    t.after(() => other.drop());
    await other.db.knex.raw('create table filler (id int)'); // the OIDs there move on
    await other.db.knex.raw("create type mood as enum ('calm', 'busy')");
    await other.db.knex.raw("create table moods (id int primary key, mood mood not null, history mood[] not null default '{}')");
    await other.db.knex.raw("insert into moods select g, 'calm', '{busy}' from generate_series(1, 5) g");
    const moods = async (dbUrl: string, algorithm: 'sha256' | 'sha256-binary') =>
      withClient(dbUrl, async (client) => {
        for (const sql of STABLE_TEXT_SETTINGS) await client.query(sql);
        return (await tableStats(client, { name: 'moods', key: ['id'] }, algorithm)).checksum;
      });
    assert.equal(await moods(other.url as string, 'sha256'), await moods(typed.url as string, 'sha256'));
    assert.notEqual(await moods(other.url as string, 'sha256-binary'), await moods(typed.url as string, 'sha256-binary'));
  });

  it('a backup taken with the old sum64 algorithm still verifies, and still catches an altered row', async () => {
    const { dir, manifest } = await createBackup(join(root, 'sum64'), ['--checksum', 'sum64']);
    assert.equal(manifest.checksumAlgorithm, 'sum64');
    assert.ok(manifest.tables.every((t) => /^-?\d+$|^empty$/.test(t.checksum)));
    await assertDrillPasses(dir);
    await assertDrillCatchesAlteredRow(dir);
  });
});
