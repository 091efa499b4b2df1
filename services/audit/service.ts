/**
 * The audit service: every audit question behind one object, shared by the CLI and the HTTP
 * API. Methods take the caller's raw input (CLI options or HTTP parameters, as text), validate
 * it (filters.ts, time-range.ts) and run the parameterised queries; a bad value fails with an
 * MLG_AUD_* error naming the field before any SQL runs.
 */
import type { Logger } from '../core/log.ts';
import { silentLogger } from '../core/log.ts';
import type { Hasher } from '../telemetry/hash.ts';
import type { Retention } from '../warehouse/config.ts';
import type { Warehouse } from '../warehouse/warehouse.ts';
import { createChainedWriter, type ChainedWriter } from '../ledger/chained-writer.ts';
import { CHAINED_TABLES, ERASURE_SELECTORS, type ChainedTable } from '../ledger/chained-tables.ts';
import type { AuditConfig } from './config.ts';
import { erase, verifyErasure, type ErasureCheck, type ErasureResult, type ErasureSelector } from './erasure.ts';
import { AuditErrors } from './errors.ts';
import {
  parseDimensions, parseHash, parseInteger, parseName, parseRequestFilter, parseTraceId, parseUuid, rejectUnknown, textOf, type RawInput,
} from './filters.ts';
import { EXPORT_FORMATS, type ExportFormat, type Page } from './listing.ts';
import { DECISION_ACTIONS, parseDecisionAction } from '../ledger/decision-actions.ts';
import { adminChanges, erasures, rolloutHistory } from './ledger-queries.ts';
import {
  exportRequests, filterWhere, planRequestsExport, requestByEventId, requestsByInputHash, requestsByTraceId, searchRequests, summarizeRequests,
  type RequestRecord, type SummaryRow,
} from './request-queries.ts';
import { effectiveRetention, type RetentionRow } from './retention.ts';
import { parseTimeRange, type TimeRange, type TimeRangeOptions } from './time-range.ts';
import { verifyChains, type Anchor, type VerifyReport } from './verify.ts';

/** Options of {@link createAuditService}. */
export interface AuditServiceOptions {
  warehouse: Warehouse;
  audit: AuditConfig;
  /** `warehouse.retention`, to compare with the effective TTLs. */
  retention: Retention;
  /** The telemetry hasher (same key as the gateways); needed to hash payloads and erasure selectors. */
  hasher?: Hasher | undefined;
  logger?: Logger;
  /** Clock (tests). */
  now?: () => number;
}

/** A streamed export, validated and counted before its first byte. */
export interface ExportHandle {
  readonly format: ExportFormat;
  /** Rows the export will write (counted just before it starts; rows arriving meanwhile may add to it). */
  readonly rows: number;
  readonly chunks: AsyncGenerator<Buffer, void, undefined>;
}

/** The audit questions. See the module comment. */
export interface AuditService {
  readonly config: AuditConfig;
  readonly warehouse: Warehouse;
  /** Requests by consumer, model, version, role, outcome, rollout, gateway, status and time range; one page. */
  requests(input: RawInput): Promise<Page<RequestRecord>>;
  /** Request counts grouped by `by` (default consumer,model,version,outcome) under the same filters. */
  summary(input: RawInput): Promise<SummaryRow[]>;
  /** Every request with input hash `hash` (from/to optional); one page. */
  byInputHash(input: RawInput): Promise<Page<RequestRecord>>;
  /** The keyed hash of a payload, as the gateway computes it. @throws MLG_AUD_NO_HASHER */
  hashPayload(payload: Buffer | string, contentType?: string): string;
  /** One request by event id, with its full redacted record. */
  event(id: unknown): Promise<RequestRecord>;
  /** The requests of a trace (primary and shadow copies). */
  trace(id: unknown): Promise<RequestRecord[]>;
  /** A rollout's decisions with their evidence (those of one action with `action`); one page. */
  rollout(id: unknown, input: RawInput): Promise<Page>;
  /** Admin changes (from, to, actor, action, target, model); one page. */
  adminChanges(input: RawInput): Promise<Page>;
  /** The erasure log (from, to, actor); one page. */
  erasures(input: RawInput): Promise<Page>;
  /** A requests export (filters + format csv|jsonl). @throws MLG_AUD_EXPORT_TOO_LARGE past audit.maxExportRows */
  exportRequests(input: RawInput): Promise<ExportHandle>;
  /** Erases a consumer's or a subject's requests and logs it (exactly one of consumer, input_hash, subject). */
  erase(selector: RawInput, who: { actor: string; reason?: string | undefined }): Promise<ErasureResult>;
  /** What remains of a consumer or subject, and its erasures. */
  verifyErasure(selector: RawInput): Promise<ErasureCheck>;
  /** Recomputes the hash chains (`table` optional; `allow_unchained` to only report unchained rows). */
  /** Verifies the chains; `anchors` (heads recorded earlier) must still be in them, unchanged. */
  verify(input: RawInput, anchors?: readonly Anchor[]): Promise<VerifyReport>;
  /** Effective retention of every table next to the configured one. */
  retention(): Promise<RetentionRow[]>;
}

