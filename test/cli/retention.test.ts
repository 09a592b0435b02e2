import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type RetentionOptions, run } from '../../cli/src/commands/retention.js';
import { retentionOptions } from '../../cli/src/commands/retention.command.js';
import type { PartArchived } from '../../cli/src/lib/retention/journal.js';
import { checksumOf, readPart } from '../../cli/src/lib/retention/parts.js';
import { main } from '../../cli/src/main.js';
import type { Knex } from '../../service/src/platform/db.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { realPostgresAvailable } from '../helpers/services.js';
import { captureIo, contextOver } from './capture.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NOW = new Date('2027-06-01T12:00:00Z');
const DAY = 86_400_000;
const daysAgo = (n: number) => new Date(NOW.getTime() - n * DAY);
const TABLES = ['messages', 'conversations', 'audit_events'] as const;
type Table = (typeof TABLES)[number];
type Snapshot = Record<Table, Map<string, unknown>>;

/**
 * Per conversation kind, what retention with a 90-day window must do:
 *   ancient  — every message and updated_at older: messages and conversation archived
 *   mixed    — old and new messages: old messages archived, conversation kept
 *   renamed  — only old messages but updated recently: messages archived, conversation kept (empty)
 *   fresh    — only new messages: nothing archived
 *   idle     — an old conversation that never had messages: not emptied by retention, kept
 */
async function seed(k: Knex, scale: number): Promise<void> {
  const [user] = await k('users').insert({ email: `retention-${scale}@example.com`, password_hash: 'x' }).returning('id');
  const conversation = async (title: string, updatedDaysAgo: number, messageAges: number[]) => {
    const [c] = await k('conversations')
      .insert({ user_id: user.id, title, created_at: daysAgo(400), updated_at: daysAgo(updatedDaysAgo) })
      .returning('id');
    if (messageAges.length === 0) return;
    await k('messages').insert(
      messageAges.map((age, i) => ({
        conversation_id: c.id,
        role: i % 2 === 0 ? 'user' : 'assistant',
        content: `${title} #${i} — ünïcödé ${'x'.repeat(i % 7)}`,
        status: i % 5 === 4 ? 'partial' : 'complete',
        // Sub-millisecond precision must survive the archive.
        created_at: k.raw(`timestamptz '${daysAgo(age).toISOString()}' + interval '${i} microseconds'`),
      })),
    );
  };
  for (let i = 0; i < scale; i++) {
    await conversation(`ancient ${i}`, 120 + i, [200 + i, 150, 130, 121 + (i % 9)]);
    await conversation(`mixed ${i}`, 3, [300, 100, 91, 89, 10, 1]);
    await conversation(`renamed ${i}`, 2, [95, 93 + (i % 3)]);
    await conversation(`fresh ${i}`, 1, [80, 5]);
  }
  await conversation('idle', 365, []);
  await k('audit_events').insert([
    ...Array.from({ length: 3 * scale }, (_, i) => ({ type: 'login_succeeded', occurred_at: daysAgo(401 + i), details: { n: i } })),
    ...Array.from({ length: scale }, (_, i) => ({ type: 'login_failed', occurred_at: daysAgo(30 + i), details: { n: i } })),
  ]);
}

async function snapshot(k: Knex): Promise<Snapshot> {
  const result = {} as Snapshot;
  for (const table of TABLES) {
    const r = await k.raw(`select id::text as id, row_to_json(t)::text as doc from ${table} t`);
    result[table] = new Map((r.rows as { id: string; doc: string }[]).map((row) => [row.id, JSON.parse(row.doc)]));
  }
  return result;
}

interface Archive {
  rows: Record<Table, Map<string, unknown>>;
  duplicates: string[];
  manifests: { tables: Record<Table, { rows: number }>; parts: { file: string; sha256: string; count: number }[]; retained: { conversations: string[] } }[];
  runDirs: string[];
}

/** Every row in every part of every run, with any id archived twice. */
async function readArchive(archiveDir: string): Promise<Archive> {
  const archive: Archive = { rows: { messages: new Map(), conversations: new Map(), audit_events: new Map() }, duplicates: [], manifests: [], runDirs: [] };
  if (!existsSync(archiveDir)) return archive;
  for (const run of readdirSync(archiveDir).sort()) {
    const dir = join(archiveDir, run);
    archive.runDirs.push(dir);
    if (existsSync(join(dir, 'manifest.json'))) archive.manifests.push(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.jsonl.gz')).sort()) {
      const table = file.replace(/-\d+\.jsonl\.gz$/, '') as Table;
      for (const row of await readPart(dir, file)) {
        const id = String(row.id);
        if (archive.rows[table].has(id)) archive.duplicates.push(`${table}:${id}`);
        archive.rows[table].set(id, row);
      }
    }
  }
  return archive;
}

