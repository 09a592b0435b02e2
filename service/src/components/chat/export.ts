import type { Knex } from '../../platform/db.js';

/** What the account export reads from chat, one piece at a time (never a whole history in memory). */
export type ChatExportItem =
  | { kind: 'conversation'; conversation: { id: string; title: string | null; created_at: string; updated_at: string } }
  | { kind: 'message'; message: { id: string; role: string; content: string; status: string; created_at: string } }
  | { kind: 'conversation_end' };

const PAGE = 200;

const iso = (d: Date | string) => new Date(d).toISOString();

/**
 * A user's conversations (oldest first) and each one's messages (oldest first), keyset-paginated so
 * memory stays bounded by one page whatever the history's size.
 */
export async function* exportConversations(knex: Knex, userId: string): AsyncGenerator<ChatExportItem> {
  let after: { at: string; id: string } | undefined;
  for (;;) {
    const q = knex('conversations').select('id', 'title', 'created_at', 'updated_at', knex.raw('created_at::text as cursor_at')).where({ user_id: userId });
    if (after) q.andWhereRaw('(created_at, id) > (?::timestamptz, ?)', [after.at, after.id]);
    const page = (await q.orderBy([{ column: 'created_at' }, { column: 'id' }]).limit(PAGE)) as {
      id: string;
      title: string | null;
      created_at: Date;
      updated_at: Date;
      cursor_at: string;
    }[];
    for (const c of page) {
      yield { kind: 'conversation', conversation: { id: c.id, title: c.title, created_at: iso(c.created_at), updated_at: iso(c.updated_at) } };
      yield* exportMessages(knex, c.id);
      yield { kind: 'conversation_end' };
    }
    if (page.length < PAGE) return;
    const last = page[page.length - 1] as { cursor_at: string; id: string };
    after = { at: last.cursor_at, id: last.id };
  }
}

async function* exportMessages(knex: Knex, conversationId: string): AsyncGenerator<ChatExportItem> {
  let after: { at: string; id: string } | undefined;
  for (;;) {
    const q = knex('messages').select('id', 'role', 'content', 'status', 'created_at', knex.raw('created_at::text as cursor_at')).where({ conversation_id: conversationId });
    if (after) q.andWhereRaw('(created_at, id) > (?::timestamptz, ?)', [after.at, after.id]);
    const page = (await q.orderBy([{ column: 'created_at' }, { column: 'id' }]).limit(PAGE)) as {
      id: string;
      role: string;
      content: string;
      status: string;
      created_at: Date;
      cursor_at: string;
    }[];
    for (const m of page) yield { kind: 'message', message: { id: m.id, role: m.role, content: m.content, status: m.status, created_at: iso(m.created_at) } };
    if (page.length < PAGE) return;
    const last = page[page.length - 1] as { cursor_at: string; id: string };
    after = { at: last.cursor_at, id: last.id };
  }
}