const PAGE_FIELDS = ['limit', 'cursor'] as const;

/** Parses the one selector of an erasure input: exactly one of consumer, input_hash, subject. */
export function parseSelector(input: RawInput, extra: readonly string[] = []): ErasureSelector {
  rejectUnknown(input, [...ERASURE_SELECTORS, ...extra], 'erasure');
  const given = ERASURE_SELECTORS.filter((k) => textOf(input, k) !== undefined);
  if (given.length !== 1) {
    throw AuditErrors.badFilter(`give exactly one of ${ERASURE_SELECTORS.join(', ')} (got ${given.length ? given.join(', ') : 'none'})`, { details: { field: 'selector' } });
  }
  return { kind: given[0]!, value: textOf(input, given[0]!)! };
}

class Service implements AuditService {
  readonly config: AuditConfig;
  readonly warehouse: Warehouse;
  private readonly opts: AuditServiceOptions;
  private writer: ChainedWriter<'erasure_log'> | undefined;

  constructor(opts: AuditServiceOptions) {
    if (!opts?.warehouse || !opts.audit || !opts.retention) throw AuditErrors.badOptions('audit service: warehouse, audit and retention are required');
    this.opts = opts;
    this.config = opts.audit;
    this.warehouse = opts.warehouse;
  }

  private rangeOptions(): TimeRangeOptions {
    return {
      now: (this.opts.now ?? Date.now)(),
      defaultSpanMs: this.config.defaultSpanHours * 3_600_000,
      maxSpanMs: this.config.maxSpanDays * 86_400_000,
    };
  }

  private page(input: RawInput): { limit: number; cursor: string | undefined } {
    const limit = textOf(input, 'limit');
    return {
      limit: limit === undefined ? this.config.pageSize : parseInteger(limit, 'limit', 1, this.config.maxPageSize),
      cursor: textOf(input, 'cursor') || undefined,
    };
  }

  private optionalRange(input: RawInput): TimeRange | undefined {
    const from = textOf(input, 'from');
    const to = textOf(input, 'to');
    return from === undefined && to === undefined ? undefined : parseTimeRange({ from, to }, this.rangeOptions());
  }

  requests(input: RawInput): Promise<Page<RequestRecord>> {
    const filter = parseRequestFilter(input, this.rangeOptions(), PAGE_FIELDS);
    return searchRequests(this.warehouse, filter, this.page(input));
  }

  summary(input: RawInput): Promise<SummaryRow[]> {
    const filter = parseRequestFilter(input, this.rangeOptions(), ['by', 'limit']);
    const limit = textOf(input, 'limit');
    return summarizeRequests(this.warehouse, filter, parseDimensions(textOf(input, 'by')),
      limit === undefined ? this.config.maxPageSize : parseInteger(limit, 'limit', 1, this.config.maxPageSize));
  }

  byInputHash(input: RawInput): Promise<Page<RequestRecord>> {
    rejectUnknown(input, ['input_hash', 'from', 'to', ...PAGE_FIELDS], 'input-hash lookup');
    const hash = parseHash(textOf(input, 'input_hash'), 'input_hash');
    return requestsByInputHash(this.warehouse, hash, this.optionalRange(input), this.page(input));
  }

  hashPayload(payload: Buffer | string, contentType?: string): string {
    if (!this.opts.hasher) throw AuditErrors.noHasher('computing an input hash needs telemetry.hashing (the gateways\' key) in the config');
    return this.opts.hasher.hashPayload(payload, contentType);
  }

  event(id: unknown): Promise<RequestRecord> {
    return requestByEventId(this.warehouse, parseUuid(id, 'event_id'));
  }

  trace(id: unknown): Promise<RequestRecord[]> {
    return requestsByTraceId(this.warehouse, parseTraceId(id, 'trace_id'), this.config.maxPageSize);
  }

  rollout(id: unknown, input: RawInput): Promise<Page> {
    rejectUnknown(input, ['action', ...PAGE_FIELDS], 'rollout history');
    const text = textOf(input, 'action');
    const action = text === undefined ? undefined : parseDecisionAction(text);
    if (text !== undefined && action === undefined) {
      throw AuditErrors.badFilter(`action: ${JSON.stringify(text)} is not a decision action; expected one of ${DECISION_ACTIONS.join(', ')} (or a stored name such as manual_start)`, { details: { field: 'action' } });
    }
    return rolloutHistory(this.warehouse, parseName(id, 'rollout_id'), this.page(input), action);
  }