/** archive ∪ remaining = original, disjoint, contents identical; the archived ids are exactly `expected`. */
async function assertNothingLostOrDuplicated(k: Knex, original: Snapshot, archiveDir: string, expected: Record<Table, Set<string>>) {
  const archive = await readArchive(archiveDir);
  const remaining = await snapshot(k);
  assert.deepEqual(archive.duplicates, [], 'no row is archived twice');
  for (const table of TABLES) {
    const archived = archive.rows[table];
    assert.deepEqual([...archived.keys()].sort(), [...expected[table]].sort(), `${table}: exactly the old rows were archived`);
    for (const [id, row] of archived) {
      assert.ok(!remaining[table].has(id), `${table}:${id} archived and deleted`);
      assert.deepEqual(row, original[table].get(id), `${table}:${id} archived with its exact contents`);
    }
    for (const [id, row] of remaining[table]) assert.deepEqual(row, original[table].get(id), `${table}:${id} unchanged`);
    assert.equal(archived.size + remaining[table].size, original[table].size, `${table}: archive + remaining = original`);
  }
  return archive;
}

function expectedArchive(original: Snapshot, options: { audit: boolean }): Record<Table, Set<string>> {
  const cutoff = daysAgo(90).getTime();
  const old = (iso: unknown) => Date.parse(String(iso)) < cutoff;
  const messages = [...original.messages].filter(([, m]) => old((m as { created_at: string }).created_at));
  const touched = new Set(messages.map(([, m]) => (m as { conversation_id: string }).conversation_id));
  const keptMessageIn = new Set(
    [...original.messages.values()].filter((m) => !old((m as { created_at: string }).created_at)).map((m) => (m as { conversation_id: string }).conversation_id),
  );
  return {
    messages: new Set(messages.map(([id]) => id)),
    conversations: new Set(
      [...original.conversations]
        .filter(([id, c]) => touched.has(id) && !keptMessageIn.has(id) && old((c as { updated_at: string }).updated_at))
        .map(([id]) => id),
    ),
    audit_events: new Set(
      options.audit ? [...original.audit_events].filter(([, a]) => Date.parse(String((a as { occurred_at: string }).occurred_at)) < daysAgo(400).getTime()).map(([id]) => id) : [],
    ),
  };
}

function options(archiveDir: string, extra: Partial<RetentionOptions> = {}): RetentionOptions {
  return { olderThanMs: 90 * DAY, archiveDir, batchSize: 7, dryRun: false, now: NOW, ...extra };
}

class SimulatedCrash extends Error {}

