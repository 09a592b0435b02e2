import type { AuditExportRow } from '../audit/index.js';
import type { AccountProfile } from '../auth/index.js';
import type { ChatExportItem } from '../chat/index.js';

/**
 * The account export as JSON text, produced piece by piece:
 * `{"user":…,"sessions":[…],"conversations":[{…,"messages":[…]},…],"audit_events":[…]}`.
 * Conversations, messages and audit events are read a page at a time, so a long history never sits
 * in memory; the response streams as the pieces come.
 */
export async function* exportDocument(
  profile: AccountProfile,
  conversations: AsyncIterable<ChatExportItem>,
  auditEvents: AsyncIterable<AuditExportRow>,
): AsyncGenerator<string> {
  yield `{"exported_at":${JSON.stringify(new Date().toISOString())},"user":${JSON.stringify(profile.user)},"sessions":${JSON.stringify(profile.sessions)},"conversations":[`;
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
