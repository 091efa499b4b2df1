/**
 * The embedded mode's control channel: the in-process channel's semantics (latest state per model,
 * delivery to subscribers a microtask after publish), plus the latest states kept in a JSON file so
 * a restarted `mlgate start` routes as the controller and admins last decided, the way the
 * compacted Kafka topic does in the distributed mode.
 *
 * The file is rewritten whole (write to a temporary file, fsync, rename) after every publish, one
 * write at a time; a publish resolves once its state is on disk. A file that does not parse stops
 * the start with MLG_EMB_ROUTING_STORE_UNREADABLE (never a silent reset); a state in it that
 * fails validation is skipped with a warning naming the model.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { InProcessControlChannel } from '../routing/channel.ts';
import { parseRoutingState } from '../routing/state.ts';
import type { Logger } from '../core/log.ts';
import { silentLogger } from '../core/log.ts';
import { EmbeddedErrors } from './errors.ts';

/** Options of {@link FileBackedControlChannel}. */
export interface FileBackedControlChannelOptions {
  /** The JSON file, e.g. `<dataDir>/control/routing-states.json`. */
  file: string;
  logger?: Logger;
}

interface FileDoc {
  version: 1;
  states: unknown[];
}

/** See the module comment. */
export class FileBackedControlChannel extends InProcessControlChannel {
  private readonly file: string;
  private readonly log: Logger;
  private writes: Promise<void> = Promise.resolve();

  /** Loads the file when it exists. @throws MLG_EMB_ROUTING_STORE_UNREADABLE */
  constructor(opts: FileBackedControlChannelOptions) {
    super();
    this.file = opts.file;
    this.log = opts.logger ?? silentLogger();
    mkdirSync(dirname(this.file), { recursive: true });
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw EmbeddedErrors.routingStoreUnreadable(`cannot read ${this.file}: ${(err as Error).message}`, { cause: err });
    }
    let doc: FileDoc;
    try {
      doc = JSON.parse(text) as FileDoc;
      if (doc?.version !== 1 || !Array.isArray(doc.states)) throw new Error('expected {"version": 1, "states": [...]}');
    } catch (err) {
      throw EmbeddedErrors.routingStoreUnreadable(`${this.file} is not a routing states file (${(err as Error).message}); move it away to start from the config's weights`, { cause: err });
    }
    for (const raw of doc.states) {
      try {
        const s = parseRoutingState(raw);
        this.latest.set(s.model, s);
      } catch (err) {
        this.log.warn({ err, model: (raw as { model?: unknown })?.model }, 'saved routing state skipped: invalid');
      }
    }
  }

  override async close(): Promise<void> {
    await super.close();
    await this.writes;
  }

  protected override persist(): Promise<void> {
    return this.save();
  }

  /** Writes the current states (serialised; each call waits for its own write). */
  private save(): Promise<void> {
    const doc: FileDoc = { version: 1, states: [...this.latest.values()] };
    const run = this.writes.then(async () => {
      const tmp = `${this.file}.tmp`;
      try {
        const fh = await open(tmp, 'w');
        try {
          await fh.writeFile(`${JSON.stringify(doc, null, 1)}\n`);
          await fh.sync();
        } finally {
          await fh.close();
        }
        await rename(tmp, this.file);
      } catch (err) {
        throw EmbeddedErrors.routingStoreWriteFailed(`cannot write ${this.file}: ${(err as Error).message}`, { cause: err });
      }
    });
    this.writes = run.catch(() => undefined);
    return run;
  }
}