describe('secops retention run', () => {
  let t: TestDatabase;
  let archiveDir: string;
  let original: Snapshot;
  beforeEach(async () => {
    t = await createTestDatabase({ migrated: true });
    archiveDir = mkdtempSync(join(tmpdir(), 'rampart-retention-'));
    rmSync(archiveDir, { recursive: true }); // the run must create it
    await seed(t.db.knex, 6);
    original = await snapshot(t.db.knex);
  });
  afterEach(async () => {
    await t?.drop();
    rmSync(archiveDir, { recursive: true, force: true });
  });

  it('archives exactly the old rows (and the conversations they leave empty), then deletes them', async () => {
    const { ctx, stdout } = contextOver(t.db, { json: true });
    await run(options(archiveDir, { auditOlderThanMs: 400 * DAY }), ctx);
    const expected = expectedArchive(original, { audit: true });
    assert.equal(expected.conversations.size, 6, 'the ancient conversations, not the renamed or idle ones');
    const archive = await assertNothingLostOrDuplicated(t.db.knex, original, archiveDir, expected);

    const doc = JSON.parse(stdout()) as { archived: Record<Table, number>; runs: unknown[] };
    assert.deepEqual(doc.archived, { messages: expected.messages.size, conversations: 6, audit_events: 18 });
    assert.equal(doc.runs.length, 1);
    const [manifest] = archive.manifests;
    assert.ok(manifest);
    assert.equal(manifest.tables.messages.rows, expected.messages.size);
    assert.ok(manifest.parts.length >= Math.ceil(expected.messages.size / 7), 'batches of at most 7 rows');
    const runDir = archive.runDirs[0] as string;
    for (const part of manifest.parts) {
      assert.ok(part.count <= 7);
      assert.equal((await checksumOf(runDir, part.file)).sha256, part.sha256, `${part.file} matches its manifest checksum`);
    }
  });

  it('keeps audit events unless --audit-older-than is given', async () => {
    await run(options(archiveDir), contextOver(t.db).ctx);
    await assertNothingLostOrDuplicated(t.db.knex, original, archiveDir, expectedArchive(original, { audit: false }));
  });

  it('--dry-run reports the counts and changes nothing', async () => {
    const { ctx, stdout } = contextOver(t.db, { json: true });
    await run(options(archiveDir, { dryRun: true, auditOlderThanMs: 400 * DAY }), ctx);
    const expected = expectedArchive(original, { audit: true });
    const doc = JSON.parse(stdout()) as { wouldArchive: Record<Table, number> };
    assert.deepEqual(doc.wouldArchive, { messages: expected.messages.size, conversations: 6, audit_events: 18 });
    assert.deepEqual(await snapshot(t.db.knex), original);
    assert.equal(existsSync(archiveDir), false, 'not even the archive directory was created');
  });

  for (const [crash, at] of [
    ['after a part is durable but before its rows are deleted', 'afterArchive'],
    ['after a batch was deleted but before the journal recorded it', 'afterDelete'],
  ] as const) {
    for (const table of ['messages', 'conversations', 'audit_events'] as const) {
      it(`a run that dies ${crash} (${table}) is resumed by the next run: nothing lost, nothing archived twice`, async () => {
        let seen = 0;
        const hooks = {
          [at]: (part: PartArchived) => {
            if (part.table === table && ++seen === 2) throw new SimulatedCrash(`crash at ${part.file}`);
          },
        };
        await assert.rejects(run(options(archiveDir, { auditOlderThanMs: 400 * DAY, hooks }), contextOver(t.db).ctx), SimulatedCrash);
        if (at === 'afterArchive') {
          const remaining = await snapshot(t.db.knex);
          const archived = await readArchive(archiveDir);
          const both = [...archived.rows[table].keys()].filter((id) => remaining[table].has(id));
          assert.ok(both.length > 0, 'the crash left rows that are archived but not deleted');
        }
        const { ctx, stdout } = contextOver(t.db, { json: true });
        await run(options(archiveDir, { auditOlderThanMs: 400 * DAY, now: new Date(NOW.getTime() + 60_000) }), ctx);
        const doc = JSON.parse(stdout()) as { runs: { resumed: boolean; deletedOnResume: number }[] };
        assert.equal(doc.runs[0]?.resumed, true);
        if (at === 'afterArchive') assert.ok((doc.runs[0]?.deletedOnResume ?? 0) > 0);
        await assertNothingLostOrDuplicated(t.db.knex, original, archiveDir, expectedArchive(original, { audit: true }));
      });
    }
  }

  it('a torn journal line and a half-written part file left by a crash are handled on resume', async () => {
    await assert.rejects(
      run(
        options(archiveDir, {
          hooks: {
            afterArchive: (part) => {
              if (part.file === 'messages-000003.jsonl.gz') throw new SimulatedCrash('crash');
            },
          },
        }),
        contextOver(t.db).ctx,
      ),
      SimulatedCrash,
    );
    const [runDir] = readdirSync(archiveDir);
    const dir = join(archiveDir, runDir as string);
    writeFileSync(join(dir, 'messages-000004.jsonl.gz.tmp'), 'half a gzip');
    appendFileSync(join(dir, 'journal.jsonl'), '{"type":"del');
    await run(options(archiveDir), contextOver(t.db).ctx);
    assert.equal(existsSync(join(dir, 'messages-000004.jsonl.gz.tmp')), false);
    await assertNothingLostOrDuplicated(t.db.knex, original, archiveDir, expectedArchive(original, { audit: false }));
  });

  it('a part file made durable just before the crash, but never journalled, is recovered on resume', async () => {
    await assert.rejects(
      run(
        options(archiveDir, {
          hooks: {
            afterArchive: (part) => {
              if (part.file === 'messages-000002.jsonl.gz') throw new SimulatedCrash('crash');
            },
          },
        }),
        contextOver(t.db).ctx,
      ),
      SimulatedCrash,
    );
    const dir = join(archiveDir, readdirSync(archiveDir)[0] as string);
    // The crash fell between the rename of the part and its journal line: drop that line.
    const lines = readFileSync(join(dir, 'journal.jsonl'), 'utf8').trimEnd().split('\n');
    assert.match(lines.at(-1) as string, /"file":"messages-000002\.jsonl\.gz"/);
    writeFileSync(join(dir, 'journal.jsonl'), `${lines.slice(0, -1).join('\n')}\n`);

    await run(options(archiveDir), contextOver(t.db).ctx);
    await assertNothingLostOrDuplicated(t.db.knex, original, archiveDir, expectedArchive(original, { audit: false }));
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { parts: { file: string; recovered?: boolean }[] };
    assert.equal(manifest.parts.find((p) => p.file === 'messages-000002.jsonl.gz')?.recovered, true);
  });

  it('refuses a window under a day and a run without --archive-dir (exit 2)', async () => {
    assert.throws(() => retentionOptions({ olderThan: '90s', archiveDir: 'x', batchSize: '500' }), /at least 1d/);
    const { io, stderr } = captureIo();
    assert.equal(await main(['retention', 'run', '--older-than', '90d'], io), 2);
    assert.match(stderr(), /--archive-dir is required/);
    const bad = captureIo();
    assert.equal(await main(['retention', 'run', '--older-than', '90d', '--archive-dir', 'x', '--batch-size', '0'], bad.io), 2);
  });
});

