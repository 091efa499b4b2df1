/**
 * Fast event validation for the ingester's hot path. The judge stays the zod schema of the event
 * contract (services/telemetry/event.ts); this compiles the same schema (zod's own JSON Schema
 * export, so a field added there is picked up here) with ajv, which checks a valid event about
 * three times faster. Only when ajv says "invalid" does zod run, to decide and to name the
 * failing fields. test/ingester/validate.test.ts checks the two agree on thousands of broken
 * events; string lengths count UTF-16 units in both (ajv `unicode: false`).
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { z } from 'zod';
import { TelemetryEventSchema, validateEvent, type EventValidation, type TelemetryEvent } from '../telemetry/event.ts';

/** Validates one raw message the way {@link decodeEvent} does, faster for valid events. */
export type EventDecoder = (buf: Buffer) => EventValidation;

function compile(): ValidateFunction | undefined {
  try {
    const schema = z.toJSONSchema(TelemetryEventSchema, { io: 'input', unrepresentable: 'throw' }) as Record<string, unknown>;
    delete schema.$schema;
    const ajv = new Ajv({ strict: false, unicode: false, useDefaults: true, allErrors: false, validateFormats: false, logger: false });
    return ajv.compile(schema);
  } catch {
    return undefined;
  }
}

/** Builds the decoder; falls back to zod alone if the schema cannot be expressed as JSON Schema. */
export function createEventDecoder(): EventDecoder {
  const fast = compile();
  return (buf) => {
    let value: unknown;
    try {
      value = JSON.parse(buf.toString('utf8'));
    } catch (err) {
      return { ok: false, reason: `not JSON: ${(err as Error).message}` };
    }
    if (fast?.(value)) return { ok: true, event: value as TelemetryEvent };
    return validateEvent(value);
  };
}
