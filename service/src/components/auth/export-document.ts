import type { AccountProfile } from './account-lifecycle-flows.js';

/** A piece of the conversations part, as chat's exportConversations yields it (chat/export.ts). */
export type ExportConversationItem =
  | { kind: 'conversation'; conversation: { id: string; title: string | null; created_at: string; updated_at: string } }
  | { kind: 'message'; message: { id: string; role: string; content: string; status: string; created_at: string } }
  | { kind: 'conversation_end' };

/** An audit event as the audit component reads it for an export. */
export interface ExportAuditRow {
  id: string;
  type: string;
  occurred_at: Date;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  email_hash: string | null;
  details: Record<string, unknown>;
}

/**
 * The account export as JSON text, produced piece by piece:
 * `{"user":…,"sessions":[…],"conversations":[{…,"messages":[…]},…],"audit_events":[…]}`.
 * Conversations, messages and audit events are read a page at a time, so a long history never sits
 * in memory; the response streams as the pieces come. GET /v1/me/export (the account component) and
 * `secops users export` (operator-actions.ts) both write it, so the two documents cannot drift.
 */
export async function* exportDocument(
  profile: AccountProfile,
  conversations: AsyncIterable<ExportConversationItem>,
  auditEvents: AsyncIterable<ExportAuditRow>,
  now: Date = new Date(),
): AsyncGenerator<string> {
  yield `{"exported_at":${JSON.stringify(now.toISOString())},"user":${JSON.stringify(profile.user)},"sessions":${JSON.stringify(profile.sessions)},"conversations":[`;
  let firstConversation = true;
  let firstMessage = true;
  for await (const item of conversations) {
    if (item.kind === 'conversation') {
      yield `${firstConversation ? '' : ','}${JSON.stringify(item.conversation).slice(0, -1)},"messages":[`;
      firstConversation = false;
      firstMessage = true;
    } else if (item.kind === 'message') {
      yield `${firstMessage ? '' : ','}${JSON.stringify(item.message)}`;
      firstMessage = false;
    } else {
      yield ']}';
    }
  }
  yield '],"audit_events":[';
  let firstEvent = true;
  for await (const e of auditEvents) {
    const row = {
      id: String(e.id),
      type: e.type,
      occurred_at: new Date(e.occurred_at).toISOString(),
      ip: e.ip,
      user_agent: e.user_agent,
      request_id: e.request_id,
      email_hash: e.email_hash,
      details: e.details,
    };
    yield `${firstEvent ? '' : ','}${JSON.stringify(row)}`;
    firstEvent = false;
  }
  yield ']}';
}
