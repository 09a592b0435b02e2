import type { Knex } from 'knex';
import { ARGON2_OWASP_MINIMUM, SETTINGS } from '../../../../service/src/public/config.js';
import { formatAge } from '../duration.js';
import { type CheckResult, fail, pass, undecided, verdict } from './result.js';

/**
 * Database checks on what the service stored, read-only and as the service's own role: the plans of
 * the list queries (db.indexes), the Argon2 parameters of the stored password hashes (db.argon2) and
 * the age of the oldest message against the retention policy (db.retention).
 */
export const INDEXES_TITLE =
  'Conversation/message list queries use indexes (EXPLAIN: index scans on (conversation_id, created_at) and (user_id, updated_at))';
export const ARGON2_TITLE =
  'Stored password hashes are Argon2id at or above the OWASP minimum and the documented defaults (PHC prefix)';
export const RETENTION_TITLE = 'Retention enforced: no message older than the policy (--retention-max-age)';

/** The list queries the chat component runs (service/src/components/chat/repo.ts), with the index each needs. */
const LIST_QUERIES = [
  {
    name: 'messages of a conversation',
    sql: `select id, role, content, created_at from messages where conversation_id = $1 order by created_at, id limit 50`,
    columns: ['conversation_id', 'created_at'],
    table: 'messages',
  },
  {
    name: 'conversations of a user',
    sql: `select id, title, updated_at from conversations where user_id = $1 order by updated_at desc, id desc limit 50`,
    columns: ['user_id', 'updated_at'],
    table: 'conversations',
  },
] as const;

/**
 * db.indexes: EXPLAIN of each list query with sequential scans discouraged (enable_seqscan off, in a
 * read-only transaction): the planner picks an index when one fits, whatever the table's size. The
 * index used must lead with the query's columns.
 */
export async function indexesCheck(knex: Knex): Promise<CheckResult> {
  const id = 'db.indexes';
  try {
    const seen: string[] = [];
    const problems: string[] = [];
    await knex.transaction(
      async (trx) => {
        // Only an index that yields the rows in order is a fit: no sequential scan, no bitmap scan + sort.
        for (const setting of ['enable_seqscan', 'enable_bitmapscan', 'enable_sort']) await trx.raw(`set local ${setting} = off`);
        for (const q of LIST_QUERIES) {
          const sql = q.sql.replace('$1', `'00000000-0000-0000-0000-000000000000'`);
          const plan = ((await trx.raw(`explain ${sql}`)).rows as { 'QUERY PLAN': string }[])
            .map((r) => r['QUERY PLAN'])
            .join('\n');
          const index = /Index(?: Only)? Scan(?: Backward)? using (\S+) on (\S+)/.exec(plan);
          if (!index || index[2] !== q.table) {
            const scan =
              plan
                .split('\n')
                .find((l) => / on /.test(l) && /Scan/.test(l))
                ?.trim() ?? plan.split('\n')[0]?.trim();
            problems.push(`${q.name}: no index scan on ${q.table} (plan: ${scan?.replace(/\s+\(cost=.*$/, '')})`);
            continue;
          }
          const def = (
            await trx.raw('select indexdef from pg_indexes where schemaname = current_schema() and indexname = ?', [
              index[1] as string,
            ])
          ).rows[0] as { indexdef: string } | undefined;
          const cols = (/\((.*)\)/.exec(def?.indexdef ?? '')?.[1] ?? '').split(',').map((c) => c.trim().split(/\s+/)[0]);
          const leads = q.columns.every((c, i) => cols[i] === c);
          (leads ? seen : problems).push(
            `${q.name}: ${index[0]} (${cols.join(', ')})${leads ? '' : `, not led by (${q.columns.join(', ')})`}`,
          );
        }
      },
      { readOnly: true },
    );
    return problems.length === 0
      ? pass(id, INDEXES_TITLE, seen.join('; '))
      : fail(id, INDEXES_TITLE, [...problems, ...seen].join('; '));
  } catch (err) {
    return fail(id, INDEXES_TITLE, `EXPLAIN failed: ${serverMessage(err)}`);
  }
}

const PHC = /^\$(argon2(?:id|i|d))\$v=(\d+)\$m=(\d+),t=(\d+),p=(\d+)\$/;

/** The documented defaults (SETTINGS: ARGON2_*), read from the settings table itself. */
function documentedDefaults() {
  const read = (name: 'ARGON2_MEMORY_KIB' | 'ARGON2_TIME_COST' | 'ARGON2_PARALLELISM') =>
    SETTINGS[name].schema.parse(undefined) as number;
  return { memoryKiB: read('ARGON2_MEMORY_KIB'), timeCost: read('ARGON2_TIME_COST'), parallelism: read('ARGON2_PARALLELISM') };
}

