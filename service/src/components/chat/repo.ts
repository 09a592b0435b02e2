import type { Knex } from '../../platform/db.js';
import type { Keyset } from '../../platform/pagination.js';

export interface ConversationRow {
  id: string;
  user_id: string;
  title: string | null;
  created_at: Date;
  updated_at: Date;
  /** updated_at as exact text, for cursors (list queries only). */
  cursor_at?: string;
}

export type MessageRole = 'user' | 'assistant';
export type MessageStatus = 'complete' | 'partial' | 'failed';

export interface MessageRow {
  id: string;
  conversation_id: string;
  role: MessageRole;
  content: string;
  status: MessageStatus;
  created_at: Date;
  /** created_at as exact text, for cursors (list queries only). */
  cursor_at?: string;
}

/**
 * Lists are keyset-ordered by (timestamp, id) of the last row seen (platform/pagination.ts). The
 * timestamp is PostgreSQL's own text form, microseconds included: a JS Date would round to
 * milliseconds and re-serve rows written within the same millisecond.
 */
export type { Keyset } from '../../platform/pagination.js';

const CONVERSATION_COLUMNS = ['id', 'user_id', 'title', 'created_at', 'updated_at'] as const;
const MESSAGE_COLUMNS = ['id', 'conversation_id', 'role', 'content', 'status', 'created_at'] as const;

/**
 * Data access for conversations and messages; plain rows in and out. Every conversation query is
 * scoped to its owner. Lists are keyset-paginated on (timestamp, id) — never OFFSET — and served by
 * conversations_user_updated_idx and messages_conversation_created_idx.
 */
export function createChatRepo(knex: Knex) {
  return {
    async createConversation(userId: string, title: string | null): Promise<ConversationRow> {
      const [row] = await knex('conversations').insert({ user_id: userId, title }).returning([...CONVERSATION_COLUMNS]);
      return row as ConversationRow;
    },
    /** Most recently updated first. */
    async listConversations(userId: string, limit: number, after?: Keyset): Promise<ConversationRow[]> {
      const q = knex('conversations')
        .select(...CONVERSATION_COLUMNS, knex.raw('updated_at::text as cursor_at'))
        .where({ user_id: userId });
      if (after) q.andWhereRaw('(updated_at, id) < (?::timestamptz, ?)', [after.at, after.id]);
      return q.orderBy([
        { column: 'updated_at', order: 'desc' },
        { column: 'id', order: 'desc' },
      ]).limit(limit) as Promise<ConversationRow[]>;
    },
    async findConversation(userId: string, id: string): Promise<ConversationRow | undefined> {
      return knex('conversations').select(...CONVERSATION_COLUMNS).where({ id, user_id: userId }).first() as Promise<ConversationRow | undefined>;
    },
    /** Whether a conversation with this id exists, whoever owns it (to tell another user's from a missing one). */
    async conversationExists(id: string): Promise<boolean> {
      return (await knex('conversations').select('id').where({ id }).first()) !== undefined;
    },
    /** Its messages go with it (ON DELETE CASCADE). */
    async deleteConversation(userId: string, id: string): Promise<boolean> {
      // `returning` rather than the affected-row count: PGlite counts the cascaded message rows too.
      return (await knex('conversations').where({ id, user_id: userId }).delete().returning('id')).length === 1;
    },
    /** Oldest first. */
    async listMessages(conversationId: string, limit: number, after?: Keyset): Promise<MessageRow[]> {
      const q = knex('messages')
        .select(...MESSAGE_COLUMNS, knex.raw('created_at::text as cursor_at'))
        .where({ conversation_id: conversationId });
      if (after) q.andWhereRaw('(created_at, id) > (?::timestamptz, ?)', [after.at, after.id]);
      return q.orderBy([
        { column: 'created_at', order: 'asc' },
        { column: 'id', order: 'asc' },
      ]).limit(limit) as Promise<MessageRow[]>;
    },
    /** The latest `limit` messages, oldest first: the context sent to the model. */
    async recentMessages(conversationId: string, limit: number): Promise<MessageRow[]> {
      const rows: MessageRow[] = await knex('messages')
        .select(...MESSAGE_COLUMNS)
        .where({ conversation_id: conversationId })
        .orderBy([
          { column: 'created_at', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .limit(limit);
      return rows.reverse();
    },
    /**
     * Appends a message and bumps the conversation's updated_at, in one statement. undefined when the
     * conversation no longer exists (deleted while a reply was being generated).
     */
    async appendMessage(
      conversationId: string,
      m: { role: MessageRole; content: string; status: MessageStatus },
    ): Promise<MessageRow | undefined> {
      const r = await knex.raw(
        `with c as (
           update conversations set updated_at = clock_timestamp() where id = ? returning id
         )
         insert into messages (conversation_id, role, content, status, created_at)
         select c.id, ?, ?, ?, clock_timestamp() from c
         returning ${MESSAGE_COLUMNS.join(', ')}`,
        [conversationId, m.role, m.content, m.status],
      );
      return r.rows[0] as MessageRow | undefined;
    },
    /**
     * The assistant's reply and its model call's ledger row in one transaction: a reply is never
     * stored unbilled. The row is written even when the conversation is gone (message_id null).
     */
    async appendReply(
      conversationId: string,
      m: { role: MessageRole; content: string; status: MessageStatus },
      usage: Omit<UsageRow, 'message_id' | 'conversation_id'>,
    ): Promise<MessageRow | undefined> {
      return knex.transaction(async (trx) => {
        const reply = await createChatRepo(trx).appendMessage(conversationId, m);
        await trx('model_usage').insert({ ...usage, conversation_id: conversationId, message_id: reply?.id ?? null });
        return reply;
      });
    },
    /** A ledger row on its own (a call that failed before any reply could be stored). */
    async recordUsage(usage: UsageRow): Promise<void> {
      await knex('model_usage').insert(usage);
    },
    /** A user's settled tokens since `since` (the budget windows and GET /v1/usage). */
    async usageSince(userId: string, since: Date): Promise<number> {
      const row = await knex('model_usage')
        .where({ user_id: userId })
        .andWhere('created_at', '>=', since)
        .sum({ total: knex.raw('prompt_tokens + completion_tokens') })
        .first();
      return Number(row?.total ?? 0);
    },
    /** The user's overrides of the token budgets (null: the setting applies). */
    async budgetOverride(userId: string): Promise<{ tokens_per_day: number | null; tokens_per_month: number | null } | undefined> {
      const row = await knex('model_budgets').select('tokens_per_day', 'tokens_per_month').where({ user_id: userId }).first();
      if (!row) return undefined;
      const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
      return { tokens_per_day: n(row.tokens_per_day), tokens_per_month: n(row.tokens_per_month) };
    },
  };
}

/** One row of the append-only model_usage ledger. */
export interface UsageRow {
  user_id: string;
  conversation_id: string | null;
  message_id: string | null;
  provider: string;
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
  estimated: boolean;
  outcome: 'ok' | 'error' | 'timeout' | 'aborted';
  latency_ms: number;
}

export type ChatRepo = ReturnType<typeof createChatRepo>;
