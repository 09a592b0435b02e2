import { main } from '../../cli/src/main.js';
import type { Database } from '../../service/src/platform/db.js';
import { type FakeClock, fakeClock, type InProcessTestApp, startTestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { captureIo } from './capture.js';

/**
 * What the operator-command tests share (`secops users`, `secops sessions`): two replicas of the app on
 * one database — the second with a clock the test moves past the session guard's 1 s bound — and
 * `secops` run in process over that database with the service's audit key and an operator name.
 */

/** The service's audit key, shared by the two replicas and the CLI. */
export const AUDIT_KEY = Buffer.alloc(32, 9).toString('base64url');
export const OPERATOR_ENV = { AUDIT_HASH_KEY: AUDIT_KEY, USER: 'oncall-olga' };

/** `secops …` in process over the test's database (its close is left to the test). */
export async function secops(db: Database, argv: string[], env: Record<string, string | undefined> = OPERATOR_ENV) {
  const { io, stdout, stderr } = captureIo(env);
  const borrowed: Database = { ...db, close: async () => undefined };
  const code = await main(argv, io, { openDatabase: async () => borrowed });
  return { code, stdout: stdout(), stderr: stderr() };
}

export async function auditRows(db: Database, type: string): Promise<{ user_id: string | null; email_hash: string | null; details: Record<string, unknown> }[]> {
  return db.knex('audit_events').select('user_id', 'email_hash', 'details').where({ type }).orderBy('id');
}

export interface TwoReplicas {
  readonly database: TestDatabase;
  readonly a: InProcessTestApp;
  readonly b: InProcessTestApp;
  readonly clockB: FakeClock;
  close(): Promise<void>;
}

export async function twoReplicas(): Promise<TwoReplicas> {
  const database = await createTestDatabase();
  const clockB = fakeClock();
  const a = await startTestApp({ database, env: { AUDIT_HASH_KEY: AUDIT_KEY } });
  const b = await startTestApp({ database, clock: clockB, env: { AUDIT_HASH_KEY: AUDIT_KEY } });
  return {
    database,
    a,
    b,
    clockB,
    async close() {
      await a.close();
      await b.close();
      await database.drop();
    },
  };
}
