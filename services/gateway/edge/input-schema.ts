/**
 * Per-model JSON Schemas for request bodies (ajv, compiled once at setup: a schema that does not
 * compile stops the start with the model's name). A body that fails gets 400
 * MLG_EDGE_SCHEMA_INVALID naming the first failures (instance path, schema path, message; never
 * the values) and never reaches the model.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { MlgateError } from '../../core/errors.ts';
import { EdgeErrors } from './errors.ts';

const MAX_REPORTED = 5;

/** A refusal with its metric reason (the ajv keyword of the first failure, or `not_json`). */
export interface SchemaRefusal {
  error: MlgateError;
  reason: string;
}

/** Compiled schemas by model. */
export class InputSchemas {
  private readonly validators = new Map<string, ValidateFunction>();

  /** @param schemas model -> JSON Schema object, or `{ file }` holding one. */
  constructor(schemas: Readonly<Record<string, Record<string, unknown>>>) {
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false, logger: false });
    for (const [model, raw] of Object.entries(schemas)) {
      let schema = raw;
      if (typeof raw.file === 'string' && Object.keys(raw).length === 1) {
        try {
          schema = JSON.parse(readFileSync(raw.file, 'utf8')) as Record<string, unknown>;
        } catch (err) {
          throw EdgeErrors.setup(`gateway.models.${model}.inputSchema: ${raw.file} is not a readable JSON file: ${(err as Error).message}`, { cause: err });
        }
      }
      try {
        this.validators.set(model, ajv.compile(schema));
      } catch (err) {
        throw EdgeErrors.setup(`gateway.models.${model}.inputSchema does not compile: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  /** True when `model` has a schema. */
  has(model: string): boolean {
    return this.validators.has(model);
  }

  /**
   * Checks a body. `json` is the parsed body, `undefined` when the body was not JSON (refused:
   * a model with a schema takes JSON only). Returns undefined when it passes.
   */
  check(model: string, json: unknown, parsed: boolean): SchemaRefusal | undefined {
    const v = this.validators.get(model);
    if (!v) return undefined;
    if (!parsed) {
      return { reason: 'not_json', error: EdgeErrors.schemaInvalid(`model ${model} takes a JSON body (content-type application/json) matching its input schema`, { details: { model, errors: [] } }) };
    }
    if (v(json)) return undefined;
    const errs = (v.errors ?? []).slice(0, MAX_REPORTED).map((e: ErrorObject) => ({ path: e.instancePath || '/', schemaPath: e.schemaPath, message: e.message ?? e.keyword }));
    const first = errs[0];
    return {
      reason: v.errors?.[0]?.keyword ?? 'invalid',
      error: EdgeErrors.schemaInvalid(`request body does not match the input schema of model ${model}${first ? `: ${first.path} ${first.message}` : ''}`, { details: { model, errors: errs } }),
    };
  }
}

/**
 * The compiled schemas of each model config object. The gateway compiles every configured model
 * at start (a bad schema stops the start); a model config that arrives later by a reload is
 * compiled on its first request (a schema that does not compile then answers 500 MLG_EDGE_SETUP).
 */
export class SchemaBook {
  private readonly byConfig = new WeakMap<object, InputSchemas | null>();

  /** The schemas of `model` under `config`, or undefined when it has no input schema. */
  of(model: string, config: { readonly inputSchema?: Record<string, unknown> | undefined }): InputSchemas | undefined {
    let s = this.byConfig.get(config);
    if (s === undefined) {
      s = config.inputSchema ? new InputSchemas({ [model]: config.inputSchema }) : null;
      this.byConfig.set(config, s);
    }
    return s ?? undefined;
  }
}
