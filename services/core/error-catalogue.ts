/**
 * The error catalogue: every code mlgate can report (`MLG_<AREA>_<WHAT>`), with its HTTP status,
 * what it means and what to do about it. It is the one source: each area's `errors.ts` takes its
 * factories from it with `defineError(code)` (errors.ts), `mlgate errors` prints it, and the audit
 * API describes other areas' errors by it. Codes are an external contract (runbooks, alerts and
 * scripts match them): add codes, never rename or reuse one. The prefix names the area, not the
 * package (docs/architecture.md, "Error codes"): the ledger's codes are `MLG_AUD_`, the routing
 * package's `MLG_CONTROL_`.
 */

/** One entry of the catalogue. */
export interface CatalogueEntry {
  /** HTTP status when the error reaches a client; 500 when none applies. */
  readonly status: number;
  /** What happened, one line. */
  readonly meaning: string;
  /** What to do about it, for an operator or a client. */
  readonly action: string;
}

const e = (status: number, meaning: string, action: string): CatalogueEntry => ({ status, meaning, action });

/** Every code, by area. */
export const ERROR_CATALOGUE = {
  // core: configuration and arguments (services/core/errors.ts)
  MLG_CORE_CONFIG_INVALID: e(500, 'A configuration value failed validation',
    'Fix the field the message names (its path, the reason and whether the value came from the file or an environment variable), then start again.'),
  MLG_CORE_CONFIG_UNREADABLE: e(500, 'The configuration file could not be read or parsed',
    'Check the path given to --config (or MLGATE_CONFIG), its permissions, and that it is valid YAML; the message names the file and the parser\'s line.'),
  MLG_CORE_BAD_ARGUMENT: e(400, 'A command-line argument or API parameter is invalid',
    'Correct the argument the message names; `mlgate <command> --help` lists what each option accepts.'),

  // telemetry: local log, sinks, hashing (services/telemetry/errors.ts)
  MLG_TEL_BAD_OPTIONS: e(500, 'A telemetry component was constructed with an invalid option',
    'Fix the telemetry setting the message names (telemetry section of the config); if it comes from code, it is a bug: report it.'),
  MLG_TEL_LOG_FULL: e(507, 'The local log (spill or embedded transport) reached its size cap',
    'Events past the cap are counted as dropped. Bring Kafka (or the ingester) back so the log drains, or raise the cap (telemetry spill / local log size) and free disk space.'),
  MLG_TEL_LOG_LOCKED: e(500, 'Another live writer holds the local log directory',
    'Stop the other process using the same data folder, or give each process its own (MLGATE_DATA_DIR, telemetry spill directory).'),
  MLG_TEL_LOG_CLOSED: e(500, 'The local log writer or reader was used after close()',
    'Seen during shutdown only; otherwise a bug: report it with the log.'),
  MLG_TEL_LOG_IO: e(500, 'Reading or writing the local log on disk failed',
    'Check the disk under the data folder (space, permissions, read-only mount); the cause names the file and the system error.'),
  MLG_TEL_RECORD_TOO_LARGE: e(500, 'A record exceeds the largest size the local log frames',
    'The event is not kept; lower gateway.captureMaxBytes or the redaction limits so events stay small.'),
  MLG_TEL_BAD_COMMIT: e(500, 'A reader committed an offset it has not read',
    'A bug in a local log reader: report it with the log.'),
  MLG_TEL_SINK_CLOSED: e(500, 'An event was emitted after the sink was closed',
    'Seen during shutdown only (the event is counted as dropped); otherwise a bug: report it.'),
  MLG_TEL_HASH_KEY: e(500, 'The telemetry hash key or key id is missing or too short',
    'Set telemetry.hashing.key (or MLGATE_HASH_KEY, at least 16 characters) and its key id (MLGATE_HASH_KEY_ID); keep the same key on every gateway.'),

  // routing: routing states and the control channel (services/routing/errors.ts, kafka-channel.ts)
  MLG_CONTROL_STATE_INVALID: e(400, 'A routing state failed validation (shape, weights, fallback)',
    'Fix the field the message names (weights must sum to 100, the fallback must be one of the versions); a bad message on the control topic is skipped and logged.'),
  MLG_CONTROL_CHANNEL_CLOSED: e(503, 'The control channel is closed',
    'Seen during shutdown only; otherwise restart the service and report it.'),
  MLG_CONTROL_READ_TIMEOUT: e(503, 'The control topic could not be read to its end in time',
    'Check that Kafka is reachable (KAFKA_BROKERS) and the control topic exists; a gateway serves its configured routing meanwhile and catches up later.'),
  MLG_CONTROL_KAFKA_FAILED: e(503, 'The control channel could not reach Kafka (connect, create the topic, or publish)',
    'Check the brokers (KAFKA_BROKERS), network and ACLs for the control topic; the cause names the Kafka error. Publishing is retried by the controller.'),
  MLG_CONTROL_BAD_OPTIONS: e(500, 'The Kafka control channel was constructed with an invalid option',
    'Fix the controller/gateway control topic setting the message names.'),

  // warehouse: ClickHouse (services/warehouse/errors.ts)
  MLG_WH_UNAVAILABLE: e(503, 'ClickHouse could not be reached, timed out or is overloaded; retry later',
    'Check that ClickHouse is up and reachable at CLICKHOUSE_URL; the services retry on their own (the ingester pauses and loses nothing).'),
  MLG_WH_AUTH_FAILED: e(503, 'ClickHouse refused the configured user or password',
    'Fix CLICKHOUSE_USER / CLICKHOUSE_PASSWORD (or warehouse.user / password) and the user\'s network restrictions.'),
  MLG_WH_QUERY_FAILED: e(500, 'ClickHouse rejected a query (SQL, schema or permissions)',
    'Read the ClickHouse message in the log; usually a missing migration (run `mlgate migrate`) or a user without rights on the database.'),
  MLG_WH_DATA_REJECTED: e(500, 'ClickHouse could not parse or convert the rows of an insert',
    'The rows go to the dead-letter destination with the reason; check that the schema is migrated to the version the services expect.'),
  MLG_WH_BAD_IDENTIFIER: e(400, 'A database or table name is not a plain identifier',
    'Use letters, digits and underscores for warehouse.database and table names.'),
  MLG_WH_ENGINE_PATH_CONFLICT: e(500, 'The embedded engine already holds another data path in this process',
    'Use one embedded data folder per process (warehouse.path / MLGATE_DATA_DIR).'),
  MLG_WH_UNSUPPORTED: e(500, 'The ClickHouse server lacks a feature this operation needs',
    'Use a ClickHouse server 23.8 or newer (a current LTS).'),
  MLG_WH_MIGRATION_FAILED: e(500, 'A schema migration statement failed',
    'Read the statement and the ClickHouse message in the log, fix the cause (rights, disk, server version) and run `mlgate migrate` again; applied migrations are not repeated.'),
  MLG_WH_MIGRATION_INVALID: e(500, 'A migration module is malformed or its id is taken',
    'A packaging bug: report it with the migration id the message names.'),
  MLG_WH_CLOSED: e(500, 'The warehouse was used after close()',
    'Seen during shutdown only; otherwise a bug: report it.'),
  MLG_WH_EMBEDDED_UNSUPPORTED: e(500, 'The embedded engine (chdb) has no native build for this platform; use a ClickHouse server',
    'Run on Linux x64 (glibc), or set warehouse.engine: server with CLICKHOUSE_URL pointing at a ClickHouse server.'),

  // ledger: hash-chained tables (services/ledger/errors.ts; the prefix is the audit's)
  MLG_AUD_BAD_OPTIONS: e(500, 'An audit component was constructed with an invalid option',
    'Fix the audit or chain setting the message names.'),
  MLG_AUD_CHAIN_CONFLICT: e(409, 'Another writer appended to this hash chain; give each writer its own chain id',
    'Give each controller (controller.instanceId) and gateway (gateway.id) its own id so each writes its own chain; `mlgate audit verify` checks the chains.'),
  MLG_AUD_BAD_ROW: e(400, 'A row handed to a chained writer failed validation',
    'The message names the field; a bug in the writer if it comes from mlgate itself: report it.'),

  // gateway (services/gateway/errors.ts)
  MLG_GW_BAD_JSON: e(400, 'The request body is not valid JSON',
    'Client: send valid JSON (the message names the parse error), or a content type other than JSON.'),
  MLG_GW_BAD_REQUEST: e(400, 'The request is malformed (missing model, unknown version, ...)',
    'Client: fix what the message names (e.g. a pinned version that does not exist).'),
  MLG_GW_BAD_PATH: e(400, 'The forwarded path has dot segments, encoded separators or NUL bytes that could leave the target\'s base path',
    'Client: send a plain path without "..", "%2F" or NUL bytes.'),
  MLG_GW_BODY_TOO_LARGE: e(413, 'The request body is larger than the model allows',
    'Client: send a smaller body; operator: raise gateway.maxBodyBytes or the model\'s limit if the size is legitimate.'),
  MLG_GW_UNKNOWN_MODEL: e(404, 'No model of that name is configured',
    'Client: check the model name; operator: add the model under gateway.models.'),
  MLG_GW_NOT_FOUND: e(404, 'No gateway route matches the path',
    'Client: use a model route (e.g. /v1/models/<model>/predict or the OpenAI-compatible paths, docs/gateway.md).'),
  MLG_GW_UNAUTHORIZED: e(401, 'Credentials are missing or wrong',
    'Client: send a valid API key (Authorization: Bearer or x-api-key) or JWT; operator: `mlgate keys` creates keys.'),
  MLG_GW_FORBIDDEN: e(403, 'The caller may not do this',
    'Operator: grant the consumer the model (gateway.consumers.<id>.models) or the pin it asked for.'),
  MLG_GW_RATE_LIMITED: e(429, 'The caller sent too many requests',
    'Client: retry after the Retry-After header; operator: raise the consumer\'s rate limit if the load is expected.'),
  MLG_GW_CIRCUIT_OPEN: e(503, 'The version is unavailable (breaker open, tripped or unhealthy) and there is no fallback',
    'Check the version\'s targets (docs/runbooks/breaker-open.md); configure a fallback version so its traffic has somewhere to go.'),
  MLG_GW_NO_UPSTREAM: e(503, 'No healthy upstream target is left for the version',
    'Check the version\'s targets and health checks (docs/runbooks/target-down.md); the Retry-After header says when to retry.'),
  MLG_GW_UPSTREAM_TIMEOUT: e(504, 'The upstream did not answer in time',
    'Check the model server\'s latency; raise the version\'s timeout if slow answers are expected.'),
  MLG_GW_UPSTREAM_ERROR: e(502, 'The upstream refused or reset the connection',
    'Check that the model server is running and listening at the target URL (docs/runbooks/upstream-error-spike.md).'),
  MLG_GW_PROVIDER_UNSUPPORTED: e(400, 'The request uses something the version\'s provider adapter does not translate (tools, n > 1, a route other than chat completions, ...)',
    'Client: drop the feature the message names, or call a version whose provider takes it (docs/llm.md, "What is translated").'),
  MLG_GW_PROVIDER_BAD_ANSWER: e(502, 'The upstream\'s answer could not be translated to the OpenAI shape (not JSON, a malformed or oversized SSE event, a stream cut before its end)',
    'Check the upstream and the version\'s provider setting; the event and the gateway log name the version.'),
  MLG_GW_PROVIDER_STREAM_ERROR: e(502, 'The upstream reported an error inside its event stream (e.g. Anthropic overloaded_error) after the answer had started',
    'Usually the provider\'s capacity: retry later; the error event the client got carries the provider\'s message.'),
  MLG_GW_SHUTTING_DOWN: e(503, 'The gateway is shutting down',
    'Client: retry on another gateway; in-flight requests finish within gateway.shutdownTimeoutMs.'),
  MLG_GW_INTERNAL: e(500, 'Unexpected gateway failure',
    'A bug: report it with the gateway log around the request\'s correlation id.'),
  MLG_GW_CREDENTIAL_UNRESOLVED: e(400, 'An upstream credential reference does not resolve (environment variable unset, file unreadable or empty); the start or reload is refused',
    'Set the environment variable or fix the file the message names (the field and the reference, never the value), then start or reload again.'),
  MLG_GW_ADMIN_UNAUTHORIZED: e(401, 'The admin API needs a valid bearer token',
    'Send Authorization: Bearer with gateway.admin.token (MLGATE_ADMIN_TOKEN) or one of gateway.admin.tokens.'),
  MLG_GW_ADMIN_INVALID: e(400, 'The admin change is invalid; nothing was changed',
    'Fix what the message names (an unknown version, weights not summing to 100, a restart-only field in a reload).'),
  MLG_GW_ADMIN_CONFLICT: e(409, 'A newer routing state arrived while the change was made; retry',
    'Read the model\'s current state (GET /admin/routing/<model>) and make the change again.'),
  MLG_GW_ADMIN_RECORD_FAILED: e(503, 'The admin change could not be recorded, so it was not applied',
    'Check ClickHouse (the admin_changes chain) and retry; changes are only applied once recorded.'),
  MLG_GW_ADMIN_RELOAD_UNAVAILABLE: e(400, 'This gateway was started without a config file to reload',
    'Start the gateway with --config FILE to use POST /admin/reload, or make the change through the admin API.'),
  MLG_GW_WORKER_START_FAILED: e(500, 'A gateway worker process (gateway.workers) kept dying before it was ready, so the gateway stopped',
    'Read the worker\'s own error in the log just before this one (a port in use, an unreadable spill directory, ...), fix it and start again.'),

  // gateway edge (services/gateway/edge/errors.ts)
  MLG_EDGE_SCHEMA_INVALID: e(400, 'The request body does not match the model\'s input schema',
    'Client: fix the body at the paths the message names; operator: the schema is in the model\'s inputSchema.'),
  MLG_EDGE_TOKEN_BUDGET: e(429, 'A tokens-per-minute budget (the consumer\'s or the model\'s, named in the message) cannot hold this LLM request\'s estimated tokens',
    'Client: retry after the Retry-After header, or ask for fewer tokens (max_tokens); operator: raise gateway.tokenBudgets for the consumer or model if the load is expected (docs/llm.md, "Token budgets").'),
  MLG_EDGE_SETUP: e(500, 'An edge setting (key, JWKS, input schema, certificate) could not be loaded',
    'Fix the setting the message names (a key or certificate file, the JWKS URL, a schema that does not compile) and start again.'),

  // ingester (services/ingester/errors.ts)
  MLG_ING_BAD_OPTIONS: e(500, 'The ingester was started with invalid options',
    'Fix the ingester setting the message names.'),
  MLG_ING_STOPPED: e(503, 'The ingester stopped before the batch in hand was stored; it will be redelivered',
    'Nothing to do: the batch is stored exactly once after the next start or rebalance.'),
  MLG_ING_COMMIT_FAILED: e(503, 'Offsets could not be committed after the rows were stored (they will be deduplicated on redelivery)',
    'Check Kafka (the consumer group coordinator); rows are not duplicated when the batch is read again.'),
  MLG_ING_DLQ_FAILED: e(503, 'Messages could not be written to the dead-letter destination',
    'Check Kafka and the DLQ topic (mlgate.telemetry.dlq.v1) or the dead-letter folder; the batch is retried and its offsets not committed.'),
  MLG_ING_SOURCE_FAILED: e(503, 'The event source (Kafka or the local log) failed',
    'Check Kafka (KAFKA_BROKERS, the telemetry topic) or the local log folder; the cause names the error (docs/runbooks/ingester-stalled.md).'),
  MLG_ING_BATCH_REJECTED: e(500, 'ClickHouse rejected a row of the batch; the row goes to the dead-letter destination',
    'Read the reason in the dead letter (docs/runbooks/dead-letters.md); check the schema is migrated.'),

  // controller (services/controller/errors.ts)
  MLG_CTL_SPEC_INVALID: e(400, 'A rollout spec failed validation',
    'Fix the field the message names (docs/canary.md describes every field of a rollout spec).'),
  MLG_CTL_SCENARIO_INVALID: e(400, 'A simulation scenario failed validation or could not be read',
    'Fix the scenario file or the field the message names (`mlgate simulate --help`).'),
  MLG_CTL_INPUT_INVALID: e(400, 'An analysis input is malformed or does not cover the expected window',
    'A metrics provider returned a bad window: check a custom provider or custom_sql metric; otherwise report it.'),
  MLG_CTL_BAD_TRANSITION: e(409, 'The rollout operation is not allowed in the current phase',
    'Read the rollout\'s phase (GET /v1/rollouts/<id>) and use an operation it allows (e.g. resume only a paused rollout).'),
  MLG_CTL_EVIDENCE_INVALID: e(400, 'Stored decision evidence is malformed and cannot be recomputed',
    'The stored row was changed or truncated: run `mlgate audit verify` to find the broken link.'),
  MLG_CTL_UNAUTHORIZED: e(401, 'The controller API needs a valid bearer token',
    'Send Authorization: Bearer with a token from controller.tokens.'),
  MLG_CTL_FORBIDDEN: e(403, 'The token\'s role does not allow this controller operation',
    'Use an operator token for changes; viewer tokens only read.'),
  MLG_CTL_NOT_FOUND: e(404, 'No rollout (or route) with that id',
    'List the rollouts (GET /v1/rollouts) and use one of their ids.'),
  MLG_CTL_CONFLICT: e(409, 'The rollout id is taken, or the model already has an active rollout',
    'Choose another id, or finish (promote or abort) the model\'s active rollout first.'),
  MLG_CTL_BAD_REQUEST: e(400, 'A controller API request body or parameter is malformed',
    'Fix the field the message names.'),
  MLG_CTL_NOT_LEADER: e(503, 'This controller is a standby; changes go to the leader',
    'Send the change to the leading controller (GET /healthz says which leads), or retry after failover.'),
  MLG_CTL_BAD_OPTIONS: e(500, 'A controller component was constructed with an invalid option',
    'Fix the controller setting the message names.'),
  MLG_CTL_STORE_FAILED: e(503, 'A rollout state could not be read from or saved to ClickHouse',
    'Check ClickHouse (controller_rollouts table, `mlgate migrate`); the decision is retried on the next tick.'),
  MLG_CTL_DELIVERY_PENDING: e(503, 'The previous decision of the rollout is not recorded or published yet; retry later',
    'Retry in a few seconds; if it persists, check ClickHouse and Kafka (the controller log says which failed).'),
  MLG_CTL_COLLECT_FAILED: e(503, 'The metrics provider could not collect an analysis window',
    'Check ClickHouse and the requests table; the rollout waits and tries again on the next tick.'),
  MLG_CTL_CUSTOM_SQL_INVALID: e(400, 'A custom_sql metric is not a single SELECT returning one number',
    'Rewrite the metric as one read-only SELECT over the telemetry tables returning one number (docs/canary.md).'),
  MLG_CTL_INTERNAL: e(500, 'The controller failed unexpectedly (see the service log)',
    'A bug: report it with the controller log.'),

  // audit (services/audit/errors.ts)
  MLG_AUD_BAD_FILTER: e(400, 'An audit filter is unknown, malformed or out of range',
    'Fix the filter the message names; `mlgate audit --help` lists them.'),
  MLG_AUD_BAD_TIME_RANGE: e(400, 'An audit time range is unparseable, empty, reversed or too long',
    'Give the start before the end, each an ISO 8601 date or time, epoch ms, now, or relative (now-24h), within the maximum span; the message names the accepted forms.'),
  MLG_AUD_BAD_CURSOR: e(400, 'A pagination cursor is malformed or belongs to another query',
    'Use the cursor exactly as the previous page returned it, with the same filters.'),
  MLG_AUD_NOT_FOUND: e(404, 'No record matches the given id',
    'Check the id (a rollout id, decision id or event id as stored).'),
  MLG_AUD_UNAUTHORIZED: e(401, 'The audit API needs a valid bearer token',
    'Send Authorization: Bearer with a token from audit.tokens.'),
  MLG_AUD_FORBIDDEN: e(403, 'The token\'s role does not allow this audit operation',
    'Use a token with the role the operation needs (keyed-hash lookups and erasure need admin).'),
  MLG_AUD_NO_HASHER: e(400, 'The operation needs telemetry.hashing (key and key id) in the config',
    'Give the audit the gateways\' hash key (telemetry.hashing.key or MLGATE_HASH_KEY).'),
  MLG_AUD_NO_SUBJECT_COLUMN: e(400, 'Erasure by subject needs audit.erasure.subjectColumn, a requests column holding the subject hash',
    'Set audit.erasure.subjectColumn (docs/audit.md), or erase by another filter.'),
  MLG_AUD_SCHEMA_MISSING: e(500, 'A table or column the audit needs is missing: run the migrations',
    'Run `mlgate migrate` against the same ClickHouse database.'),
  MLG_AUD_ERASURE_INCOMPLETE: e(500, 'Rows of the erased subject remain after the delete',
    'Run the erasure again; if rows remain, check ClickHouse mutations (system.mutations) for failures.'),
  MLG_AUD_INTERNAL: e(500, 'The audit API failed unexpectedly (see the service log)',
    'A bug: report it with the audit log.'),
  MLG_AUD_RATE_LIMITED: e(429, 'Too many keyed-hash lookups by this token; retry after the given seconds',
    'Wait the seconds given (Retry-After); raise audit.hashLookupsPerMinute if the volume is legitimate.'),
  MLG_AUD_EXPORT_TOO_LARGE: e(413, 'An export would exceed audit.maxExportRows; narrow the filter',
    'Narrow the time range or filters, or raise audit.maxExportRows.'),

  // embedded mode and demo (services/embedded/errors.ts)
  MLG_EMB_START_FAILED: e(500, 'A component of the embedded process could not start (the cause names which)',
    'Read the cause: usually a port in use (change it in the config) or a data folder that cannot be written.'),
  MLG_EMB_ROUTING_STORE_UNREADABLE: e(500, 'The saved routing states file could not be read or parsed',
    'Fix or remove <dataDir>/control/routing-states.json (removing it restarts from the configured weights).'),
  MLG_EMB_ROUTING_STORE_WRITE_FAILED: e(500, 'A routing state could not be saved to the routing states file',
    'Check the disk and permissions of the data folder.'),
  MLG_EMB_MODEL_PACKAGE_MISSING: e(500, 'A stand-in model server needs an optional package (sentiment, vader-sentiment) that is not installed',
    'Install the optional dependencies (`npm ci` without --omit=optional), or point the embedded models at your own servers.'),
  MLG_EMB_DEMO_FAILED: e(500, 'The demo scenario did not reach its expected outcome in time',
    'Run it again on a less loaded machine (or without --fast); the message says which step did not happen.'),
} as const satisfies Record<string, CatalogueEntry>;

/** A code of the catalogue. */
export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** True when `code` is in the catalogue. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CATALOGUE, code);
}
