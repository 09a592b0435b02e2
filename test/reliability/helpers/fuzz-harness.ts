import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { errorCatalogue } from '../../../service/src/platform/errors.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { api } from '../../helpers/client.js';
import { parseSse } from '../../helpers/sse.js';
import { acceptHeader, contentType, extraHeaders, type Framing, framing, hostileBody, type IdChoice, idChoice, otherMethod, queryString } from './fuzz-inputs.js';
import { HangError, type RawOutcome, rawRequest } from './fuzz-raw-http.js';

/** A response slower than this is a hang (generous: two shared cores, argon2 on the thread pool). */
export const RESPONSE_BOUND_MS = Number(process.env.FUZZ_RESPONSE_BOUND_MS ?? 10_000);
/** Cases per endpoint; FUZZ_RUNS scales it, FUZZ_SEED replays a run. */
export const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 3000);
/**
 * Wall-clock budget per endpoint (ms; 0: none). In `npm test` (CI) the property stops there and
 * passes with the cases it ran (printed), so the suite stays within its time on a busy machine;
 * `npm run test:reliability` sets 0 and runs every case.
 */
export const FUZZ_TIME_LIMIT_MS = Number(process.env.FUZZ_TIME_LIMIT_MS ?? 10_000);
/** Fewer cases than this in the budget is a failure, not a pass: the run proved too little. */
const MIN_CASES = Math.min(FUZZ_RUNS, 300);
export const FUZZ_SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);

export interface Actor {
  email: string;
  password: string;
  userId: string;
  token: string;
  refreshToken: string;
  conversationIds: string[];
  /** The assistant replies in those conversations (one per conversation, same order). */
  replyIds: string[];
  sessionIds: string[];
  /**
   * An access token of another of the actor's sessions whose sign-in is a day old: valid, but not a
   * recent authentication (created for the specs that need one, `recentAuth`).
   */
  staleToken?: string;
}

export interface FuzzWorld {
  t: TestApp;
  port: number;
  victim: Actor;
  /** Every case run so far, per endpoint name. */
  cases: Map<string, number>;
  actor(name: string): Promise<Actor>;
  /**
   * Makes `actor` a new account (its own was deleted, or spent a per-account budget), signed in, with
   * one conversation. Some endpoints need one after most cases, so after the first (a real signup) the
   * account is written straight to the database — verified, with that signup's password hash — and
   * then signed in through the API: the fuzz target is the endpoint, not signup.
   */
  renew(actor: Actor): Promise<void>;
  snapshotVictim(): Promise<string>;
  close(): Promise<void>;
}

/** Actors share one password (the generators know it); the victim's is known to no generator. */
const ACTOR_PASSWORD = 'actor password is long enough 9';
const VICTIM_PASSWORD = 'only the victim knows this phrase 77';

/**
 * The one-time token of the newest `${APP_URL}/<page>?token=…` link mailed to `to`, read from the
 * outbox (the fuzz world sends no mail: its sender is not started, so every mail waits there whole).
 */
export async function mailedToken(t: TestApp, to: string, page: 'verify-email' | 'reset-password' | 'confirm-email'): Promise<string | undefined> {
  await t.deps.auth.settled();
  const row = await t.database.db.knex('mail_outbox').where({ to_address: to }).whereLike('text_body', `%/${page}?token=%`).orderBy('id', 'desc').first('text_body');
  const match = row ? new RegExp(`/${page}\\?token=([A-Za-z0-9_-]+)`).exec(row.text_body as string) : null;
  return match?.[1];
}

