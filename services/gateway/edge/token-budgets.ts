/**
 * Token budgets of LLM requests (the OpenAI routes): tokens per minute per consumer and per model,
 * kept in the rate limits' store (this process's buckets, or Redis shared by every gateway).
 *
 * Before a request is routed it reserves its estimated tokens: the input counted with the
 * tokenizer (telemetry/token-estimate.ts) plus its output allowance (`max_completion_tokens`, else
 * `max_tokens`, else `defaultOutputTokens`, times `n`, at most `maxReservedOutputTokens`; none for
 * embeddings), from every budget
 * that applies, all or none (token-bucket.ts `decideReserve`: admitted when each bucket holds
 * min(amount, burst)). A refusal is 429 MLG_EDGE_TOKEN_BUDGET naming the budget, with Retry-After.
 * When the request ends its hold is settled with what it used (proxy/exchange-usage.ts), off the
 * response path: the unused part of the reservation is given back, the excess charged.
 */
import type { MlgateError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { COUNT_MAX_BYTES, estimateInputTokens, sizeEstimate } from '../../telemetry/token-estimate.ts';
import type { Consumer, TokenHold, TokenRequest, TokensUsed } from '../proxy/edge-hooks.ts';
import type { TokenBudgetsConfig, TokenLimitConfig } from './edge-config.ts';
import type { EdgeMetrics } from './edge-metrics.ts';
import { EdgeErrors } from './errors.ts';
import type { RedisBuckets } from './rate-limit-redis.ts';
import type { BucketSpec, LocalBuckets, ReserveDecision } from './token-bucket.ts';

/** Options of {@link TokenBudgets}. */
export interface TokenBudgetsOptions {
  config: TokenBudgetsConfig;
  /** This process's buckets (used when `redis` is undefined). */
  local: LocalBuckets;
  /** The shared store, when `rateLimits.store` is redis. */
  redis: RedisBuckets | undefined;
  metrics: EdgeMetrics;
  logger: Logger;
  /** A consumer id as a metric label value (bounded: configured ids, else `other`). */
  label: (consumerId: string) => string;
  /** Attaches response headers (Retry-After) to a refusal. */
  withHeaders: (err: MlgateError, headers: Record<string, string>) => MlgateError;
}

/** One budget a request is checked against. */
interface Budget {
  readonly kind: 'consumer' | 'model';
  /** The consumer id or model name. */
  readonly name: string;
  readonly limit: TokenLimitConfig;
}

const EMBEDDINGS = '/v1/embeddings';
/** Most choices (`n`) an allowance multiplies by. */
const MAX_N = 128;

/**
 * Input tokens reserved for a request: counted with the tokenizer for a body up to
 * COUNT_MAX_BYTES, else estimated from the body's size (counting a hostile 1 MiB body would hold
 * the request thread for over half a second); its real usage settles it either way.
 */
export function inputEstimate(req: TokenRequest): number {
  if (req.bytes > COUNT_MAX_BYTES) return sizeEstimate(req.bytes);
  return estimateInputTokens(req.json) ?? 0;
}

const positiveInt = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined);

/**
 * Output tokens reserved for a request: its `max_completion_tokens`, else its `max_tokens`, else
 * `dflt`, times its `n` (at most 128), at most `cap`; 0 for embeddings (they have no output tokens).
 */
export function outputAllowance(route: string, json: Readonly<Record<string, unknown>>, dflt: number, cap = Infinity): number {
  if (route === EMBEDDINGS) return 0;
  const max = positiveInt(json.max_completion_tokens) ?? positiveInt(json.max_tokens) ?? dflt;
  return Math.min(cap, max * Math.min(MAX_N, positiveInt(json.n) ?? 1));
}

/**
 * What a finished request is charged: nothing when it never reached the upstream; else the input
 * it reported (or the estimate) plus the output it reported or that was counted from its answer;
 * an answer whose output is unknown keeps its allowance, a failed or aborted one is charged none.
 */
export function chargedTokens(used: TokensUsed, input: number, output: number): number {
  if (!used.forwarded) return 0;
  return (used.tokensIn ?? input) + (used.tokensOut ?? (used.answered ? output : 0));
}

/** The bucket of a budget: `tpm / 60` tokens a second, `burst` (default tpm) at most. */
export function bucketOf(key: string, limit: TokenLimitConfig): BucketSpec {
  return { key, rate: limit.tokensPerMinute / 60, burst: limit.burst ?? limit.tokensPerMinute };
}

/** The reservation of one request. */
class Hold implements TokenHold {
  private settled = false;

  constructor(
    private readonly owner: TokenBudgets, readonly buckets: readonly BucketSpec[],
    readonly input: number, readonly output: number, readonly stored: boolean,
  ) {}

  get reserved(): number {
    return this.input + this.output;
  }

