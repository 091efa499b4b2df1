/**
 * The `audit` config section (HTTP API address, tokens per role, paging and export limits, time
 * range limits, the erasure writer's chain id and the subject column), and the whole audit
 * process config: `audit` composed with `warehouse`, `telemetry` (optional: only hashing a
 * payload or an erasure selector needs its key), `log` and `dataDir`. Defaults live here.
 */
import { z } from 'zod';
import { CHAIN_ID } from '../ledger/chain.ts';
import { LogSection } from '../core/config.ts';
import { TelemetrySection } from '../telemetry/config.ts';
import { WarehouseSection } from '../warehouse/config.ts';
import { IDENTIFIER } from '../warehouse/identifiers.ts';

/**
 * Roles of the audit API: `audit` reads; `admin` (the data-protection officer's role) also erases
 * and alone may use the keyed hash as an oracle (hash a payload, check an erasure by raw id).
 */
export const AUDIT_ROLES = ['audit', 'admin'] as const;
/** One of {@link AUDIT_ROLES}. */
export type AuditRole = (typeof AUDIT_ROLES)[number];


/** One API token. The name is the actor recorded in the erasure log; the token is never logged. */
export const TokenSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._@-]{1,100}$/, 'expected a name of letters, digits and ._@-'),
  token: z.string().min(24, 'a token must be at least 24 characters').max(512),
  role: z.enum(AUDIT_ROLES),
});

/** Schema of the `audit` section. */
export const AuditSection = z
  .strictObject({
    /** Address of the HTTP API; loopback unless you put it behind TLS. */
    host: z.string().min(1).default('127.0.0.1'),
    /** Port of the HTTP API (0 = any free port). */
    port: z.number().int().min(0).max(65535).default(8790),
    /** Bearer tokens. With none, the API refuses every call (the CLI does not use tokens). */
    tokens: z.array(TokenSchema).default([]),
    /** Rows per page when the caller gives no limit. */
    pageSize: z.number().int().min(1).max(100_000).default(100),
    /** Largest page a caller may ask for. */
    maxPageSize: z.number().int().min(1).max(100_000).default(1000),
    /** Largest export; a bigger one is refused before it starts (narrow the filter). */
    maxExportRows: z.number().int().min(1).default(10_000_000),
    /** Rows per query while exporting: bounds the memory of an export on either engine. */
    exportChunkRows: z.number().int().min(100).max(1_000_000).default(10_000),
    /**
     * Keyed-hash lookups (POST /v1/input-hashes, GET /v1/erasures/check) per token per minute:
     * each one tests a guess against hashed PII, so even the admin role gets a bounded number.
     */
    hashLookupsPerMinute: z.number().int().min(1).max(10_000).default(30),
    /** Longest time range a query may cover. */
    maxSpanDays: z.number().int().min(1).max(36_500).default(400),
    /** Time range used when neither from nor to is given. */
    defaultSpanHours: z.number().int().min(1).max(24 * 366).default(24),
    /** Chain id of this process's erasure-log writer; give concurrent writers different ids. */
    chainId: z.string().regex(CHAIN_ID, 'expected 1-64 letters, digits or ._-').default('audit'),
    erasure: z
      .strictObject({
        /**
         * A `requests` column holding the keyed hash of a data subject's id (hashed with the
         * telemetry key, `hashValue(subjectId)`). The v1 event has none; absent = erasure by
         * consumer or input hash only.
         */
        subjectColumn: z.string().regex(IDENTIFIER, 'expected a plain column name').optional(),
      })
      .prefault({}),
  })
  .superRefine((a, ctx) => {
    if (a.pageSize > a.maxPageSize) ctx.addIssue({ code: 'custom', path: ['pageSize'], message: 'pageSize must not exceed maxPageSize' });
    const seen = new Map<string, number>();
    a.tokens.forEach((t, i) => {
      if (seen.has(t.token)) ctx.addIssue({ code: 'custom', path: ['tokens', i, 'token'], message: `same token as tokens.${seen.get(t.token)}` });
      seen.set(t.token, i);
    });
  });

/** Parsed `audit` section. */
export type AuditConfig = z.output<typeof AuditSection>;

/** The sections the audit CLI and API read (other services' sections are ignored). */
export const AuditProcessConfig = z.object({
  audit: AuditSection.prefault({}),
  warehouse: WarehouseSection.prefault({}),
  telemetry: TelemetrySection.optional(),
  log: LogSection.prefault({}),
  dataDir: z.string().min(1).default('./data'),
});

/** Parsed audit process config. */
export type AuditProcessConfig = z.output<typeof AuditProcessConfig>;