/** Signs up (with EMAIL_VERIFICATION=required: 202, then the mailed link, then a login) and returns the account's first token pair. */
async function newAccount(t: TestApp, email: string, password: string): Promise<{ userId: string; token: string; refreshToken: string }> {
  const res = await api(t.baseUrl, 'POST', '/v1/auth/signup', { json: { email, password } });
  if (res.status !== 202) {
    assert.equal(res.status, 201, res.text);
    return { userId: res.body.user.id, token: res.body.access_token, refreshToken: res.body.refresh_token };
  }
  const token = await mailedToken(t, email, 'verify-email');
  assert.ok(token, `no verification link mailed to ${email}`);
  assert.equal((await api(t.baseUrl, 'POST', '/v1/auth/verify-email', { json: { token } })).status, 200);
  const login = await api(t.baseUrl, 'POST', '/v1/auth/login', { json: { email, password } });
  assert.equal(login.status, 200, login.text);
  return { userId: login.body.user.id, token: login.body.access_token, refreshToken: login.body.refresh_token };
}

async function signup(t: TestApp, email: string, password = ACTOR_PASSWORD): Promise<Actor> {
  const account = await newAccount(t, email, password);
  const actor: Actor = { email, password, ...account, conversationIds: [], replyIds: [], sessionIds: [] };
  for (let i = 0; i < 3; i++) await addConversation(t, actor);
  const sessions = await api(t.baseUrl, 'GET', '/v1/auth/sessions', { token: actor.token });
  actor.sessionIds = sessions.body.items.map((s: { id: string }) => s.id);
  return actor;
}

async function addConversation(t: TestApp, actor: Actor): Promise<void> {
  const c = await api(t.baseUrl, 'POST', '/v1/conversations', { token: actor.token, json: { title: `mine ${actor.conversationIds.length}` } });
  assert.equal(c.status, 201, c.text);
  actor.conversationIds.push(c.body.id);
  const m = await api(t.baseUrl, 'POST', `/v1/conversations/${c.body.id}/messages`, { token: actor.token, json: { content: 'hello' } });
  assert.equal(m.status, 201, m.text);
  actor.replyIds.push(m.body.reply.id);
}

/** A new session for an actor whose sessions the fuzzer revoked (logout-all, DELETE /sessions). */
export async function relogin(world: FuzzWorld, actor: Actor): Promise<void> {
  const res = await api(world.t.baseUrl, 'POST', '/v1/auth/login', { json: { email: actor.email, password: actor.password } });
  assert.equal(res.status, 200, res.text);
  actor.token = res.body.access_token;
  actor.refreshToken = res.body.refresh_token;
  const sessions = await api(world.t.baseUrl, 'GET', '/v1/auth/sessions', { token: actor.token });
  actor.sessionIds = sessions.body.items.map((s: { id: string }) => s.id);
}

/**
 * A token for the actor that is valid but not a recent authentication: a new session (a login) whose
 * sign-in is moved a day back, refreshed — a refresh keeps the session's auth_time. undefined when the
 * actor cannot log in (its password was just changed by a case).
 */
async function staleToken(world: FuzzWorld, actor: Actor): Promise<string | undefined> {
  const login = await api(world.t.baseUrl, 'POST', '/v1/auth/login', { json: { email: actor.email, password: actor.password } });
  if (login.status !== 200) return undefined;
  const claims = JSON.parse(Buffer.from(String(login.body.access_token).split('.')[1] ?? '', 'base64url').toString());
  await world.t.database.db.knex('sessions').where({ id: claims.sid }).update({ auth_time: new Date(Date.now() - 24 * 3600 * 1000) });
  const refreshed = await api(world.t.baseUrl, 'POST', '/v1/auth/refresh', { json: { refresh_token: login.body.refresh_token } });
  return refreshed.status === 200 ? refreshed.body.access_token : undefined;
}

/**
 * The app in-process against a throwaway database on the real PostgreSQL, with a victim user whose
 * data no fuzz case may change, and one actor (attacker) per endpoint. `env` adds settings (a suite
 * of the account endpoints runs with EMAIL_VERIFICATION=required).
 */
