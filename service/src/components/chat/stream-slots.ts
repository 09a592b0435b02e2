/**
 * Concurrent SSE streams: at most `perUser` per user and `total` per process. `acquire` answers
 * undefined when a cap is reached; otherwise a release function that is safe to call more than once,
 * so the counters stay exact however a stream ends (done, error, client gone, shutdown).
 */
export function createStreamSlots(options: { perUser: number; total: number; onChange?: (active: number) => void }) {
  const byUser = new Map<string, number>();
  let active = 0;
  return {
    acquire(userId: string): (() => void) | undefined {
      const mine = byUser.get(userId) ?? 0;
      if (mine >= options.perUser || active >= options.total) return undefined;
      byUser.set(userId, mine + 1);
      active += 1;
      options.onChange?.(active);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (byUser.get(userId) ?? 1) - 1;
        if (left <= 0) byUser.delete(userId);
        else byUser.set(userId, left);
        active -= 1;
        options.onChange?.(active);
      };
    },
    active: () => active,
    activeFor: (userId: string) => byUser.get(userId) ?? 0,
  };
}

export type StreamSlots = ReturnType<typeof createStreamSlots>;
