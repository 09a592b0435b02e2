import type { Redis } from 'ioredis';

/**
 * Per-user token budgets over the UTC day and the UTC calendar month, reserve then settle.
 *
 * Before a call `reserve` adds the call's estimate (prompt + output cap) to both windows' counters
 * if, and only if, neither would pass its limit — one Lua script, atomic across replicas — so
 * concurrent calls can never overshoot a budget by more than what one call uses beyond its
 * reservation. After the call `settle` moves the counters to the real usage (releasing the rest).
 * A counter that does not exist yet (a new window, a Redis that lost its data) is seeded from the
 * ledger (model_usage), so the counters and the ledger count the same tokens. Without Redis the
 * counters live in memory, per process, seeded the same way.
 */
export interface BudgetLimits {
  /** 0 = unlimited. */
  day: number;
  month: number;
}

export interface BudgetWindows {
  dayId: string;
  monthId: string;
  dayResetsAt: Date;
  monthResetsAt: Date;
}

export interface Reservation {
  readonly amount: number;
  /** Moves the counters from the reservation to `used` tokens; once. */
  settle(used: number): Promise<void>;
}

export type BudgetRefusal = { window: 'day' | 'month'; retryAfterSeconds: number };

export interface ModelBudgetOptions {
  redis?: { client: Redis; available(): boolean };
  keyPrefix?: string;
  now: () => Date;
  /** The user's settled tokens since `since` (the ledger), to seed a missing counter. */
  ledgerSince(userId: string, since: Date): Promise<number>;
}

/**
 * KEYS: day, month. ARGV: amount, day limit, month limit, day ttl s, month ttl s, day seed, month seed
 * ('' = none). → {-1} a counter is missing and no seed was given; {0, day, month} reserved;
 * {1|2, day, month} refused by the day (1) or the month (2).
 */
const RESERVE = `
local function load(key, seed, ttl)
  local v = redis.call('GET', key)
  if v then return tonumber(v) end
  if seed == '' then return nil end
  redis.call('SET', key, seed, 'EX', ttl)
  return tonumber(seed)
end
local d = load(KEYS[1], ARGV[6], ARGV[4])
local m = load(KEYS[2], ARGV[7], ARGV[5])
if d == nil or m == nil then return {-1, 0, 0} end
local amount = tonumber(ARGV[1])
local dl = tonumber(ARGV[2])
local ml = tonumber(ARGV[3])
if ml > 0 and m + amount > ml then return {2, d, m} end
if dl > 0 and d + amount > dl then return {1, d, m} end
redis.call('INCRBY', KEYS[1], amount)
redis.call('INCRBY', KEYS[2], amount)
return {0, d + amount, m + amount}`;

/** KEYS: day, month. ARGV: delta (may be negative). Never below 0; a vanished counter stays vanished (it is re-seeded from the ledger). */
const SETTLE = `
for i = 1, 2 do
  local v = redis.call('GET', KEYS[i])
  if v then
    local n = tonumber(v) + tonumber(ARGV[1])
    if n < 0 then n = 0 end
    redis.call('SET', KEYS[i], n, 'KEEPTTL')
  end
end
return 0`;

const pad = (n: number) => String(n).padStart(2, '0');

/** The UTC day and month a moment falls in, and when each ends. */
export function budgetWindows(now: Date): BudgetWindows {
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  const d = now.getUTCDate();
  return {
    dayId: `${y}${pad(m + 1)}${pad(d)}`,
    monthId: `${y}${pad(m + 1)}`,
    dayResetsAt: new Date(Date.UTC(y, m, d + 1)),
    monthResetsAt: new Date(Date.UTC(y, m + 1, 1)),
  };
}

export const dayStart = (w: BudgetWindows) => new Date(w.dayResetsAt.getTime() - 86_400_000);
export const monthStart = (now: Date) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));

const secondsUntil = (at: Date, now: Date) => Math.max(1, Math.ceil((at.getTime() - now.getTime()) / 1000));