  settle(used: TokensUsed): void {
    if (this.settled) return;
    this.settled = true;
    this.owner.settle(this, used);
  }
}

/** The budgets of one gateway process. */
export class TokenBudgets {
  private readonly pending = new Set<Promise<unknown>>();
  private readonly consumerDefault: TokenLimitConfig | undefined;
  private readonly overrides: Readonly<Record<string, TokenLimitConfig>>;

  constructor(private readonly opts: TokenBudgetsOptions) {
    this.consumerDefault = opts.config.consumers?.default;
    this.overrides = opts.config.consumers?.overrides ?? {};
    // Load the tokenizer now (~0.3 s) rather than on the first request it would hold up.
    if (this.any) estimateInputTokens({ messages: [{ role: 'user', content: 'warm up' }] });
  }

  /** True when any budget is configured. */
  get any(): boolean {
    return this.consumerDefault !== undefined || Object.keys(this.overrides).length > 0 || Object.keys(this.opts.config.models).length > 0;
  }

  /** The budgets a request of `consumerId` to `model` is checked against. */
  budgetsOf(consumerId: string, model: string): Budget[] {
    const out: Budget[] = [];
    const c = Object.hasOwn(this.overrides, consumerId) ? this.overrides[consumerId] : this.consumerDefault;
    if (c) out.push({ kind: 'consumer', name: consumerId, limit: c });
    const models = this.opts.config.models;
    if (Object.hasOwn(models, model)) out.push({ kind: 'model', name: model, limit: models[model]! });
    return out;
  }

  /** The `reserveTokens` hook. */
  readonly reserve = (consumer: Consumer, model: string, req: TokenRequest): TokenHold | MlgateError | undefined | Promise<TokenHold | MlgateError | undefined> => {
    const budgets = this.budgetsOf(consumer.id, model);
    if (budgets.length === 0) return undefined;
    const buckets = budgets.map((b) => bucketOf(b.kind === 'consumer' ? `tc:${b.name}` : `tm:${b.name}`, b.limit));
    const input = inputEstimate(req);
    const output = outputAllowance(req.route, req.json, this.opts.config.defaultOutputTokens, this.opts.config.maxReservedOutputTokens);
    const amount = input + output;
    const { redis, local } = this.opts;
    if (redis) return redis.reserve(buckets, amount).then((d) => this.judge(consumer, model, budgets, buckets, d, input, output, d.stored));
    return this.judge(consumer, model, budgets, buckets, local.reserve(buckets, amount), input, output, true);
  };

  private judge(
    consumer: Consumer, model: string, budgets: readonly Budget[], buckets: readonly BucketSpec[], d: ReserveDecision,
    input: number, output: number, stored: boolean,
  ): TokenHold | MlgateError {
    if (d.allowed) return new Hold(this, buckets, input, output, stored);
    const i = Math.max(0, d.refuser);
    const b = budgets[i]!;
    const spec = buckets[i]!;
    const retry = Math.max(1, Math.ceil(d.retryAfterMs / 1000));
    this.opts.metrics.tokenBudgetRefused.labels(b.kind, this.opts.label(consumer.id), model).inc();
    const who = b.kind === 'model' ? `model ${b.name}` : b.name === '' ? 'the anonymous consumer' : `consumer ${b.name}`;
    const amount = input + output;
    const err = EdgeErrors.tokenBudget(
      `token budget of ${who} (${b.limit.tokensPerMinute} tokens per minute, burst ${spec.burst}) cannot take this request's ${amount} estimated tokens now; retry after ${retry} s`,
      { details: { budget: b.kind, name: b.name, tokensPerMinute: b.limit.tokensPerMinute, burst: spec.burst, tokens: amount, inputTokens: input, outputTokens: output, retryAfterMs: d.retryAfterMs } },
    );
    return this.opts.withHeaders(err, { 'retry-after': String(retry) });
  }

  /** Settles `hold` with what its request used. Never throws. */
  settle(hold: Hold, used: TokensUsed): void {
    try {
      if (!hold.stored) return; // Redis did not take the reservation: nothing to give back
      const delta = hold.reserved - chargedTokens(used, hold.input, hold.output);
      if (delta === 0) return;
      this.opts.metrics.tokenBudgetSettled.labels(delta > 0 ? 'returned' : 'charged').inc(Math.abs(delta));
      const { redis, local } = this.opts;
      if (!redis) return local.adjust(hold.buckets, delta);
      const p = redis.adjust(hold.buckets, delta).finally(() => this.pending.delete(p));
      this.pending.add(p);
    } catch (err) {
      this.opts.logger.error({ err }, 'settling a token reservation failed');
    }
  }

  /** Resolves once every settling sent to Redis has been answered. */
  async drain(): Promise<void> {
    await Promise.all([...this.pending]);
  }
}