describe('secops retention run, killed with SIGKILL mid-run', {
  skip: !(await realPostgresAvailable()) && 'needs TEST_DATABASE_URL (a real PostgreSQL shared with a child process)',
}, () => {
  let t: TestDatabase;
  let archiveDir: string;
  before(async () => {
    t = await createTestDatabase({ migrated: true });
    archiveDir = mkdtempSync(join(tmpdir(), 'rampart-retention-kill-'));
  });
  after(async () => {
    await t?.drop();
    rmSync(archiveDir, { recursive: true, force: true });
  });

  const secops = (args: string[]): ChildProcess =>
    spawn(process.execPath, ['bin/secops.js', 'retention', 'run', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, DATABASE_URL: t.url, NODE_ENV: 'development' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  const exit = (child: ChildProcess) =>
    new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));

  it('the re-run finishes the job and the archive + remaining rows equal the original set', async () => {
    // Relative to the real clock: the child cannot share the test's frozen one.
    const now = Date.now();
    const k = t.db.knex;
    const [user] = await k('users').insert({ email: 'kill@example.com', password_hash: 'x' }).returning('id');
    const conversations = await k('conversations')
      .insert(Array.from({ length: 40 }, (_, i) => ({ user_id: user.id, title: `c${i}`, updated_at: new Date(now - (100 + i) * DAY) })))
      .returning('id');
    for (const [i, c] of conversations.entries()) {
      await k('messages').insert(
        Array.from({ length: 60 }, (_, j) => ({
          conversation_id: c.id,
          role: 'user',
          content: `m${i}.${j}`,
          created_at: new Date(now - (j % 10 === 0 ? 5 : 95 + j) * DAY),
        })),
      );
    }
    const original = await snapshot(k);
    const args = ['--older-than', '90d', '--archive-dir', archiveDir, '--batch-size', '5'];

    const partFiles = () =>
      (existsSync(archiveDir) ? readdirSync(archiveDir) : []).flatMap((r) =>
        readdirSync(join(archiveDir, r)).filter((f) => f.endsWith('.jsonl.gz')),
      );
    /** Starts a run and SIGKILLs it as soon as `parts` part files exist in the archive. */
    const killWhen = async (parts: number) => {
      const child = secops(args);
      let stderr = '';
      child.stderr?.on('data', (d) => (stderr += d));
      const exited = exit(child);
      let finished = false;
      void exited.then(() => (finished = true));
      while (!finished && partFiles().length < parts) await new Promise((r) => setTimeout(r, 2));
      child.kill('SIGKILL');
      const result = await exited;
      assert.equal(result.signal, 'SIGKILL', `the child was killed mid-run (it exited ${result.code}: ${stderr})`);
    };

    await killWhen(1); // the spec's case: right after the first part file appeared
    assert.ok((await snapshot(k)).messages.size > 40 * 6, 'the run had not finished');
    // The resumed run is killed too, once a few more batches went through: resume must itself resume.
    await killWhen(partFiles().length + 3);
    const midway = await snapshot(k);
    assert.ok(midway.messages.size < original.messages.size, 'batches were deleted before the second kill');
    assert.ok(midway.messages.size > 40 * 6, 'the run had not finished');

    const rerun = secops(['--json', ...args]);
    let out = '';
    let err = '';
    rerun.stdout?.on('data', (d) => (out += d));
    rerun.stderr?.on('data', (d) => (err += d));
    assert.equal((await exit(rerun)).code, 0, err);
    const doc = JSON.parse(out) as { runs: { resumed: boolean }[]; archived: { messages: number; conversations: number } };
    assert.equal(doc.runs[0]?.resumed, true);

    const cutoffSlack = (iso: unknown) => Date.parse(String(iso)) < now - 90 * DAY;
    const expected = {
      messages: new Set([...original.messages].filter(([, m]) => cutoffSlack((m as { created_at: string }).created_at)).map(([id]) => id)),
      conversations: new Set<string>(),
      audit_events: new Set<string>(),
    };
    assert.equal(expected.messages.size, 40 * 54);
    await assertNothingLostOrDuplicated(k, original, archiveDir, expected);
  });
});
