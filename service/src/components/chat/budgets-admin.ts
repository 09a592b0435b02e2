import type { Knex } from '../../platform/db.js';

/**
 * What operators do with model budgets and usage, as plain functions over the database (the CLI):
 * a user's override of MODEL_TOKENS_PER_DAY / _PER_MONTH (read by the gate before every call, on
 * every replica: a change applies to the next call), and the usage ledger summed over a period.
 */
export interface BudgetOverride {
  /** null: the setting applies; 0: unlimited. */
  tokens_per_day: number | null;
  tokens_per_month: number | null;
  updated_at: string | null;
  updated_by: string | null;
}

const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));

export async function budgetOverrideOf(knex: Knex, userId: string): Promise<BudgetOverride> {
  const row = await knex('model_budgets').where({ user_id: userId }).first();
  return {
    tokens_per_day: n(row?.tokens_per_day),
    tokens_per_month: n(row?.tokens_per_month),
    updated_at: row ? new Date(row.updated_at).toISOString() : null,
    updated_by: row?.updated_by ?? null,
  };
}

/**
 * Sets the given windows (`undefined`: left as they are; `null`: back to the setting). A row whose
 * windows are both null is removed. Runs in `trx` so the caller's audit row commits with it.
 */
export async function setBudgetOverride(
  trx: Knex,
  userId: string,
  change: { day?: number | null; month?: number | null },
  operator: string,
  now: Date,
): Promise<{ before: BudgetOverride; after: BudgetOverride }> {
  const before = await budgetOverrideOf(trx, userId);
  const day = change.day === undefined ? before.tokens_per_day : change.day;
  const month = change.month === undefined ? before.tokens_per_month : change.month;
  if (day === null && month === null) await trx('model_budgets').where({ user_id: userId }).delete();
  else {
    await trx('model_budgets')
      .insert({ user_id: userId, tokens_per_day: day, tokens_per_month: month, updated_at: now, updated_by: operator })
      .onConflict('user_id')
      .merge();
  }
  return { before, after: await budgetOverrideOf(trx, userId) };
}

export interface UsageReportRow {
  /** The user id or the model (`provider/model`), by `by`. */
  key: string;
  calls: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Calls whose tokens were estimated (the provider reported no usage). */
  estimated_calls: number;
  failed_calls: number;
}

/** The ledger between `from` (inclusive) and `to` (exclusive), per user or per provider/model, biggest first. */
export async function usageReport(knex: Knex, options: { from: Date; to: Date; by: 'user' | 'model' }): Promise<UsageReportRow[]> {
  const key = options.by === 'user' ? knex.raw('user_id::text') : knex.raw("provider || '/' || model");
  const rows = (await knex('model_usage')
    .select({ key })
    .count({ calls: '*' })
    .sum({ prompt_tokens: 'prompt_tokens', completion_tokens: 'completion_tokens' })
    .select(knex.raw('count(*) filter (where estimated) as estimated_calls'), knex.raw("count(*) filter (where outcome <> 'ok') as failed_calls"))
    .where('created_at', '>=', options.from)
    .andWhere('created_at', '<', options.to)
    .groupByRaw('1')
    .orderByRaw('sum(prompt_tokens + completion_tokens) desc, 1')) as Record<string, unknown>[];
  return rows.map((r) => {
    const prompt = Number(r.prompt_tokens ?? 0);
    const completion = Number(r.completion_tokens ?? 0);
    return {
      key: String(r.key),
      calls: Number(r.calls),
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: prompt + completion,
      estimated_calls: Number(r.estimated_calls),
      failed_calls: Number(r.failed_calls),
    };
  });
}

/** A user's settled tokens in the current UTC day and month (what GET /v1/usage and the budgets count). */
export async function userUsage(knex: Knex, userId: string, now: Date): Promise<{ day: number; month: number }> {
  const dayStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const sum = async (since: Date) =>
    Number(
      ((await knex('model_usage').where({ user_id: userId }).andWhere('created_at', '>=', since).sum({ t: knex.raw('prompt_tokens + completion_tokens') }).first()) as { t: unknown } | undefined)?.t ?? 0,
    );
  return { day: await sum(dayStart), month: await sum(monthStart) };
}