export async function startFuzzWorld(env: Record<string, string> = {}): Promise<FuzzWorld> {
  // Listens: fuzz cases are raw bytes on a socket (what Node's parser refuses never reaches Koa).
  const t = await startTestApp({ listen: true,
    env: {
      BUILTIN_MODEL_DELAY_MS: '0',
      // Cheap hashes: the fuzzer is after input handling, not password cost (test env only).
      ARGON2_MEMORY_KIB: '1024',
      ARGON2_TIME_COST: '1',
      ABUSE_BLOCK_AFTER_REJECTIONS: '100000000',
      LOG_LEVEL: 'error',
      MAX_STREAMS_PER_USER: '1000',
      // The mail-sending routes (resend, reset, email change) are fuzzed from one IP at a few
      // addresses: their limits must not turn every case into a 429. Step-up is judged per case (a
      // recent token, a stale one) rather than by how long the run has lasted.
      RATE_LIMIT_MAIL_PER_HOUR: '1000',
      RATE_LIMIT_MAIL_IP_PER_HOUR: '100000000',
      REAUTH_MAX_AGE_SECONDS: '3600',
      ...env,
    },
  });
  const port = Number(new URL(t.baseUrl).port);
  const victim = await signup(t, 'victim@example.com', VICTIM_PASSWORD);
  const knex = t.database.db.knex;
  const actors = new Map<string, Actor>();
  let renewals = 0;
  let actorPasswordHash: string | undefined;
  return {
    t,
    port,
    victim,
    cases: new Map(),
    async actor(name) {
      let a = actors.get(name);
      if (!a) {
        a = await signup(t, `actor-${name.replace(/[^a-z0-9]+/gi, '-')}@example.com`);
        actors.set(name, a);
      }
      return a;
    },
    async renew(actor) {
      renewals++;
      const email = `actor-renewed-${renewals}-${process.pid}@example.com`;
      let account: { userId: string; token: string; refreshToken: string };
      if (actorPasswordHash === undefined) {
        account = await newAccount(t, email, ACTOR_PASSWORD);
        actorPasswordHash = (await knex('users').where({ id: account.userId }).first('password_hash'))?.password_hash as string;
      } else {
        await knex('users').insert({ email, password_hash: actorPasswordHash, email_verified_at: new Date() });
        const login = await api(t.baseUrl, 'POST', '/v1/auth/login', { json: { email, password: ACTOR_PASSWORD } });
        assert.equal(login.status, 200, login.text);
        account = { userId: login.body.user.id, token: login.body.access_token, refreshToken: login.body.refresh_token };
      }
      Object.assign(actor, { email, password: ACTOR_PASSWORD, ...account, conversationIds: [], replyIds: [], sessionIds: [], staleToken: undefined });
      await addConversation(t, actor);
    },
    async snapshotVictim() {
      const id = victim.userId;
      const [user, sessions, tokens, conversations, messages] = await Promise.all([
        knex('users').where({ id }).select('email', 'password_hash', 'updated_at', 'email_verified_at'),
        knex('sessions').where({ user_id: id }).orderBy('id').select('id', 'revoked_at', 'expires_at', 'last_used_at'),
        knex('refresh_tokens').join('sessions', 'sessions.id', 'refresh_tokens.session_id').where('sessions.user_id', id).orderBy('refresh_tokens.id').select('refresh_tokens.id', 'refresh_tokens.rotated_at'),
        knex('conversations').where({ user_id: id }).orderBy('id').select('id', 'title', 'updated_at'),
        knex('messages').join('conversations', 'conversations.id', 'messages.conversation_id').where('conversations.user_id', id).orderBy('messages.id').select('messages.id', 'messages.content', 'messages.status'),
      ]);
      return JSON.stringify({ user, sessions, tokens, conversations, messages });
    },
    close: () => t.close(),
  };
}

