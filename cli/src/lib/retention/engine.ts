import { readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Database, Knex } from '../../../../service/src/public/db.js';
import { withAdvisoryLock } from '../../../../service/src/public/db.js';
import {
  type ArchivedTable,
  completeRun,
  interruptedRuns,
  type Manifest,
  type PartArchived,
  type RunJournal,
  readJournal,
  startRun,
} from './journal.js';
import { CliError } from '../errors.js';
import { keyId } from '../backup/encryption.js';
import { archiveEncryption, checksumOf, PART_FILE, partFileName, readPart, writePart } from './parts.js';
import {
  AGED,
  type BatchRow,
  deleteAgedRows,
  deleteConversations,
  existingIds,
  lockEmptyConversations,
  lockOldestRows,
} from './queries.js';

/**
 * `secops retention run`, told as a story:
 *   1. finish any interrupted run in the archive directory (its journal says how far it got);
 *   2. start a new run: archive old messages batch by batch — each batch a part file made durable
 *      before exactly its rows are deleted, in one short transaction;
 *   3. archive and delete the conversations those messages left empty (if also old);
 *   4. the same for audit events, when they have a retention window;
 *   5. write the manifest (counts, sha256 per part, time ranges): the run is complete.
 * Invariant at every instant: each row is in the database, or in exactly one durable part, or (only
 * between a part's journal line and its delete) in both — and the journal lets the next run resolve
 * that overlap by deleting, never by archiving again.
 */
export const RETENTION_LOCK_KEY = 7_261_127_002;

export interface RetentionPlan {
  archiveDir: string;
  /** Messages created before this instant are archived. */
  messagesCutoff: Date;
  /** Audit events that occurred before this instant are archived; null keeps them all. */
  auditCutoff: Date | null;
  batchSize: number;
  now: Date;
  /** AES-256-GCM key for the parts of a new run (RETENTION_ENCRYPT_KEY_*); undefined → unencrypted. */
  key?: Buffer;
}

/** Test seams that stand in for a crash at the two points that matter. */
export interface RetentionHooks {
  /** After a part is durable and journalled, before its rows are deleted (inside the batch transaction). */
  afterArchive?(part: PartArchived): void | Promise<void>;
  /** After the delete committed, before the journal records it. */
  afterDelete?(part: PartArchived): void | Promise<void>;
}

export interface RunSummary {
  runId: string;
  dir: string;
  resumed: boolean;
  /** Rows of parts archived before the interruption that were deleted while resuming. */
  deletedOnResume: number;
  manifest: Manifest;
}

type Step = <T>(label: string, fn: () => Promise<T>) => Promise<T>;

interface RunState {
  next: Record<ArchivedTable, number>;
  /** Conversations whose messages this run archived: candidates for the conversation phase. */
  touched: Set<string>;
  /** Archived conversations kept because they became active again: never archived twice. */
  retained: Set<string>;
  deletedOnResume: number;
  /** The run's key (undefined: the run is not encrypted). */
  key: Buffer | undefined;
}

export async function runRetention(
  db: Database,
  plan: RetentionPlan,
  options: { hooks?: RetentionHooks; step: Step },
): Promise<RunSummary[]> {
  return withAdvisoryLock(
    db,
    RETENTION_LOCK_KEY,
    async () => {
      const summaries: RunSummary[] = [];
      for (const dir of await interruptedRuns(plan.archiveDir)) {
        const journal = await readJournal(dir);
        // Nothing was archived (parts are written only after the first line); set it aside.
        if (journal) summaries.push(await finishRun(db, journal, true, runKey(journal, plan.key), options));
        else await rename(dir, `${dir}.aborted`);
      }
      const journal = await startRun(plan.archiveDir, {
        startedAt: plan.now.toISOString(),
        cutoffs: { messages: plan.messagesCutoff.toISOString(), audit_events: plan.auditCutoff?.toISOString() ?? null },
        batchSize: plan.batchSize,
        encryption: archiveEncryption(plan.key),
      });
      summaries.push(await finishRun(db, journal, false, plan.key, options));
      return summaries;
    },
    { waitTimeoutMs: 0, what: 'the retention lock', hint: 'another retention run is in progress' },
  );
}