/**
 * db.argon2: the distinct PHC prefixes (`$argon2id$v=19$m=…,t=…,p=…`) of the stored hashes, with their
 * counts. A hash below the OWASP minimum or the documented defaults fails the item, saying which and how
 * many accounts carry it (the service rehashes those at their next login).
 */
export async function argon2Check(knex: Knex): Promise<CheckResult> {
  const id = 'db.argon2';
  try {
    const rows = (
      await knex.raw(
        `select substring(password_hash from '^\\$[a-z0-9]+\\$v=[0-9]+\\$m=[0-9]+,t=[0-9]+,p=[0-9]+\\$') as prefix, count(*)::int as n
         from users group by 1 order by 2 desc`,
      )
    ).rows as { prefix: string | null; n: number }[];
    if (rows.length === 0) return undecided(id, ARGON2_TITLE, 'no stored password hash yet (no user)');
    const minimum = ARGON2_OWASP_MINIMUM;
    const defaults = documentedDefaults();
    const seen: string[] = [];
    const problems: string[] = [];
    for (const { prefix, n } of rows) {
      const m = prefix ? PHC.exec(prefix) : null;
      if (!m) {
        problems.push(`${n} hash(es) not in Argon2 PHC form`);
        continue;
      }
      const [, alg, , mem, t, p] = m;
      const params = { memoryKiB: Number(mem), timeCost: Number(t), parallelism: Number(p) };
      const below = (floor: { memoryKiB: number; timeCost: number; parallelism: number }) =>
        (['memoryKiB', 'timeCost', 'parallelism'] as const)
          .filter((k) => params[k] < floor[k])
          .map((k) => `${k} ${params[k]} < ${floor[k]}`);
      const label = `${n} × ${prefix}`;
      seen.push(label);
      if (alg !== 'argon2id') problems.push(`${label}: ${alg}, not argon2id`);
      const underMinimum = below(minimum);
      const underDefaults = below(defaults);
      if (underMinimum.length > 0) problems.push(`${label}: below the OWASP minimum (${underMinimum.join(', ')})`);
      else if (underDefaults.length > 0) problems.push(`${label}: below the documented defaults (${underDefaults.join(', ')})`);
    }
    const floor = `OWASP minimum m=${minimum.memoryKiB},t=${minimum.timeCost},p=${minimum.parallelism}; defaults m=${defaults.memoryKiB},t=${defaults.timeCost},p=${defaults.parallelism}`;
    return verdict(
      problems.length === 0,
      id,
      ARGON2_TITLE,
      problems.length === 0
        ? `${seen.join('; ')} (${floor})`
        : `${problems.join('; ')} (${floor}; weaker hashes are rehashed at the account's next login)`,
    );
  } catch (err) {
    return fail(id, ARGON2_TITLE, `query of users failed: ${serverMessage(err)}`);
  }
}

/** db.retention: the oldest message is younger than `maxAgeMs` (the retention job's --older-than plus its schedule). */
export async function retentionCheck(knex: Knex, maxAgeMs: number): Promise<CheckResult> {
  const id = 'db.retention';
  try {
    const row = (
      await knex.raw(
        `select count(*)::int as total,
                count(*) filter (where created_at < now() - make_interval(secs => ?))::int as over,
                coalesce(extract(epoch from now() - min(created_at)), 0)::float8 as oldest_seconds
         from messages`,
        [maxAgeMs / 1000],
      )
    ).rows[0] as { total: number; over: number; oldest_seconds: number };
    const seen = `${row.total} message(s), the oldest ${formatAge(row.oldest_seconds * 1000)} old`;
    return verdict(
      row.over === 0,
      id,
      RETENTION_TITLE,
      row.over === 0
        ? `${seen}, none over ${formatAge(maxAgeMs)}`
        : `${seen}: ${row.over} over ${formatAge(maxAgeMs)} — the retention job (secops retention run) is not running or not deleting`,
    );
  } catch (err) {
    return fail(id, RETENTION_TITLE, `query of messages failed: ${serverMessage(err)}`);
  }
}

/** knex puts the statement before the server's message: only the latter is evidence. */
function serverMessage(err: unknown): string {
  const message = (err as Error).message;
  return message.slice(message.lastIndexOf(' - ') + 3);
}
