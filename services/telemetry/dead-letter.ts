/**
 * The Kafka sink's dead-letter file: events Kafka will never accept (larger than the broker's
 * limit, an invalid record) are appended here, one JSON line each, instead of vanishing. The file
 * is created with mode 0600 (events hold redacted inputs, still not for every local user), next
 * to the spill directory; each line is `{ ts, reason, error, key, value_base64 }`.
 */
import { appendFile, chmod, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { EncodedEvent } from './queue.ts';

/** Appends refused events to one file. */
export class DeadLetterFile {
  /** Path of the file. */
  readonly path: string;
  private ready: Promise<void> | undefined;

  constructor(path: string) {
    this.path = path;
  }

  /** Appends `events` with why Kafka refused them; rejects when the disk does. */
  async append(events: readonly EncodedEvent[], reason: string, error: string): Promise<void> {
    this.ready ??= mkdir(dirname(this.path), { recursive: true, mode: 0o700 }).then(() => undefined);
    await this.ready;
    const ts = new Date().toISOString();
    const lines = events.map((e) => JSON.stringify({ ts, reason, error, key: e.key, value_base64: e.value.toString('base64') })).join('\n');
    await appendFile(this.path, `${lines}\n`, { mode: 0o600 });
    // A file created by an older build, or by hand, may be wider: narrow it.
    await chmod(this.path, 0o600).catch(() => undefined);
  }
}