/** The key an interrupted run's parts need: the one it started with, checked by its id. */
function runKey(journal: RunJournal, key: Buffer | undefined): Buffer | undefined {
  const { encryption, runId } = journal.started;
  if (!encryption) return undefined;
  if (!key) {
    throw new CliError(`interrupted run ${runId} is encrypted: pass --encrypt-key-file or --encrypt-key-ref (or set RETENTION_ENCRYPT_KEY_FILE / _REF) to resume it`, {
      code: 'key_required',
    });
  }
  if (keyId(key) !== encryption.keyId) {
    throw new CliError(`interrupted run ${runId} was encrypted with another key (key id ${encryption.keyId})`, { code: 'key_mismatch' });
  }
  return key;
}

async function finishRun(
  db: Database,
  journal: RunJournal,
  resumed: boolean,
  key: Buffer | undefined,
  options: { hooks?: RetentionHooks; step: Step },
): Promise<RunSummary> {
  const { runId, cutoffs } = journal.started;
  const state = resumed
    ? await options.step(`Resuming ${runId}: deleting rows already archived`, () => recover(db, journal, key))
    : {
        next: { messages: 1, conversations: 1, audit_events: 1 },
        touched: new Set<string>(),
        retained: new Set<string>(),
        deletedOnResume: 0,
        key,
      };
  await options.step(`Archiving messages created before ${cutoffs.messages}`, () =>
    archiveAged(db, journal, 'messages', state, options.hooks),
  );
  await options.step('Archiving the conversations they left empty', () => archiveConversations(db, journal, state, options.hooks));
  if (cutoffs.audit_events) {
    await options.step(`Archiving audit events before ${cutoffs.audit_events}`, () =>
      archiveAged(db, journal, 'audit_events', state, options.hooks),
    );
  }
  const manifest = await completeRun(journal, new Date());
  return { runId, dir: journal.dir, resumed, deletedOnResume: state.deletedOnResume, manifest };
}

/** Every batch transaction waits at most this long for a row lock (resume deletes do wait). */
async function shortLocks(trx: Knex.Transaction): Promise<void> {
  await trx.raw("set local lock_timeout = '5s'");
}

async function archiveAged(
  db: Database,
  journal: RunJournal,
  table: 'messages' | 'audit_events',
  state: RunState,
  hooks: RetentionHooks = {},
): Promise<void> {
  const spec = AGED[table];
  const cutoff = journal.started.cutoffs[table] as string;
  for (;;) {
    const done = await db.knex.transaction(async (trx) => {
      await shortLocks(trx);
      const rows = await lockOldestRows(trx, spec, cutoff, journal.started.batchSize);
      if (rows.length === 0) return undefined;
      const part = await archive(journal, table, rows, state);
      await hooks.afterArchive?.(part);
      const deleted = await deleteAgedRows(trx, spec, rows.map((r) => r.id), cutoff);
      if (deleted !== rows.length) throw new Error(`${part.file}: deleted ${deleted} of ${rows.length} locked rows`);
      return { part, deleted };
    });
    if (!done) return;
    await hooks.afterDelete?.(done.part);
    await journal.append({ type: 'deleted', file: done.part.file, deleted: done.deleted });
    for (const id of done.part.conversations ?? []) state.touched.add(id);
  }
}

async function archiveConversations(db: Database, journal: RunJournal, state: RunState, hooks: RetentionHooks = {}): Promise<void> {
  const cutoff = journal.started.cutoffs.messages;
  const candidates = [...state.touched].filter((id) => !state.retained.has(id)).sort();
  for (let i = 0; i < candidates.length; i += journal.started.batchSize) {
    const chunk = candidates.slice(i, i + journal.started.batchSize);
    const done = await db.knex.transaction(async (trx) => {
      await shortLocks(trx);
      const rows = await lockEmptyConversations(trx, chunk, cutoff, { skipLocked: true });
      if (rows.length === 0) return undefined;
      const part = await archive(journal, 'conversations', rows, state);
      await hooks.afterArchive?.(part);
      const deleted = await deleteConversations(trx, rows.map((r) => r.id));
      return { part, deleted };
    });
    if (!done) continue;
    await hooks.afterDelete?.(done.part);
    await journal.append({ type: 'deleted', file: done.part.file, deleted: done.deleted });
  }
}

