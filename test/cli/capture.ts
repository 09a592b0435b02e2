import { type CliContext, type CliIo, createContext } from '../../cli/src/lib/context.js';
import type { Database } from '../../service/src/platform/db.js';

/** A CliIo whose stdout and stderr are strings the test can read. */
export function captureIo(env: Record<string, string | undefined> = {}, isTTY = false) {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env,
    isTTY,
  };
  return { io, stdout: () => out, stderr: () => err };
}

/**
 * A context over a database the test owns: the command's `close()` is counted instead of performed,
 * so one throwaway database serves several runs and the test can check that every run closed it.
 */
export function contextOver(db: Database, options: { json?: boolean; isTTY?: boolean } = {}) {
  const captured = captureIo({}, options.isTTY ?? false);
  const closes = { count: 0 };
  const borrowed: Database = {
    ...db,
    async close() {
      closes.count += 1;
    },
  };
  const ctx: CliContext = createContext(
    captured.io,
    { json: options.json ?? false, databaseUrl: undefined },
    async () => borrowed,
  );
  return { ctx, closes, stdout: captured.stdout, stderr: captured.stderr };
}
