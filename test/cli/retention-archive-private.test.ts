import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type RetentionOptions, run } from '../../cli/src/commands/retention.js';
import { readPart } from '../../cli/src/lib/retention/parts.js';
import type { Knex } from '../../service/src/platform/db.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { main } from '../../cli/src/main.js';
import { captureIo, contextOver } from './capture.js';
import { fileModes } from '../helpers/file-modes.js';

const NOW = new Date('2027-06-01T12:00:00Z');
const DAY = 86_400_000;
const SECRET = 'the patient’s diagnosis';

/** One user with an old conversation of 12 messages, each naming SECRET. */
async function seed(k: Knex): Promise<void> {
  const [user] = await k('users').insert({ email: 'archive-private@example.com', password_hash: 'x' }).returning('id');
  const [c] = await k('conversations')
    .insert({ user_id: user.id, title: 'old', updated_at: new Date(NOW.getTime() - 200 * DAY) })
    .returning('id');
  await k('messages').insert(
    Array.from({ length: 12 }, (_, i) => ({
      conversation_id: c.id,
      role: 'user',
      content: `${SECRET} #${i}`,
      created_at: new Date(NOW.getTime() - (150 + i) * DAY),
    })),
  );
}

describe('retention archives are private and, with a key, encrypted', () => {
  let t: TestDatabase;
  let work: string;
  let archiveDir: string;
  let keyFile: string;
  beforeEach(async () => {
    t = await createTestDatabase({ migrated: true });
    await seed(t.db.knex);
    work = mkdtempSync(join(tmpdir(), 'rampart-retention-private-'));
    archiveDir = join(work, 'archive');
    keyFile = join(work, 'retention.key');
    writeFileSync(keyFile, randomBytes(32).toString('hex'));
  });
  afterEach(async () => {
    await t?.drop();
    rmSync(work, { recursive: true, force: true });
  });

  const options = (extra: Partial<RetentionOptions> = {}): RetentionOptions => ({
    olderThanMs: 90 * DAY,
    archiveDir,
    batchSize: 5,
    dryRun: false,
    now: NOW,
    ...extra,
  });
  const runDir = () => join(archiveDir, readdirSync(archiveDir)[0] as string);
  const parts = () => readdirSync(runDir()).filter((f) => /\.jsonl\.gz(\.enc)?$/.test(f));

  for (const umask of [0o022, 0o000]) {
    it(`under umask ${umask.toString(8).padStart(3, '0')} every archive file is 0600 and every directory 0700`, async (tc) => {
      const previous = process.umask(umask);
      tc.after(() => process.umask(previous));
      await run(options({ encryptKeyFile: keyFile }), contextOver(t.db).ctx);
      const found = fileModes(archiveDir);
      assert.ok(found.filter((f) => f.kind === 'file').length >= 4, 'journal, manifest and parts');
      for (const f of found) assert.equal(f.mode, f.kind === 'dir' ? 0o700 : 0o600, `${f.path} is ${f.mode.toString(8)}`);
    });
  }

  it('unencrypted parts (no key configured) are still 0600, and the run warns', async (tc) => {
    const previous = process.umask(0o000);
    tc.after(() => process.umask(previous));
    const { ctx, stderr } = contextOver(t.db);
    await run(options(), ctx);
    assert.match(stderr(), /written unencrypted/);
    assert.ok(parts().every((f) => f.endsWith('.jsonl.gz')));
    for (const f of fileModes(archiveDir)) assert.equal(f.mode, f.kind === 'dir' ? 0o700 : 0o600, f.path);
  });

  it('with a key, parts cannot be read without it and read back exactly with it', async () => {
    const original = (await t.db.knex.raw('select row_to_json(m)::text as doc from messages m order by id')).rows.map(
      (r: { doc: string }) => JSON.parse(r.doc),
    );
    await run(options({ encryptKeyFile: keyFile }), contextOver(t.db).ctx);
    const files = parts();
    assert.deepEqual(files.sort(), [
      'conversations-000001.jsonl.gz.enc',
      'messages-000001.jsonl.gz.enc',
      'messages-000002.jsonl.gz.enc',
      'messages-000003.jsonl.gz.enc',
    ]);
    const manifest = JSON.parse(readFileSync(join(runDir(), 'manifest.json'), 'utf8')) as {
      encryption: { algorithm: string } | null;
    };
    assert.equal(manifest.encryption?.algorithm, 'aes-256-gcm');
    for (const file of files) {
      assert.match(file, /\.jsonl\.gz\.enc$/);
      const bytes = readFileSync(join(runDir(), file));
      assert.ok(!bytes.includes(Buffer.from(SECRET)), 'no plaintext');
      assert.notDeepEqual([...bytes.subarray(0, 2)], [0x1f, 0x8b], 'not even a gzip stream');
      await assert.rejects(readPart(runDir(), file), { code: 'key_required' });
      await assert.rejects(readPart(runDir(), file, undefined, randomBytes(32)), { code: 'decrypt_failed' });
    }
    const key = readFileSync(keyFile, 'utf8');
    const archived = [];
    for (const file of files.filter((f) => f.startsWith('messages-'))) {
      archived.push(...(await readPart(runDir(), file, undefined, Buffer.from(key, 'hex'))));
    }
    assert.deepEqual(
      archived.sort((a, b) => String(a.id).localeCompare(String(b.id))),
      original.sort((a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id)),
    );
  });

  it('an encrypted part renamed over another fails its authentication (the file name is bound in)', async () => {
    await run(options({ encryptKeyFile: keyFile }), contextOver(t.db).ctx);
    const [first, second] = parts();
    writeFileSync(join(runDir(), second as string), readFileSync(join(runDir(), first as string)));
    const key = Buffer.from(readFileSync(keyFile, 'utf8'), 'hex');
    await assert.rejects(readPart(runDir(), second as string, undefined, key), { code: 'decrypt_failed' });
  });

  it('an interrupted encrypted run resumes only with its key', async () => {
    const crash = new Error('simulated crash');
    await assert.rejects(
      run(
        options({
          encryptKeyFile: keyFile,
          hooks: {
            afterArchive: (part) => {
              if (part.file === 'messages-000002.jsonl.gz.enc') throw crash;
            },
          },
        }),
        contextOver(t.db).ctx,
      ),
      crash,
    );
    await assert.rejects(run(options(), contextOver(t.db).ctx), { code: 'key_required' });
    const other = join(work, 'other.key');
    writeFileSync(other, randomBytes(32).toString('hex'));
    await assert.rejects(run(options({ encryptKeyFile: other }), contextOver(t.db).ctx), { code: 'key_mismatch' });
    const { ctx, stdout } = contextOver(t.db, { json: true });
    await run(options({ encryptKeyFile: keyFile, now: new Date(NOW.getTime() + 60_000) }), ctx);
    const doc = JSON.parse(stdout()) as { runs: { resumed: boolean }[] };
    assert.equal(doc.runs[0]?.resumed, true);
    assert.equal(Number((await t.db.knex.raw('select count(*) as n from messages')).rows[0].n), 0);
  });

  it('secops retention read prints an encrypted part only with its key, and refuses a substituted one', async () => {
    await run(options({ encryptKeyFile: keyFile }), contextOver(t.db).ctx);
    const part = join(runDir(), 'messages-000001.jsonl.gz.enc');
    const without = captureIo({});
    assert.equal(await main(['retention', 'read', '--file', part], without.io), 1);
    assert.match(without.stderr(), /is encrypted: pass --encrypt-key-file/);
    const withKey = captureIo({ RETENTION_ENCRYPT_KEY_FILE: keyFile });
    assert.equal(await main(['retention', 'read', '--file', part], withKey.io), 0, withKey.stderr());
    const lines = withKey.stdout().trimEnd().split('\n');
    assert.equal(lines.length, 5);
    for (const line of lines) assert.match((JSON.parse(line) as { content: string }).content, new RegExp(SECRET));

    // Another valid part of the same run copied over this one: authentic ciphertext, wrong checksum.
    writeFileSync(part, readFileSync(join(runDir(), 'messages-000002.jsonl.gz.enc')));
    const swapped = captureIo({});
    assert.equal(await main(['retention', 'read', '--file', part, '--encrypt-key-file', keyFile], swapped.io), 1);
    assert.match(swapped.stderr(), /does not match the checksum/);
  });
});