export interface EndpointSpec {
  name: string;
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Path with `{id}` where an id goes (and `{message_id}`: a reply's id, drawn like `{id}`). */
  path: string;
  /** Which ids `{id}` is drawn from. */
  ids?: 'conversation' | 'session' | 'passkey';
  authenticated: boolean;
  /** JSON fields of the body (empty: the route takes none, bodies are still sent). */
  fields: readonly string[];
  plausible?: fc.Arbitrary<Record<string, unknown>>;
  query?: boolean;
  /** The case may have revoked the actor's session: log in again after a 2xx. */
  revokesOwnSession?: boolean;
  /** Bookkeeping after a 2xx answer (e.g. the actor's password changed). */
  onSuccess?: (actor: Actor, sentBody: Buffer | undefined) => void;
  /**
   * The route needs a recent authentication (step-up): cases also carry a valid but stale token
   * (`Actor.staleToken`), which must be refused with 401 reauthentication_required.
   */
  recentAuth?: boolean;
  /**
   * Where `LIVE_TOKEN` appears in a body, a one-time token really mailed for the case is put instead
   * (see `liveToken`): the cases that keep it reach the flow's success path.
   */
  liveToken?: LiveTokenKind;
  /**
   * A case can end the actor's account (DELETE /v1/me, also reached from GET /v1/me with another
   * method): before each case, a deleted actor becomes a new account.
   */
  deletesAccount?: boolean;
  /** The route spends a per-account budget (exports, failed step-ups): after a 429 on the actor's own token, the actor becomes a new account. */
  perAccountBudget?: boolean;
}

/** A placeholder in generated bodies for a live one-time token (plain ASCII, so it survives JSON). */
export const LIVE_TOKEN = 'live-one-time-token-placeholder';

export type LiveTokenKind = 'verify-email' | 'reset-password' | 'confirm-email';

interface LiveToken {
  token: string;
  /** What a 2xx answer to the case that used it changed, told to the actor (async: it may log in again). */
  onSuccess?: (sentBody: Buffer) => Promise<void>;
}

let liveAccounts = 0;
/** Per world, the address of an account whose verification links the live verify-email tokens are (until one is followed). */
const unverifiedAccounts = new WeakMap<FuzzWorld, string>();

/**
 * A one-time token really mailed (read from the outbox): verify-email — a new link (a resend) for an
 * account still unverified, a new signup once the last one was verified;
 * reset-password — a reset the actor asked for (success: the actor's password is the case's, every
 * session revoked: log in again); confirm-email — an email change of the actor to a new address
 * (success: the actor's address is that one). undefined when the flow would not issue one now.
 */
async function liveToken(world: FuzzWorld, actor: Actor, kind: LiveTokenKind): Promise<LiveToken | undefined> {
  const base = world.t.baseUrl;
  switch (kind) {
    case 'verify-email': {
      let email = unverifiedAccounts.get(world);
      const user = email ? await world.t.database.db.knex('users').where({ email }).first('email_verified_at') : undefined;
      if (email && user && user.email_verified_at === null) {
        if ((await api(base, 'POST', '/v1/auth/verify-email/resend', { json: { email } })).status !== 202) return undefined;
      } else {
        email = `live-${++liveAccounts}-${process.pid}@example.com`;
        const res = await api(base, 'POST', '/v1/auth/signup', { json: { email, password: ACTOR_PASSWORD } });
        if (res.status !== 202 && res.status !== 201) return undefined;
        unverifiedAccounts.set(world, email);
      }
      const token = await mailedToken(world.t, email, 'verify-email');
      return token ? { token } : undefined;
    }
    case 'reset-password': {
      const res = await api(base, 'POST', '/v1/auth/password-reset', { json: { email: actor.email } });
      if (res.status !== 202) return undefined;
      const token = await mailedToken(world.t, actor.email, 'reset-password');
      if (!token) return undefined;
      return {
        token,
        async onSuccess(sentBody) {
          actor.password = JSON.parse(sentBody.toString('utf8')).new_password;
          actor.staleToken = undefined;
          // The password as the server read it may differ from ours (bytes that are not UTF-8): then a new account.
          const login = await api(base, 'POST', '/v1/auth/login', { json: { email: actor.email, password: actor.password } });
          if (login.status === 200) await relogin(world, actor);
          else await world.renew(actor);
        },
      };
    }
    case 'confirm-email': {
      const email = `moved-${++liveAccounts}-${process.pid}@example.com`;
      const res = await api(base, 'POST', '/v1/auth/email', { json: { new_email: email }, token: actor.token });
      if (res.status !== 202) return undefined;
      const token = await mailedToken(world.t, email, 'confirm-email');
      if (!token) return undefined;
      return {
        token,
        async onSuccess() {
          actor.email = email;
        },
      };
    }
  }
}

const authChoice = fc.oneof(
  { arbitrary: fc.constant<'own'>('own'), weight: 10 },
  {
    arbitrary: fc.constantFrom<'none' | 'garbage' | 'alg-none' | 'tampered' | 'basic' | 'victim-refresh-as-bearer'>(
      'none',
      'garbage',
      'alg-none',
      'tampered',
      'basic',
      'victim-refresh-as-bearer',
    ),
    weight: 2,
  },
);

interface FuzzCase {
  method: string | undefined;
  id: IdChoice;
  /** For a path with `{message_id}`. */
  messageId: IdChoice;
  query: string;
  auth: 'own' | 'stale' | 'none' | 'garbage' | 'alg-none' | 'tampered' | 'basic' | 'victim-refresh-as-bearer';
  contentType: string | undefined;
  accept: string | undefined;
  extra: { headers: [string, string][]; malformed: boolean };
  body: Buffer | undefined;
  framing: Framing;
  keepAlive: boolean;
}

/** For routes that need a recent authentication: the actor's stale token too. */
const recentAuthChoice = fc.oneof({ arbitrary: authChoice, weight: 6 }, { arbitrary: fc.constant<'stale'>('stale'), weight: 1 });

function caseArbitrary(spec: EndpointSpec): fc.Arbitrary<FuzzCase> {
  const plausible = spec.plausible ?? fc.constant({});
  return fc.record({
    method: otherMethod,
    id: idChoice,
    messageId: idChoice,
    query: spec.query ? queryString : fc.constant(''),
    auth: spec.recentAuth ? recentAuthChoice : authChoice,
    contentType,
    accept: acceptHeader,
    extra: extraHeaders,
    body: hostileBody(spec.fields, plausible),
    framing,
    keepAlive: fc.boolean(),
  });
}

function resolveId(world: FuzzWorld, actor: Actor, spec: EndpointSpec, id: IdChoice): string {
  if (id.kind === 'literal') return id.segment;
  const owner = id.kind === 'own' ? actor : world.victim;
  // Actors hold no passkeys: a passkey id is a made-up one or a hostile segment (another user's would be 404 too).
  const pool = spec.ids === 'session' ? owner.sessionIds : spec.ids === 'passkey' ? [] : owner.conversationIds;
  return pool.length ? (pool[id.index % pool.length] as string) : '00000000-0000-4000-8000-000000000000';
}

/** A reply id for `{message_id}`: the actor's own, the victim's (404 either way in another conversation), or a literal segment. */
function resolveReplyId(world: FuzzWorld, actor: Actor, id: IdChoice): string {
  if (id.kind === 'literal') return id.segment;
  const pool = (id.kind === 'own' ? actor : world.victim).replyIds;
  return pool.length ? (pool[id.index % pool.length] as string) : '00000000-0000-4000-8000-000000000000';
}

function bearer(world: FuzzWorld, actor: Actor, auth: FuzzCase['auth']): string | undefined {
  switch (auth) {
    case 'own':
      return `Bearer ${actor.token}`;
    case 'stale':
      return `Bearer ${actor.staleToken ?? actor.token}`;
    case 'none':
      return undefined;
    case 'garbage':
      return 'Bearer not.a.jwt';
    case 'basic':
      return `Basic ${Buffer.from('victim@example.com:x').toString('base64')}`;
    case 'victim-refresh-as-bearer':
      return `Bearer ${world.victim.refreshToken}`;
    case 'alg-none': {
      const [, payload] = actor.token.split('.');
      const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url');
      return `Bearer ${header}.${payload}.`;
    }
    case 'tampered': {
      // The actor's own token with the victim as subject: the signature no longer matches.
      const [header, payload, signature] = actor.token.split('.');
      const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString());
      claims.sub = world.victim.userId;
      return `Bearer ${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
    }
  }
}

/** The bytes of one request and whether it is still valid HTTP/1.1 (else Node's parser answers, not the app). */
function build(world: FuzzWorld, actor: Actor, spec: EndpointSpec, c: FuzzCase): { bytes: Buffer; malformed: boolean; endAfterWrite: boolean } {
  const method = c.method ?? spec.method;
  const path = spec.path.replace('{id}', resolveId(world, actor, spec, c.id)).replace('{message_id}', resolveReplyId(world, actor, c.messageId)) + c.query;
  const lines = [`${method} ${path} HTTP/1.1`, `Host: 127.0.0.1:${world.port}`];
  if (!c.keepAlive) lines.push('Connection: close');
  const authorization = bearer(world, actor, c.auth);
  if (authorization) lines.push(`Authorization: ${authorization}`);
  if (c.contentType !== undefined && c.body !== undefined) lines.push(`Content-Type: ${c.contentType}`);
  if (c.accept !== undefined) lines.push(`Accept: ${c.accept}`);
  for (const [name, value] of c.extra.headers) lines.push(`${name}: ${value}`);
  let malformed = c.extra.malformed || path.length > 8000;
  let endAfterWrite = false;
  let body = c.body ?? Buffer.alloc(0);
  if (c.body !== undefined) {
    switch (c.framing) {
      case 'exact':
        lines.push(`Content-Length: ${body.length}`);
        break;
      case 'no-length':
        // No framing: the body bytes become the start of a (garbage) next request.
        break;
      case 'chunked':
        lines.push('Transfer-Encoding: chunked');
        body = body.length ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]) : Buffer.from('0\r\n\r\n');
        break;
      case 'short':
        lines.push(`Content-Length: ${Math.floor(body.length / 2)}`);
        break;
      case 'long':
        lines.push(`Content-Length: ${body.length + 10}`);
        endAfterWrite = true;
        break;
      case 'huge':
        lines.push('Content-Length: 99999999999999999999');
        endAfterWrite = true;
        break;
      case 'garbage':
        lines.push('Content-Length: 12abc');
        malformed = true;
        break;
      case 'conflicting':
        lines.push(`Content-Length: ${body.length}`, `Content-Length: ${body.length + 1}`);
        malformed = true;
        break;
    }
  }
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return { bytes: Buffer.concat([head, body]), malformed, endAfterWrite };
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The invariants every answer must keep. Throws (with the reason) when one is broken. */
export function checkOutcome(outcome: RawOutcome, malformed: boolean, framingMode: Framing): void {
  if (outcome.kind === 'closed') {
    // Only a client that declared more body than it sent, then hung up, may see the connection closed unanswered.
    assert.ok(framingMode === 'long' || framingMode === 'huge', `connection closed without a response after ${outcome.elapsedMs.toFixed(0)} ms (malformed: ${malformed})`);
    return;
  }
  const r = outcome.response;
  assert.ok(r.elapsedMs < RESPONSE_BOUND_MS, `response took ${r.elapsedMs.toFixed(0)} ms`);
  assert.ok(r.status < 500, `server error ${r.status}: ${r.body.toString('utf8').slice(0, 500)}`);
  // Requests Node's parser refuses before Koa sees them get the same problem+json (server.ts clientError).
  const requestId = r.headers['x-request-id'] ?? '';
  assert.match(requestId, REQUEST_ID, `response ${r.status} without a request id`);
  const type = r.headers['content-type'] ?? '';
  if (r.status >= 400) {
    assert.match(type, /^application\/problem\+json/, `error ${r.status} with Content-Type ${type}`);
    const problem = JSON.parse(r.body.toString('utf8'));
    assert.ok(Object.hasOwn(errorCatalogue, problem.code), `unknown code ${problem.code}`);
    assert.equal(problem.status, r.status);
    assert.equal(problem.request_id, requestId);
    assert.equal(typeof problem.title, 'string');
    return;
  }
  if (r.status === 204 || r.body.length === 0) return;
  if (/^text\/event-stream/.test(type)) {
    const { events } = parseSse(r.body.toString('utf8'));
    const last = events.at(-1);
    assert.ok(last && (last.event === 'done' || last.event === 'error'), 'stream did not end with done or error');
    if (last.event === 'error') assert.notEqual(last.data.code, 'internal_error', 'stream ended with internal_error');
    return;
  }
  assert.match(type, /^application\/json/, `success ${r.status} with Content-Type ${type}`);
  JSON.parse(r.body.toString('utf8'));
}

/**
 * Runs the property for one endpoint: every generated case must keep the invariants; afterwards the
 * victim's data is unchanged and /healthz answers 200. The seed is printed up front and on failure.
 */
export async function fuzzEndpoint(tc: TestContext, world: FuzzWorld, spec: EndpointSpec, numRuns = FUZZ_RUNS): Promise<void> {
  const actor = await world.actor(spec.name);
  const before = await world.snapshotVictim();
  const logLinesBefore = world.t.logLines.length;
  let cases = 0;
  let liveTokensUsed = 0;
  let staleRefused = 0;
  const statuses = new Map<string, number>();
  const knex = world.t.database.db.knex;
  const property = fc.asyncProperty(caseArbitrary(spec), async (generated) => {
    cases++;
    let c = generated;
    // A case may have deleted the actor without our seeing its answer (an unframed body).
    if (spec.deletesAccount && !(await knex('users').where({ id: actor.userId }).first('id'))) await world.renew(actor);
    if (c.auth === 'stale' && !actor.staleToken) actor.staleToken = await staleToken(world, actor);
    let live: LiveToken | undefined;
    if (spec.liveToken && c.body?.includes(LIVE_TOKEN)) {
      live = await liveToken(world, actor, spec.liveToken);
      if (live) {
        liveTokensUsed++;
        c = { ...c, body: Buffer.from(c.body.toString('latin1').replaceAll(LIVE_TOKEN, live.token), 'latin1') };
      }
    }
    const { bytes, malformed, endAfterWrite } = build(world, actor, spec, c);
    let outcome: RawOutcome;
    try {
      outcome = await rawRequest({ port: world.port, bytes, endAfterWrite, timeoutMs: RESPONSE_BOUND_MS });
    } catch (err) {
      if (err instanceof HangError) assert.fail(`hang: ${err.message}`);
      throw err;
    }
    checkOutcome(outcome, malformed, c.body === undefined ? 'exact' : c.framing);
    const key = outcome.kind === 'closed' ? 'closed' : String(outcome.response.status);
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
    const sameRoute = (c.method ?? spec.method) === spec.method;
    // Unframed body bytes become a second, malformed request on the connection. Node answers that one
    // with 400 at once and closes (as its default clientError handler does), while the first request
    // may still run to the end: its effect is unknown, so an actor who may have lost its session logs in again.
    // (Should it still revoke after the new login, later cases see 401 until the next success: less
    // coverage, never a false failure.)
    if (spec.revokesOwnSession && c.auth === 'own' && c.body !== undefined && (c.framing === 'no-length' || c.framing === 'short')) {
      await sleep(25);
      await relogin(world, actor);
    }
    if (spec.recentAuth && c.auth === 'stale' && actor.staleToken && sameRoute && outcome.kind === 'response') {
      assert.ok(outcome.response.status >= 300, `a token without a recent authentication passed step-up (${outcome.response.status})`);
      if (outcome.response.status === 401 && outcome.response.headers['www-authenticate']?.includes('insufficient_user_authentication')) staleRefused++;
    }
    if (spec.perAccountBudget && c.auth === 'own' && sameRoute && outcome.kind === 'response' && outcome.response.status === 429) await world.renew(actor);
    if (outcome.kind === 'response' && outcome.response.status < 300 && sameRoute) {
      const framed = c.framing === 'exact' || c.framing === 'chunked' || c.body === undefined;
      if (framed) spec.onSuccess?.(actor, c.body);
      if (framed && live?.onSuccess && c.body) await live.onSuccess(c.body);
      if (spec.revokesOwnSession && c.auth === 'own') await relogin(world, actor);
      if (spec.ids === 'conversation' && actor.conversationIds.length < 2) await addConversation(world.t, actor);
      if (spec.method === 'DELETE' && spec.ids === 'conversation' && c.id.kind === 'own') {
        const deleted = resolveId(world, actor, spec, c.id);
        actor.replyIds = actor.replyIds.filter((_, i) => actor.conversationIds[i] !== deleted);
        actor.conversationIds = actor.conversationIds.filter((x) => x !== deleted);
        if (actor.conversationIds.length < 2) await addConversation(world.t, actor);
      }
    }
  });
  // Endpoints that revoke the caller's own session log in again after each such case: a longer
  // budget, so that they too run thousands of cases in CI. (DELETE /v1/me needs a new account after
  // most cases, but `renew` is cheap enough that it runs hundreds of cases in the usual budget.)
  const budgetMs = FUZZ_TIME_LIMIT_MS > 0 && spec.revokesOwnSession ? FUZZ_TIME_LIMIT_MS * 3 : FUZZ_TIME_LIMIT_MS;
  tc.diagnostic(`${spec.name}: FUZZ_SEED=${FUZZ_SEED} runs=${numRuns} budget=${budgetMs || 'none'} ms`);
  try {
    await fc.assert(property, {
      numRuns,
      seed: FUZZ_SEED,
      endOnFailure: process.env.FUZZ_SHRINK !== '1',
      includeErrorInReport: true,
      ...(budgetMs > 0 ? { interruptAfterTimeLimit: budgetMs, markInterruptAsFailure: false } : {}),
    });
  } catch (err) {
    throw new Error(`${spec.name}: property failed — replay with FUZZ_SEED=${FUZZ_SEED} (FUZZ_SHRINK=1 to shrink)\n${(err as Error).message}`, { cause: err });
  } finally {
    world.cases.set(spec.name, (world.cases.get(spec.name) ?? 0) + cases);
  }
  assert.ok(cases >= MIN_CASES, `${spec.name}: only ${cases} cases ran within ${budgetMs} ms`);
  // The work the mail-sending routes do after their answer failed for no case (it is logged, never answered).
  await world.t.deps.auth.settled();
  const failed = world.t.logLines.slice(logLinesBefore).filter((l) => l.msg === 'deferred work failed');
  assert.deepEqual(failed, [], `${spec.name}: after-answer work failed`);
  assert.equal(await world.snapshotVictim(), before, `${spec.name}: the victim's data changed`);
  const health = await fetch(`${world.t.baseUrl}/healthz`);
  assert.equal(health.status, 200);
  await health.arrayBuffer();
  const spread = [...statuses].sort().map(([k, n]) => `${k}×${n}`).join(' ');
  const extra = [spec.liveToken ? `${liveTokensUsed} with a live ${spec.liveToken} token` : '', spec.recentAuth ? `${staleRefused} stale tokens refused with the step-up challenge` : ''].filter(Boolean).join(', ');
  tc.diagnostic(`${spec.name}: ${cases} cases${extra ? ` (${extra})` : ''}, invariants held (${spread})`);
}

/** One test per endpoint, sharing one app, database and victim (`env`: settings for this suite's app). */
export function fuzzSuite(title: string, specs: EndpointSpec[], options: { env?: Record<string, string> } = {}): void {
  describe(title, () => {
    let world: FuzzWorld;
    before(async () => {
      world = await startFuzzWorld(options.env);
    });
    after(() => world.close());
    for (const spec of specs) {
      it(`${spec.method} ${spec.path} (${spec.name}) keeps every invariant`, (tc) => fuzzEndpoint(tc, world, spec));
    }
  });
}