export function createModelBudget(options: ModelBudgetOptions) {
  const prefix = `${options.keyPrefix ?? 'rampart'}:budget`;
  const memory = new Map<string, number>();
  let memoryDay = '';

  function refusal(code: number, w: BudgetWindows, now: Date): BudgetRefusal {
    // The month refusing means the day's reset would not help: the earliest reset that allows the call.
    return code === 2
      ? { window: 'month', retryAfterSeconds: secondsUntil(w.monthResetsAt, now) }
      : { window: 'day', retryAfterSeconds: secondsUntil(w.dayResetsAt, now) };
  }

  async function seeds(userId: string, w: BudgetWindows, now: Date): Promise<[number, number]> {
    return Promise.all([options.ledgerSince(userId, dayStart(w)), options.ledgerSince(userId, monthStart(now))]);
  }

  async function reserveRedis(client: Redis, userId: string, amount: number, limits: BudgetLimits): Promise<Reservation | BudgetRefusal> {
    const now = options.now();
    const w = budgetWindows(now);
    const keys = [`${prefix}:${userId}:d:${w.dayId}`, `${prefix}:${userId}:m:${w.monthId}`];
    const ttls = [secondsUntil(w.dayResetsAt, now) + 3600, secondsUntil(w.monthResetsAt, now) + 3600];
    const run = async (seed: [number, number] | undefined) =>
      (await client.eval(RESERVE, 2, ...keys, amount, limits.day, limits.month, ...ttls, seed?.[0] ?? '', seed?.[1] ?? '')) as number[];
    let [code] = await run(undefined);
    if (code === -1) [code] = await run(await seeds(userId, w, now));
    if (code !== 0) return refusal(Number(code), w, now);
    return reservation(amount, async (used) => {
      // Redis gone since the reservation: the reservation stays counted in full until its window's
      // keys expire — the user is held to a call's cap, never more; the ledger records the real usage
      // and seeds the counters again once they are gone. The reply itself must not fail for it.
      await client.eval(SETTLE, 2, ...keys, used - amount).catch(() => undefined);
    });
  }

  async function reserveMemory(userId: string, amount: number, limits: BudgetLimits): Promise<Reservation | BudgetRefusal> {
    const now = options.now();
    const w = budgetWindows(now);
    if (memoryDay !== w.dayId) {
      // A new day: counters of past windows are never read again.
      for (const key of memory.keys()) if (!key.endsWith(`:d:${w.dayId}`) && !key.endsWith(`:m:${w.monthId}`)) memory.delete(key);
      memoryDay = w.dayId;
    }
    const dayKey = `${userId}:d:${w.dayId}`;
    const monthKey = `${userId}:m:${w.monthId}`;
    if (!memory.has(dayKey) || !memory.has(monthKey)) {
      const [d, m] = await seeds(userId, w, now);
      if (!memory.has(dayKey)) memory.set(dayKey, d);
      if (!memory.has(monthKey)) memory.set(monthKey, m);
    }
    // From here to the increments nothing awaits: the check and the reservation are one step.
    const d = memory.get(dayKey) ?? 0;
    const m = memory.get(monthKey) ?? 0;
    if (limits.month > 0 && m + amount > limits.month) return refusal(2, w, now);
    if (limits.day > 0 && d + amount > limits.day) return refusal(1, w, now);
    memory.set(dayKey, d + amount);
    memory.set(monthKey, m + amount);
    return reservation(amount, async (used) => {
      for (const key of [dayKey, monthKey]) {
        const v = memory.get(key);
        if (v !== undefined) memory.set(key, Math.max(0, v + used - amount));
      }
    });
  }

  return {
    /** Reserves `amount` tokens in both windows, or says which window refused and for how long. */
    async reserve(userId: string, amount: number, limits: BudgetLimits): Promise<Reservation | BudgetRefusal> {
      const redis = options.redis;
      if (redis?.available()) {
        try {
          return await reserveRedis(redis.client, userId, amount, limits);
        } catch {
          // Redis failed mid-call: count in memory, like the rate limits and the gate.
        }
      }
      return reserveMemory(userId, amount, limits);
    },
  };
}

export type ModelBudget = ReturnType<typeof createModelBudget>;

export const isRefusal = (r: Reservation | BudgetRefusal): r is BudgetRefusal => 'window' in r;


/** A reservation whose settlement runs once, however often `settle` is called. */
function reservation(amount: number, settle: (used: number) => Promise<void>): Reservation {
  let settled = false;
  return {
    amount,
    async settle(used) {
      if (settled) return;
      settled = true;
      await settle(used);
    },
  };
}
