/**
 * The local append-only log: segmented files on disk with length + CRC framing and dense
 * offsets that survive restarts. It is both the Kafka sink's spill (events wait here while
 * Kafka is unreachable) and the embedded mode's transport (the ingester tails it instead of a
 * topic). One writer per directory; any number of named readers, in this process or another.
 *
 * Usage:
 * ```ts
 * const w = new LocalLogWriter({ dir, fsync: 'interval' });
 * await w.append([Buffer.from(json)]);
 * const r = new LocalLogReader({ dir, name: 'ingester' });
 * const recs = await r.read(500);            // in order, from the committed offset
 * await r.commit(recs.at(-1)!.offset + 1);   // durable; consumed segments are deleted
 * ```
 */
export { LocalLogWriter, LOCAL_LOG_DEFAULTS, type LocalLogExpiry, type LocalLogOptions, type FsyncPolicy } from './local-log-writer.ts';
export { LocalLogReader, type LocalLogRecord } from './local-log-reader.ts';