/** Writes the batch's part file durably and journals it; returns the journal entry. */
async function archive(journal: RunJournal, table: ArchivedTable, rows: BatchRow[], state: RunState): Promise<PartArchived> {
  const file = partFileName(table, state.next[table]++, state.key !== undefined);
  const written = await writePart(journal.dir, file, rows, state.key);
  const times = rows.map((r) => r.time).sort((a, b) => Date.parse(a) - Date.parse(b));
  const part: PartArchived = {
    type: 'part',
    table,
    file,
    count: rows.length,
    sha256: written.sha256,
    bytes: written.bytes,
    from: times[0] as string,
    to: times.at(-1) as string,
    ...(table === 'messages' ? { conversations: [...new Set(rows.map((r) => r.conversationId as string))] } : {}),
  };
  await journal.append(part);
  return part;
}

const TIME_COLUMN: Record<ArchivedTable, string> = { messages: 'created_at', conversations: 'updated_at', audit_events: 'occurred_at' };

/**
 * Brings an interrupted run back to a clean state: discards half-written files, journals parts that
 * became durable just before the crash, and deletes every archived row still present.
 */
async function recover(db: Database, journal: RunJournal, key: Buffer | undefined): Promise<RunState> {
  const state: RunState = {
    next: { messages: 1, conversations: 1, audit_events: 1 },
    touched: new Set(),
    retained: new Set(),
    deletedOnResume: 0,
    key,
  };
  const files = await readdir(journal.dir);
  for (const f of files.filter((f) => f.endsWith('.tmp'))) await unlink(join(journal.dir, f)); // never deleted from
  const journalled = new Map(
    journal.entries.filter((e): e is PartArchived => e.type === 'part').map((e) => [e.file, e]),
  );
  for (const file of files.filter((f) => PART_FILE.test(f) && !journalled.has(f)).sort()) {
    const entry = await recoveredEntry(journal, file, key);
    await journal.append(entry);
    journalled.set(file, entry);
  }
  const deleted = new Set(journal.entries.flatMap((e) => (e.type === 'deleted' ? [e.file] : [])));
  for (const e of journal.entries) if (e.type === 'retained') for (const id of e.ids) state.retained.add(id);
  for (const part of journalled.values()) {
    const index = Number(PART_FILE.exec(part.file)?.[2]);
    state.next[part.table] = Math.max(state.next[part.table], index + 1);
    for (const id of part.conversations ?? []) state.touched.add(id);
    if (deleted.has(part.file)) continue;
    const ids = (await readPart(journal.dir, part.file, part.sha256, key)).map((row) => String(row.id));
    const count = await deleteArchived(db, journal, part, ids);
    state.deletedOnResume += count;
    await journal.append({ type: 'deleted', file: part.file, deleted: count });
  }
  return state;
}

async function recoveredEntry(journal: RunJournal, file: string, key: Buffer | undefined): Promise<PartArchived> {
  const table = PART_FILE.exec(file)?.[1] as ArchivedTable;
  const rows = await readPart(journal.dir, file, undefined, key);
  const times = rows.map((r) => String(r[TIME_COLUMN[table]])).sort((a, b) => Date.parse(a) - Date.parse(b));
  return {
    type: 'part',
    table,
    file,
    count: rows.length,
    ...(await checksumOf(journal.dir, file)),
    from: times[0] as string,
    to: times.at(-1) as string,
    ...(table === 'messages' ? { conversations: [...new Set(rows.map((r) => String(r.conversation_id)))] } : {}),
    recovered: true,
  };
}

/** Deletes the part's rows still present. Conversations only while still empty and old (else retained). */
async function deleteArchived(db: Database, journal: RunJournal, part: PartArchived, ids: string[]): Promise<number> {
  if (part.table !== 'conversations') {
    return db.knex.transaction(async (trx) => {
      await shortLocks(trx);
      const table = part.table as 'messages' | 'audit_events';
      return deleteAgedRows(trx, AGED[table], ids, journal.started.cutoffs[table] as string);
    });
  }
  const { deleted, retained } = await db.knex.transaction(async (trx) => {
    await shortLocks(trx);
    const eligible = (await lockEmptyConversations(trx, ids, journal.started.cutoffs.messages, { skipLocked: false })).map((r) => r.id);
    const count = await deleteConversations(trx, eligible);
    return { deleted: count, retained: await existingIds(trx, 'conversations', ids) };
  });
  if (retained.length > 0) await journal.append({ type: 'retained', file: part.file, ids: retained });
  return deleted;
}
