/**
 * The bare alternatives the service is compared with, each in its own process (started by
 * bench/lib/baselines.ts):
 *   BASELINE=http  node:http alone answering GET /me with the same JSON, from memory: the runtime's
 *                  own ceiling, so every ratio can be read against it too;
 *   BASELINE=json  bare Koa answering GET /me with the same JSON shape as GET /v1/me, from memory;
 *   BASELINE=sql   bare Koa running the service's own queries (its data-access modules) through the
 *                  service's own pool factory and settings (DATABASE_URL, DB_POOL_MAX,
 *                  DB_ACQUIRE_TIMEOUT_MS): GET /me/:id is GET /v1/me's statement (the account and its MFA flags),
 *                  GET /conversations/:userId is GET /v1/conversations' first page (limit 20).
 * No auth, limits, logging, headers or validation: what a hand-rolled service would do at least.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import Router from '@koa/router';
import Koa from 'koa';
import { createChatRepo } from '../../service/src/components/chat/repo.js';
import { createUsersRepo, toAccountView } from '../../service/src/components/auth/users-repo.js';
import { createDatabase } from '../../service/src/platform/db.js';
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
    ctx.body = { items: rows.slice(0, 20).map(({ id, title, created_at, updated_at }) => ({ id, title, created_at, updated_at })), next_cursor: null };
  });
  close = () => db.close();
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

app.use(router.routes());
const server = createServer(process.env.BASELINE === 'http' ? bareHttp : app.callback());
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  announce(typeof address === 'object' && address ? address.port : 0, async () => {
    server.closeAllConnections();
    await close();
  });
});
