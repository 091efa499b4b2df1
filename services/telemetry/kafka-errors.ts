/**
 * What the Kafka sink does about a failed send, decided in one place from the kafkajs error.
 *
 * - `retry`: Kafka is unreachable, restarting or electing leaders; the events wait in the spill
 *   and the send is tried again later.
 * - `reset`: the idempotent producer's session is out of step with the broker (sequence numbers,
 *   producer id or epoch); a new producer (new producer id) resends the events from the spill.
 * - `topic`: the broker does not host the topic (deleted, or a broker that lost its data); the
 *   topic is created again and the send retried.
 * - `reject`: Kafka will never accept these bytes (too large, invalid record); the sink isolates the
 *   refused events, writes them to the dead-letter file and counts them as dropped.
 *
 * Anything not recognised is `retry`: an unknown error must never cost an event.
 */

/** What to do about a failed send. */
export type SendFailure = 'retry' | 'reset' | 'topic' | 'reject';

/** Protocol errors that mean the producer session (id, epoch, sequence) is unusable. */
const RESET = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER', 'DUPLICATE_SEQUENCE_NUMBER', 'INVALID_PRODUCER_EPOCH', 'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_ID_MAPPING', 'PRODUCER_FENCED', 'INVALID_TXN_STATE',
]);

/** Protocol errors that mean the topic (or partition) is not there. */
const TOPIC = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'UNKNOWN_TOPIC_ID']);

/** Protocol errors about the records themselves: resending the same bytes can never succeed. */
const REJECT = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'INVALID_TIMESTAMP', 'UNSUPPORTED_FOR_MESSAGE_FORMAT']);

/** kafkajs error names that surface when the topic has no metadata (it does not exist). */
const TOPIC_NAMES = new Set(['KafkaJSMetadataNotLoaded', 'KafkaJSTopicMetadataNotLoaded']);

interface ErrorLike {
  name?: unknown;
  type?: unknown;
  cause?: unknown;
  originalError?: unknown;
  errors?: unknown;
}

/** The kafkajs error and the errors it wraps (`cause`, `originalError`, aggregate `errors`), outermost first. */
export function errorChain(err: unknown): ErrorLike[] {
  const out: ErrorLike[] = [];
  const todo: unknown[] = [err];
  while (todo.length && out.length < 20) {
    const e = todo.shift();
    if (!e || typeof e !== 'object' || out.includes(e as ErrorLike)) continue;
    const x = e as ErrorLike;
    out.push(x);
    todo.push(x.cause, x.originalError);
    if (Array.isArray(x.errors)) todo.push(...(x.errors as unknown[]));
  }
  return out;
}

/** The protocol error type (`OUT_OF_ORDER_SEQUENCE_NUMBER`, ...) inside `err`, if any: the first one that decides. */
export function protocolType(err: unknown): string | undefined {
  const types = errorChain(err).map((e) => (typeof e.type === 'string' ? e.type : undefined)).filter((t): t is string => !!t);
  return types.find((t) => REJECT.has(t)) ?? types.find((t) => RESET.has(t)) ?? types.find((t) => TOPIC.has(t)) ?? types[0];
}

/**
 * Classifies a failed send (see the module comment). A rejection wins over the rest: its events
 * must be isolated whatever else went wrong; then a broken session; then a missing topic.
 */
export function classifySendError(err: unknown): SendFailure {
  const chain = errorChain(err);
  const types = new Set(chain.map((e) => e.type).filter((t): t is string => typeof t === 'string'));
  const has = (set: Set<string>) => [...types].some((t) => set.has(t));
  if (has(REJECT)) return 'reject';
  if (has(RESET)) return 'reset';
  if (has(TOPIC) || chain.some((e) => TOPIC_NAMES.has(String(e.name)))) return 'topic';
  return 'retry';
}
