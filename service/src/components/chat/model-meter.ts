import { AppError } from '../../platform/errors.js';
import { type BudgetLimits, type BudgetRefusal, isRefusal, type ModelBudget, type Reservation } from './model-budget.js';
import type { ModelGate } from './model-gate.js';
import { countPromptTokens, countTokens } from './models/token-estimate.js';
import type { ChatTurn, ModelUsage, ServedBy } from './models/provider.js';
import type { ChatRepo, UsageRow } from './repo.js';

/**
 * What every model call goes through, in order: a slot of the gate (concurrency, all replicas),
 * then a budget reservation (prompt estimate + the output cap), then the call; afterwards the real
 * usage is settled and becomes the ledger row. `begin` refuses with the 429s before anything is
 * stored or sent upstream.
 */
export interface ModelMeterDeps {
  gate: ModelGate;
  budget: ModelBudget;
  repo: Pick<ChatRepo, 'budgetOverride'>;
  /** The settings; a user's model_budgets row overrides them. */
  limits: BudgetLimits;
  maxOutputTokens: number;
  /** The configured provider and model: a call's ledger row names them unless another one served it. */
  provider: string;
  model: string;
  onTokens?: (served: ServedBy, kind: 'prompt' | 'completion', tokens: number) => void;
  onBudgetRejection?: (window: 'day' | 'month') => void;
}

/** How a call ended, as the chat flow saw it. */
export interface CallResult {
  text: string;
  outcome: 'ok' | 'error' | 'timeout' | 'aborted';
  usage?: ModelUsage;
  /** The provider that answered (the fallback, when the primary failed before its first token). */
  servedBy?: ServedBy;
  latencyMs: number;
}

export interface MeteredCall {
  readonly maxTokens: number;
  /** Frees the gate's slot at once (idempotent): the client left, or the call ended. */
  releaseSlot(): void;
  /** Settles the reservation to the call's usage; answers the ledger row's token figures. */
  settle(result: CallResult): Promise<Omit<UsageRow, 'conversation_id' | 'message_id'>>;
  /** Ends the call: frees the slot and, unless settled, gives the whole reservation back. */
  end(): void;
}

export function createModelMeter(deps: ModelMeterDeps) {
  async function limitsFor(userId: string): Promise<BudgetLimits> {
    const override = await deps.repo.budgetOverride(userId);
    return { day: override?.tokens_per_day ?? deps.limits.day, month: override?.tokens_per_month ?? deps.limits.month };
  }

  return {
    limitsFor,
    async begin(userId: string, turns: readonly ChatTurn[], busyCode: 'too_many_model_calls' | 'too_many_streams'): Promise<MeteredCall> {
      const lease = await deps.gate.acquire(userId);
      if (typeof lease === 'string') {
        throw new AppError(busyCode, {
          detail: `Too many concurrent model calls (${lease === 'user' ? 'yours' : 'the service’s'}); wait for one to finish.`,
          headers: { 'Retry-After': '1' },
        });
      }
      // Unlimited budgets need no reservation size: the prompt is counted only if the provider reports no usage.
      let promptEstimate: number | undefined;
      let reservation: Reservation | BudgetRefusal;
      try {
        const limits = await limitsFor(userId);
        const unlimited = limits.day === 0 && limits.month === 0;
        if (!unlimited) promptEstimate = await countPromptTokens(turns);
        reservation = await deps.budget.reserve(userId, (promptEstimate ?? 0) + deps.maxOutputTokens, limits);
      } catch (err) {
        lease.release();
        throw err;
      }
      if (isRefusal(reservation)) {
        lease.release();
        deps.onBudgetRejection?.(reservation.window);
        throw new AppError('budget_exhausted', {
          detail: `Your ${reservation.window === 'day' ? 'daily' : 'monthly'} token budget is used up; it resets in ${reservation.retryAfterSeconds} s.`,
          headers: { 'Retry-After': String(reservation.retryAfterSeconds) },
        });
      }
      const reserved = reservation;
      return {
        maxTokens: deps.maxOutputTokens,
        releaseSlot: () => lease.release(),
        async settle(result) {
          const estimated = result.usage === undefined;
          const promptTokens = result.usage?.promptTokens ?? promptEstimate ?? (await countPromptTokens(turns));
          const completionTokens = result.usage?.completionTokens ?? (await countTokens(result.text));
          await reserved.settle(promptTokens + completionTokens);
          const served = result.servedBy ?? { provider: deps.provider, model: deps.model };
          deps.onTokens?.(served, 'prompt', promptTokens);
          deps.onTokens?.(served, 'completion', completionTokens);
          return {
            user_id: userId,
            provider: served.provider,
            model: served.model,
            prompt_tokens: promptTokens,
            completion_tokens: completionTokens,
            estimated,
            outcome: result.outcome,
            latency_ms: Math.max(0, Math.round(result.latencyMs)),
          };
        },
        end() {
          lease.release();
          void reserved.settle(0).catch(() => undefined); // a no-op once settled
        },
      };
    },
  };
}

export type ModelMeter = ReturnType<typeof createModelMeter>;