  adminChanges(input: RawInput): Promise<Page> {
    rejectUnknown(input, ['from', 'to', 'actor', 'action', 'target', 'model', ...PAGE_FIELDS], 'admin-change filter');
    const opt = (f: string) => {
      const v = textOf(input, f);
      return v === undefined ? undefined : parseName(v, f);
    };
    const range = parseTimeRange({ from: textOf(input, 'from'), to: textOf(input, 'to') }, this.rangeOptions());
    return adminChanges(this.warehouse, { range, actor: opt('actor'), action: opt('action'), target: opt('target'), model: opt('model') }, this.page(input));
  }

  erasures(input: RawInput): Promise<Page> {
    rejectUnknown(input, ['from', 'to', 'actor', ...PAGE_FIELDS], 'erasure-log filter');
    const actor = textOf(input, 'actor');
    const range = parseTimeRange({ from: textOf(input, 'from'), to: textOf(input, 'to') }, this.rangeOptions());
    return erasures(this.warehouse, { range, actor: actor === undefined ? undefined : parseName(actor, 'actor') }, this.page(input));
  }

  async exportRequests(input: RawInput): Promise<ExportHandle> {
    const filter = parseRequestFilter(input, this.rangeOptions(), ['format']);
    const format = (textOf(input, 'format') ?? 'csv') as ExportFormat;
    if (!EXPORT_FORMATS.includes(format)) throw AuditErrors.badFilter(`format: ${JSON.stringify(format)} is not one of ${EXPORT_FORMATS.join(', ')}`, { details: { field: 'format' } });
    const where = filterWhere(filter);
    const plan = await planRequestsExport(this.warehouse, where, this.config.exportChunkRows);
    if (plan.rows > this.config.maxExportRows) {
      throw AuditErrors.exportTooLarge(`the export would write ${plan.rows} rows, more than audit.maxExportRows (${this.config.maxExportRows}): narrow the filter or the time range`, { details: { rows: plan.rows } });
    }
    return { format, rows: plan.rows, chunks: exportRequests(this.warehouse, where, plan, format) };
  }

  private erasureWriter(): ChainedWriter<'erasure_log'> {
    this.writer ??= createChainedWriter(this.warehouse, { table: 'erasure_log', chainId: this.config.chainId, ...(this.opts.logger ? { logger: this.opts.logger } : {}) });
    return this.writer;
  }

  async erase(selector: RawInput, who: { actor: string; reason?: string | undefined }): Promise<ErasureResult> {
    const sel = parseSelector(selector);
    const result = await erase(
      { wh: this.warehouse, writer: this.erasureWriter(), hasher: this.opts.hasher, subjectColumn: this.config.erasure.subjectColumn, ...(this.opts.now ? { now: this.opts.now } : {}) },
      sel, who,
    );
    (this.opts.logger ?? silentLogger()).info(
      { erasure_id: result.record.erasure_id, selector_kind: sel.kind, deleted: result.deleted, actor: who.actor }, 'erasure done',
    );
    return result;
  }

  verifyErasure(selector: RawInput): Promise<ErasureCheck> {
    return verifyErasure({ wh: this.warehouse, hasher: this.opts.hasher, subjectColumn: this.config.erasure.subjectColumn }, parseSelector(selector));
  }

  verify(input: RawInput, anchors?: readonly Anchor[]): Promise<VerifyReport> {
    rejectUnknown(input, ['table', 'allow_unchained'], 'verify');
    const table = textOf(input, 'table');
    if (table !== undefined && !(CHAINED_TABLES as readonly string[]).includes(table)) {
      throw AuditErrors.badFilter(`table: ${JSON.stringify(table)} is not one of ${CHAINED_TABLES.join(', ')}`, { details: { field: 'table' } });
    }
    const allow = textOf(input, 'allow_unchained');
    if (allow !== undefined && !['true', 'false', '1', '0'].includes(allow)) {
      throw AuditErrors.badFilter(`allow_unchained: ${JSON.stringify(allow.slice(0, 20))} is not one of true, false, 1, 0`, { details: { field: 'allow_unchained' } });
    }
    return verifyChains(this.warehouse, {
      ...(table ? { tables: [table as ChainedTable] } : {}),
      allowUnchained: allow === 'true' || allow === '1',
      ...(anchors ? { anchors } : {}),
    });
  }

  retention(): Promise<RetentionRow[]> {
    return effectiveRetention(this.warehouse, this.opts.retention);
  }
}

/** Builds the audit service. No I/O until the first call. @throws MLG_AUD_BAD_OPTIONS */
export function createAuditService(opts: AuditServiceOptions): AuditService {
  return new Service(opts);
}
