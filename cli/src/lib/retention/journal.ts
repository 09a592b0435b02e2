import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createPrivateDirectory, ensureDirectory } from '../private-files.js';
import { appendLineDurably, fsyncDirectory, writeFileDurably } from './durable.js';

/**
 * The run journal: `journal.jsonl` in the run's own directory, one fsynced JSON line per durable fact.
 * It is what makes a run resumable: a part is journalled only after its file is durable, and rows are
 * deleted only after that, so at any crash point every deleted row is in a durable part.
 */
export type ArchivedTable = 'messages' | 'conversations' | 'audit_events';

export interface RunStarted {
  type: 'run';
  format: 'rampart-retention/1';
  runId: string;
  startedAt: string;
  /** ISO instants; rows strictly older are archived. `audit_events` null: audit events are kept. */
  cutoffs: { messages: string; audit_events: string | null };
  batchSize: number;
  /** Parts of this run are AES-256-GCM encrypted under this key (absent in runs of older versions). */
  encryption?: ArchiveEncryption | null;
}

export interface ArchiveEncryption {
  algorithm: 'aes-256-gcm';
  keyId: string;
}

export interface PartArchived {
  type: 'part';
  table: ArchivedTable;
  file: string;
  count: number;
  sha256: string;
  bytes: number;
  /** Range of the table's time column in this part (created_at, updated_at or occurred_at). */
  from: string;
  to: string;
  /** messages parts: the conversations they touched (candidates for the conversation phase). */
  conversations?: string[];
  /** Found on disk at resume without a journal line (the crash fell between the two). */
  recovered?: boolean;
}

export interface PartDeleted {
  type: 'deleted';
  file: string;
  deleted: number;
}

/** Archived conversations that became active again before their delete: kept in the database. */
export interface PartRetained {
  type: 'retained';
  file: string;
  ids: string[];
}

export interface RunCompleted {
  type: 'completed';
  completedAt: string;
}

export type JournalEntry = RunStarted | PartArchived | PartDeleted | PartRetained | RunCompleted;

export const JOURNAL = 'journal.jsonl';
export const MANIFEST = 'manifest.json';

export interface RunJournal {
  readonly dir: string;
  readonly started: RunStarted;
  readonly entries: JournalEntry[];
  append(entry: Exclude<JournalEntry, RunStarted>): Promise<void>;
}

function open(dir: string, entries: JournalEntry[]): RunJournal {
  const started = entries[0];
  if (started?.type !== 'run') throw new Error(`${join(dir, JOURNAL)} does not start with a run entry`);
  return {
    dir,
    started,
    entries,
    async append(entry) {
      await appendLineDurably(join(dir, JOURNAL), JSON.stringify(entry));
      entries.push(entry);
    },
  };
}

export async function startRun(archiveDir: string, init: Omit<RunStarted, 'type' | 'format' | 'runId'>): Promise<RunJournal> {
  ensureDirectory(archiveDir);
  const runId = `run-${init.startedAt.replace(/\D/g, '').slice(0, 14)}-${randomBytes(3).toString('hex')}`;
  const dir = join(archiveDir, runId);
  createPrivateDirectory(dir);
  await fsyncDirectory(archiveDir);
  const started: RunStarted = { type: 'run', format: 'rampart-retention/1', runId, ...init };
  await appendLineDurably(join(dir, JOURNAL), JSON.stringify(started));
  await fsyncDirectory(dir);
  return open(dir, [started]);
}

/** undefined: the run died before its first journal line was durable, so it archived nothing. */
export async function readJournal(dir: string): Promise<RunJournal | undefined> {
  const lines = (await readFile(join(dir, JOURNAL), 'utf8')).split('\n');
  const entries: JournalEntry[] = [];
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    try {
      entries.push(JSON.parse(line) as JournalEntry);
    } catch (err) {
      // Only the last line can be torn by a crash mid-append; anything else is damage.
      if (i >= lines.length - 2) break;
      throw new Error(`${join(dir, JOURNAL)} line ${i + 1} is not JSON`, { cause: err });
    }
  }
  if (entries.length === 0) return undefined;
  return open(dir, entries);
}

/** Runs in `archiveDir` that started but never completed, oldest first. */
export async function interruptedRuns(archiveDir: string): Promise<string[]> {
  if (!existsSync(archiveDir)) return [];
  const runs = (await readdir(archiveDir)).filter((d) => /^run-\d{14}-[0-9a-f]+$/.test(d)).sort();
  const open: string[] = [];
  for (const run of runs) {
    const dir = join(archiveDir, run);
    if (existsSync(join(dir, JOURNAL)) && !existsSync(join(dir, MANIFEST))) open.push(dir);
  }
  return open;
}

export interface Manifest {
  format: 'rampart-retention/1';
  runId: string;
  startedAt: string;
  completedAt: string;
  cutoffs: RunStarted['cutoffs'];
  batchSize: number;
  encryption: ArchiveEncryption | null;
  /** Rows archived and deleted, per table, and the time range they span. */
  tables: Record<ArchivedTable, { rows: number; parts: number; from: string | null; to: string | null }>;
  parts: Omit<PartArchived, 'type' | 'conversations'>[];
  /** Archived conversations that were active again at resume: still in the database, not deleted. */
  retained: { conversations: string[] };
}

export async function completeRun(journal: RunJournal, completedAt: Date): Promise<Manifest> {
  const parts = journal.entries.filter((e): e is PartArchived => e.type === 'part');
  const retained = journal.entries.filter((e): e is PartRetained => e.type === 'retained').flatMap((e) => e.ids);
  const tables = {} as Manifest['tables'];
  for (const table of ['messages', 'conversations', 'audit_events'] as const) {
    const mine = parts.filter((p) => p.table === table);
    const sorted = (values: string[]) => values.sort((a, b) => Date.parse(a) - Date.parse(b));
    tables[table] = {
      rows: mine.reduce((n, p) => n + p.count, 0) - (table === 'conversations' ? retained.length : 0),
      parts: mine.length,
      from: sorted(mine.map((p) => p.from))[0] ?? null,
      to: sorted(mine.map((p) => p.to)).at(-1) ?? null,
    };
  }
  const manifest: Manifest = {
    format: 'rampart-retention/1',
    runId: journal.started.runId,
    startedAt: journal.started.startedAt,
    completedAt: completedAt.toISOString(),
    cutoffs: journal.started.cutoffs,
    batchSize: journal.started.batchSize,
    encryption: journal.started.encryption ?? null,
    tables,
    parts: parts.map(({ type: _t, conversations: _c, ...part }) => part),
    retained: { conversations: retained },
  };
  await writeFileDurably(journal.dir, MANIFEST, `${JSON.stringify(manifest, null, 2)}\n`);
  await journal.append({ type: 'completed', completedAt: manifest.completedAt });
  return manifest;
}
