/**
 * The bare alternatives the service is compared with, each in its own process (started by
 * bench/lib/baselines.ts):
 *   BASELINE=http  node:http alone answering GET /me with the same JSON, from memory: the runtime's
 *                  own ceiling, so every ratio can be read against it too;
 *   BASELINE=json  bare Koa answering GET /me with the same JSON shape as GET /v1/me, from memory;
 *   BASELINE=sql   bare Koa running the service's own queries (its data-access modules) through the
 *                  service's own pool factory and settings (DATABASE_URL, DB_POOL_MAX,
 *                  DB_ACQUIRE_TIMEOUT_MS): GET /me/:id is GET /v1/me's statement (the account and its MFA flags),
 *                  GET /conversations/:userId is GET /v1/conversations' first page (limit 20);
 *                  POST /login is a password login's own work and nothing else: the account read
 *                  POST /v1/auth/login runs (users-repo.ts findForLogin), the verify on the service's
 *                  hashing threads (passwords.ts, at the same count and nice value), the login's writes
 *                  (sessions-repo.ts openPasswordLogin: the session, its refresh token, a new device
 *                  token, the caps) and a signed access token (access-tokens.ts).
 * No auth, limits, lockout, audit, logging, headers or validation: what a hand-rolled service would do
 * at least.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import Router from '@koa/router';
import Koa from 'koa';
import { createChatRepo } from '../../service/src/components/chat/repo.js';
import { createAccessTokens } from '../../service/src/components/auth/access-tokens.js';
import { MAX_DEVICES_PER_USER, newDeviceToken } from '../../service/src/components/auth/device-tokens.js';
import { keyringFromSecret } from '../../service/src/components/auth/keyring.js';
import { createPasswordHasher } from '../../service/src/components/auth/passwords.js';
import { generateRefreshToken, hashRefreshToken } from '../../service/src/components/auth/refresh-tokens.js';
import { createSessionsRepo } from '../../service/src/components/auth/sessions-repo.js';
import { createUsersRepo, toAccountView } from '../../service/src/components/auth/users-repo.js';
import { createDatabase } from '../../service/src/platform/db.js';
import { systemClock } from '../../service/src/platform/clock.js';
import { envSchema } from '../../service/src/public/config.js';
import { argon2Settings } from './baselines.js';
import { announce } from './child.js';

const ME = { id: '00000000-0000-4000-8000-000000000000', email: 'bench@example.com', created_at: new Date().toISOString() };
const app = new Koa();
const router = new Router();
let close: () => Promise<void> = async () => {};

if (process.env.BASELINE === 'sql') {
  const db = createDatabase({
    url: process.env.DATABASE_URL,
    poolMax: Number(process.env.DB_POOL_MAX ?? 10),
    acquireTimeoutMs: Number(process.env.DB_ACQUIRE_TIMEOUT_MS ?? 5000),
    statementTimeoutMs: 15_000,
  });
  const users = createUsersRepo(db.knex);
  const chat = createChatRepo(db.knex);
  router.get('/me/:id', async (ctx) => {
    // The statement GET /v1/me runs (users-repo.ts's accountView), through the same pool.
    const row = await users.accountView(ctx.params.id as string);
    if (row) ctx.body = toAccountView(row);
    else ctx.status = 404;
  });
  router.get('/conversations/:userId', async (ctx) => {
    const rows = await chat.listConversations(ctx.params.userId as string, 21);
    ctx.body = {
      items: rows.slice(0, 20).map(({ id, title, created_at, updated_at }) => ({ id, title, created_at, updated_at })),
      next_cursor: null,
    };
  });
  // POST /login: a password login's own work (see above), at the service's Argon2 settings and
  // hashing threads, and its session settings as the service reads them from this environment.
  const argon = argon2Settings();
  const tokens = envSchema.parse(
    Object.fromEntries(
      ['MAX_SESSIONS_PER_USER', 'REFRESH_TOKEN_TTL_SECONDS', 'SESSION_MAX_AGE_SECONDS', 'ACCESS_TOKEN_TTL_SECONDS'].flatMap(
        (k) => (process.env[k] === undefined ? [] : [[k, process.env[k]]]),
      ),
    ),
  );
  // A refresh token issued at login lasts the idle limit, never past the session's absolute end (session-opening.ts).
  const refreshSeconds = Math.min(tokens.REFRESH_TOKEN_TTL_SECONDS, tokens.SESSION_MAX_AGE_SECONDS);
  const hasher = createPasswordHasher({
    policy: { memoryKiB: argon.memoryCost, timeCost: argon.timeCost, parallelism: argon.parallelism },
    maxConcurrent: argon.concurrency,
    maxQueue: 1000,
    threadNice: argon.nice,
  });
  const sessions = createSessionsRepo(db.knex);
  const keyring = await keyringFromSecret(randomBytes(64)); // HS256, as the bench service signs (JWT_SECRET)
  const accessTokens = createAccessTokens({
    keyring: () => keyring,
    issuer: 'bench',
    audience: 'bench',
    ttlSeconds: tokens.ACCESS_TOKEN_TTL_SECONDS,
    clock: systemClock,
  });
  router.post('/login', async (ctx) => {
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
    const { email, password } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { email: string; password: string };
    const found = await users.findForLogin(email);
    if (!found || !(await hasher.verify(found.user.password_hash, password))) {
      ctx.status = 401;
      return;
    }
    const refreshToken = generateRefreshToken();
    const device = newDeviceToken();
    const now = systemClock.now();
    const write = await sessions.openPasswordLogin({
      userId: found.user.id,
      passwordHash: found.user.password_hash,
      ip: ctx.ip,
      userAgent: ctx.get('user-agent') || null,
      expiresAt: new Date(now.getTime() + refreshSeconds * 1000),
      refreshHash: hashRefreshToken(refreshToken),
      authTime: now,
      amr: ['pwd'],
      now,
      maxSessions: tokens.MAX_SESSIONS_PER_USER,
      deviceHash: device.hash,
      maxDevices: MAX_DEVICES_PER_USER,
    });
    if (write.outcome !== 'opened') {
      ctx.status = 409;
      return;
    }
    const authentication = { authTime: now, amr: ['pwd'] };
    ctx.body = {
      access_token: await accessTokens.issue(found.user.id, write.sessionId, authentication),
      refresh_token: refreshToken,
      token_type: 'Bearer',
      expires_in: tokens.ACCESS_TOKEN_TTL_SECONDS,
      device_token: device.token,
    };
  });
  close = async () => {
    await hasher.close();
    await db.close();
  };
} else {
  router.get('/me', (ctx) => {
    ctx.body = ME;
  });
}

/** node:http's whole request handling for the same answer: what Koa and everything above it add to. */
function bareHttp(req: IncomingMessage, res: ServerResponse) {
  if (req.method === 'GET' && req.url === '/me') {
    const body = JSON.stringify(ME);
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  } else {
    res.statusCode = 404;
    res.end();
  }
}

// Requests still running when the bench stops this server (a load run's last ones, whose sockets
// are closed under them) finish, for up to 10 s, before the pool and the hashing threads close, so
// none of them fails against a closed pool or a terminated thread.
let running = 0;
let drained: (() => void) | undefined;
app.use(async (_ctx, next) => {
  running += 1;
  try {
    await next();
  } finally {
    running -= 1;
    if (running === 0) drained?.();
  }
});
app.use(router.routes());
const server = createServer(process.env.BASELINE === 'http' ? bareHttp : app.callback());
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  announce(typeof address === 'object' && address ? address.port : 0, async () => {
    server.close();
    server.closeAllConnections();
    // Bounded: a request that never ends cannot keep the bench waiting.
    if (running > 0) {
      await new Promise<void>((resolve) => {
        drained = resolve;
        setTimeout(resolve, 10_000).unref();
      });
    }
    await close();
  });
});
