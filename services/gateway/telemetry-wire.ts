/**
 * The compact messages between the telemetry stage and its worker. Out: the payloads of a batch
 * packed in one transferred buffer plus a flat array of offsets and content types per record
 * (model settings sent once per model as numbered profiles). Back: a flat array of the computed
 * payload fields per record. Kept flat because structured cloning of many small objects costs
 * more on the request thread than the work it saves.
 */
import type { EventRecord, PayloadFields, PayloadInput } from './event-record.ts';

/** Entries per record in {@link OutMessage.meta}. */
export const META_WIDTH = 8;
/** Entries per record in {@link BackMessage.out}. */
export const OUT_WIDTH = 8;

/** Model settings the worker needs (prediction paths, redaction options). */
export interface Profile {
  prediction: EventRecord['prediction'];
  redaction: EventRecord['redaction'];
}

/** Stage → worker. */
export interface OutMessage {
  id: number;
  buf: ArrayBuffer;
  /** Per record: reqOff, reqLen (-1 none), reqCT, resOff, resLen (-1 none), resKind (1 body, 2 tail), resCT, profile. */
  meta: Array<string | number>;
  /** Profiles first used in this batch. */
  profiles: Array<[number, Profile]>;
}

/** Worker → stage: per record the fields, or null in the first slot when it could not be built. */
export interface BackMessage {
  id: number;
  out: unknown[];
  errors: string[];
}

/** Packs a batch (stage side). `profileOf` numbers each record's settings, registering new ones in `fresh`. */
export function packBatch(id: number, batch: readonly EventRecord[], profileOf: (r: EventRecord, fresh: Array<[number, Profile]>) => number): { msg: OutMessage; transfer: ArrayBuffer[] } {
  let total = 0;
  for (const r of batch) total += (r.requestBody?.length ?? 0) + (r.responseBody?.length ?? r.responseTail?.length ?? 0);
  const packed = new Uint8Array(total);
  const meta: Array<string | number> = [];
  const profiles: Array<[number, Profile]> = [];
  let at = 0;
  for (const r of batch) {
    const req = r.requestBody;
    const res = r.responseBody ?? r.responseTail;
    meta.push(at, req ? req.length : -1, r.requestContentType ?? '');
    if (req) { packed.set(req, at); at += req.length; }
    meta.push(at, res ? res.length : -1, r.responseBody ? 1 : 2, r.responseContentType ?? '');
    if (res) { packed.set(res, at); at += res.length; }
    meta.push(profileOf(r, profiles));
  }
  return { msg: { id, buf: packed.buffer, meta, profiles }, transfer: [packed.buffer] };
}

/** Unpacks record `i` of a message (worker side). */
export function unpackInput(msg: OutMessage, i: number, profiles: ReadonlyMap<number, Profile>): PayloadInput {
  const m = msg.meta;
  const b = i * META_WIDTH;
  const view = (off: number, len: number) => (len < 0 ? null : Buffer.from(msg.buf, off, len));
  const resLen = m[b + 4] as number;
  const res = view(m[b + 3] as number, resLen);
  const p = profiles.get(m[b + 7] as number);
  return {
    requestBody: view(m[b] as number, m[b + 1] as number),
    requestContentType: (m[b + 2] as string) || undefined,
    responseBody: m[b + 5] === 1 ? res : null,
    responseTail: m[b + 5] === 2 ? res : null,
    responseContentType: (m[b + 6] as string) || undefined,
    prediction: p?.prediction,
    redaction: p?.redaction,
  };
}

/** Appends one record's fields to `out` (worker side). */
export function pushFields(out: unknown[], f: PayloadFields): void {
  out.push(f.input_hash, f.output_hash, f.input_redacted, f.redactions, f.prediction_label, f.prediction_score, f.tokens_in, f.tokens_out);
}

/** Appends a failed record's marker (worker side). */
export function pushFailure(out: unknown[]): void {
  out.push(null, null, null, null, null, null, null, null);
}

/** Reads record `i`'s fields, or undefined when the worker could not build them (stage side). */
export function fieldsAt(out: readonly unknown[], i: number): PayloadFields | undefined {
  const b = i * OUT_WIDTH;
  if (out[b] === null) return undefined;
  return {
    input_hash: out[b] as string, output_hash: out[b + 1] as string, input_redacted: out[b + 2] as string,
    redactions: out[b + 3] as Record<string, number>, prediction_label: out[b + 4] as string | null,
    prediction_score: out[b + 5] as number | null, tokens_in: out[b + 6] as number | null, tokens_out: out[b + 7] as number | null,
  };
}
