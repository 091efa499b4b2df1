/**
 * The Kafka telemetry sink: a bounded in-memory queue, one idempotent kafkajs producer
 * (acks=all) sending one batch at a time, and a local spill log for when Kafka is unreachable
 * or slow. The request path only encodes and queues (see {@link KafkaSink.emit}).
 *
 * Two modes:
 * - `direct`: batches go from the queue to Kafka.
 * - `spill`: entered when a send stays unacknowledged for `stallMs` (the broker is down or
 *   unreachable; kafkajs keeps retrying it), when a send fails, when the queue passes its
 *   high-water mark, or at start when a previous run left spilled events. The queue then drains
 *   to the spill log on disk, and the sender replays the spill in order; once the replay has
 *   caught up with the spill the sink returns to `direct` and the consumed segments are deleted.
 * A batch that stalls is also written to the spill, so a crash during an outage loses nothing;
 * if its original send succeeds after all, replay skips those records (no duplicate). An event
 * waits in memory at most about 2.25 × `stallMs` (queued behind a send, which may take `stallMs`;
 * plus the watchdog's period, a quarter of it): then it goes to the spill, which survives a crash
 * of the process.
 *
 * A failed send is classified (kafka-errors.ts). Whatever the class, the producer session ends
 * (a send that failed has an unknown outcome, and a new producer id keeps the broker from judging
 * the resent events by the old session's sequence numbers) and the events are resent from the
 * spill: the only events never delivered are those Kafka refuses for good (`reject`), which are
 * isolated, written to the dead-letter file and counted as dropped.
 *
 * Acknowledged events stay in a resend window (resend-window.ts) for a while: when a partition's
 * offsets go backwards (the broker came back with its log wiped or truncated, losing what the
 * ingester had not read yet), the window goes through the spill again.
 */
import { dirname, join } from 'node:path';
import type { Logger } from '../core/log.ts';
import { TelemetryErrors } from './errors.ts';
import type { LocalLogOptions } from './local-log.ts';
import type { SendObserver } from './metrics.ts';
import { DeadLetterFile } from './dead-letter.ts';
import { classifySendError, protocolType } from './kafka-errors.ts';
import { KafkaTransport, type Transport } from './kafka-transport.ts';
import { WorkerKafkaTransport } from './kafka-worker-transport.ts';
import type { EncodedEvent } from './queue.ts';
import { SinkBase } from './sink-base.ts';
import { ResendWindow, type PartitionOffsets, type ResendWindowOptions } from './resend-window.ts';
import { Spill, type SpillBatch } from './spill.ts';
import type { TelemetrySink } from './sink.ts';

/** Options of {@link KafkaSink}. */
export interface KafkaSinkOptions {
  brokers: readonly string[];
  clientId: string;
  topic: string;
  /** Partitions when the topic has to be created. */
  partitions: number;
  /** Replication factor when the topic has to be created; default: the broker's. */
  replicationFactor?: number | undefined;
  queue: { maxEvents: number; highWater: number };
  batch: { maxEvents: number; maxBytes: number; lingerMs: number };
  /** A send unacknowledged this long switches the sink to spilling. */
  stallMs: number;
  spill: LocalLogOptions;
  /** File for events Kafka refuses for good (see dead-letter.ts); default `telemetry-dead-letter.jsonl` next to the spill directory. */
  deadLetterFile?: string | undefined;
  connectionTimeoutMs?: number | undefined;
  requestTimeoutMs?: number | undefined;
  /** `worker`: run kafkajs in a worker thread (off the event loop); default `main`. */
  producerThread?: 'main' | 'worker' | undefined;
  /** Acknowledged events kept to resend if the broker loses them (resend-window.ts); default {@link DEFAULT_RESEND_WINDOW}. */
  resendWindow?: ResendWindowOptions | undefined;
  logger: Logger;
  metrics?: SendObserver | undefined;
}

/** Default resend window: a minute of acknowledged events, at most 64 MiB of them. */
export const DEFAULT_RESEND_WINDOW: Readonly<ResendWindowOptions> = Object.freeze({ seconds: 60, maxBytes: 64 * 1024 * 1024 });

/** Kafka sink with spill; see the module comment. */
export class KafkaSink extends SinkBase implements TelemetrySink {
  private readonly opts: KafkaSinkOptions;
  private readonly kafka: Transport;
  private readonly spill: Spill;
  private mode: 'direct' | 'spill' = 'direct';
  private connected = false;
  /** The direct batch being sent, with its spill range once it stalled. */
  private inFlight: { events: EncodedEvent[]; since: number; oldest: number; spilling?: Promise<{ firstOffset: number; lastOffset: number } | undefined> } | undefined;
  private spillPumping = false;
  /** The spill batch being replayed, kept until delivered (a failed send resends the same batch). */
  private replaying: SpillBatch | undefined;
  private readonly deadLetter: DeadLetterFile;
  private deadLettered = 0;
  private resets = 0;
  private readonly window: ResendWindow;
  private losses = 0;
  private resentEvents = 0;
  private readonly loop: Promise<void>;
  /** Resolves when shutdown begins: a connect still retrying is abandoned then. */
  private stopping!: () => void;
  private readonly stopped = new Promise<void>((resolve) => { this.stopping = resolve; });
  private readonly watchdog: NodeJS.Timeout;

  /** Validates the options, opens the spill (replaying leftovers first) and starts connecting. */
  constructor(opts: KafkaSinkOptions) {
    super(opts.logger, 'telemetry-kafka', opts.queue.maxEvents, opts.metrics);
    if (!opts.brokers?.length) throw TelemetryErrors.badOptions('kafka sink: brokers are required');
    if (!(opts.queue.highWater > 0 && opts.queue.highWater < opts.queue.maxEvents)) throw TelemetryErrors.badOptions('kafka sink: queue.highWater must be > 0 and below queue.maxEvents');
    if (!(opts.batch.maxEvents >= 1 && opts.batch.maxBytes >= 1024 && opts.batch.lingerMs >= 0)) throw TelemetryErrors.badOptions('kafka sink: batch needs maxEvents >= 1, maxBytes >= 1024, lingerMs >= 0');
    if (!(opts.stallMs >= 10)) throw TelemetryErrors.badOptions('kafka sink: stallMs must be >= 10');
    this.opts = opts;
    this.deadLetter = new DeadLetterFile(opts.deadLetterFile || join(dirname(opts.spill.dir), 'telemetry-dead-letter.jsonl'));
    this.window = new ResendWindow(opts.resendWindow ?? DEFAULT_RESEND_WINDOW);
    this.spill = new Spill({ ...opts.spill, onExpired: (e) => this.expiredOnDisk('spill', e) });
    if (this.spill.truncatedBytes) this.log.warn({ bytes: this.spill.truncatedBytes }, 'cut a torn record at the end of the spill (crash during a spill write)');
    const leftover = this.spill.undelivered();
    if (leftover > 0) {
      this.mode = 'spill';
      this.log.info({ events: leftover }, 'spilled events from a previous run: replaying them first');
    }
    this.kafka = new (opts.producerThread === 'worker' ? WorkerKafkaTransport : KafkaTransport)({
      brokers: opts.brokers, clientId: opts.clientId, topic: opts.topic, partitions: opts.partitions, replicationFactor: opts.replicationFactor,
      connectionTimeoutMs: opts.connectionTimeoutMs, requestTimeoutMs: opts.requestTimeoutMs, logger: this.log, metrics: opts.metrics,
      quiet: () => this.mode === 'spill',
    });
    this.watchdog = setInterval(() => this.checkStall(), Math.max(5, Math.floor(opts.stallMs / 4)));
    this.watchdog.unref();
    this.loop = this.run();
  }

  /** Current mode (for tests and the admin API). */
  currentMode(): 'direct' | 'spill' {
    return this.mode;
  }

  /** Events in the spill not yet delivered. */
  spillBacklog(): number {
    return this.spill.undelivered();
  }

  /** Events written to the dead-letter file (also counted in `dropped`). */
  deadLetters(): number {
    return this.deadLettered;
  }

  /** Producer sessions ended after a failed send (each resend then uses a new producer id). */
  producerResets(): number {
    return this.resets;
  }

  /** Times the broker was found to have lost events it had acknowledged (offsets went backwards). */
  brokerLosses(): number {
    return this.losses;
  }

  /** Acknowledged events sent again after a broker lost them (each also counted in `replayed` when delivered again). */
  resent(): number {
    return this.resentEvents;
  }

  protected override queued(): number {
    return this.queue.length + (this.inFlight && !this.inFlight.spilling ? this.inFlight.events.length : 0);
  }

  protected override onEnqueue(): void {
    if (this.mode === 'direct' && this.queue.length > this.opts.queue.highWater) this.enterSpill('queue passed its high-water mark');
    if (this.mode === 'spill') this.pumpSpill();
    // The first event starts the linger (an idle loop sleeps up to a second otherwise: that wait
    // was most of the crash window); a full batch goes at once.
    else if (this.queue.length === 1 || this.queue.length >= this.opts.batch.maxEvents) this.wake();
  }

  protected override settled(): boolean {
    return this.queue.length === 0 && !this.spill.appending() && (!this.inFlight || this.inFlight.spilling !== undefined);
  }

  protected override async afterFlush(): Promise<void> {
    if (this.counters.spilled > 0) await this.spill.sync();
  }

  protected override async shutdown(): Promise<void> {
    clearInterval(this.watchdog);
    this.stopping();
    this.wake();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.loop, new Promise((r) => { timer = setTimeout(r, 2000); })]);
    clearTimeout(timer);
    await this.kafka.disconnect();
    await this.spill.close();
  }

  private enterSpill(reason: string): void {
    if (this.mode === 'spill') return;
    this.mode = 'spill';
    this.log.warn({ reason, queued: this.queue.length }, 'telemetry spilling to local disk');
    this.pumpSpill();
  }

  /** Watchdog: spill when the in-flight send, the connection or the queue has stalled. */
  private checkStall(): void {
    try {
      const now = Date.now();
      const f = this.inFlight;
      if (f && !f.spilling && (now - f.since > this.opts.stallMs || now - f.oldest > 2 * this.opts.stallMs)) {
        this.counters.errors++;
        this.enterSpill('a send is unacknowledged');
        f.spilling = this.spillEvents(f.events);
      } else if (this.queue.length > 0 && now - this.queue.oldestAt > (this.connected ? 2 : 1) * this.opts.stallMs) {
        // Connected, events queue behind a send that may itself take up to stallMs: twice that
        // means the sink is not keeping up, and memory is no place to wait.
        this.enterSpill(this.connected ? 'events waited in memory too long' : 'Kafka is not connected');
      }
      if (this.mode === 'spill' && this.queue.length) this.pumpSpill();
    } catch (err) {
      this.log.error({ err }, 'telemetry watchdog failed');
    }
  }

  /** Drains the queue to the spill while in spill mode. One pump at a time. */
  private pumpSpill(): void {
    if (this.spillPumping || this.closedForGood) return;
    this.spillPumping = true;
    void (async () => {
      try {
        while (this.mode === 'spill' && this.queue.length > 0) {
          const wait = this.opts.batch.lingerMs - (Date.now() - this.queue.oldestAt);
          if (this.queue.length < this.opts.batch.maxEvents && wait > 0 && !this.flushing) await this.sleep(wait);
          if (this.mode !== 'spill') break;
          await this.spillEvents(this.queue.take(this.opts.batch.maxEvents, this.opts.batch.maxBytes));
        }
      } finally {
        this.spillPumping = false;
        this.changed();
        this.wake();
      }
    })();
  }

  /**
   * Writes events to the spill; on a full spill or an I/O error counts them dropped. `resend`:
   * acknowledged events the broker lost (counted in {@link resent}, not in `spilled`).
   */
  private async spillEvents(events: EncodedEvent[], resend = false): Promise<{ firstOffset: number; lastOffset: number } | undefined> {
    if (!events.length) return undefined;
    try {
      const r = await this.spill.append(events);
      if (resend) this.resentEvents += events.length;
      else this.counters.spilled += events.length;
      return r;
    } catch (err) {
      if (!TelemetryErrors.logFull.is(err)) this.counters.errors++;
      this.drop(events.length, TelemetryErrors.logFull.is(err) ? 'spill full' : 'spill write failed', err);
      return undefined;
    } finally {
      this.changed();
    }
  }

  private async run(): Promise<void> {
    while (!this.closedForGood) {
      try {
        if (!this.connected) {
          await this.connect();
          continue;
        }
        if (this.replaying || this.spill.backlog() > 0) {
          await this.replayBatch();
          continue;
        }
        if (this.mode === 'spill') {
          if (!this.spill.appending() && this.spill.backlog() === 0 && !this.replaying) {
            this.mode = 'direct';
            this.log.info({ replayed: this.counters.replayed }, 'telemetry spill replayed; sending directly again');
            this.changed();
            continue;
          }
          await this.nextWake(50);
          continue;
        }
        if (this.queue.length === 0) {
          await this.nextWake(1000);
          continue;
        }
        const wait = this.opts.batch.lingerMs - (Date.now() - this.queue.oldestAt);
        if (this.queue.length < this.opts.batch.maxEvents && wait > 0 && !this.flushing) await this.nextWake(wait);
        if (this.mode === 'direct' && this.queue.length) await this.sendDirect();
      } catch (err) {
        this.log.error({ err }, 'telemetry send loop error');
        await this.nextWake(200);
      }
    }
  }

  private async connect(): Promise<void> {
    try {
      // kafkajs retries a refused connection for seconds and cannot be interrupted: a shutdown
      // does not wait for that. An abandoned attempt that still succeeds is disconnected.
      const attempt = this.kafka.connect();
      const stop = await Promise.race([attempt.then(() => false), this.stopped.then(() => true)]);
      if (stop) {
        attempt.then(() => this.kafka.disconnect(), () => undefined).catch(() => undefined);
        return;
      }
      this.connected = true;
      this.log.info({ topic: this.opts.topic, resets: this.resets }, 'telemetry producer connected');
    } catch (err) {
      this.counters.errors++;
      if (this.closedForGood) return;
      this.log.warn({ err }, 'telemetry producer cannot connect to Kafka; retrying');
      await this.nextWake(1000);
    }
  }

  private async send(events: EncodedEvent[]): Promise<void> {
    this.acknowledged(events, await this.kafka.send(events));
  }

  /** Keeps an acknowledged batch in the resend window; resends the window when the broker lost data. */
  private acknowledged(events: EncodedEvent[], offsets: PartitionOffsets): void {
    const lost = this.window.acknowledged(events, offsets);
    if (!lost) return;
    this.losses++;
    this.log.error({ events: lost.length, partitions: offsets.map(([p]) => p), window_s: (this.opts.resendWindow ?? DEFAULT_RESEND_WINDOW).seconds },
      'the broker lost events it had acknowledged (a partition\'s offsets went backwards: its log was wiped or truncated); resending the resend window from the spill');
    this.enterSpill('the broker lost acknowledged events');
    void this.spillEvents(lost, true);
  }

  private async sendDirect(): Promise<void> {
    const oldest = this.queue.oldestAt;
    const events = this.queue.take(this.opts.batch.maxEvents, this.opts.batch.maxBytes);
    const f: NonNullable<KafkaSink['inFlight']> = { events, since: Date.now(), oldest };
    this.inFlight = f;
    try {
      await this.send(events);
      const spilled = await f.spilling;
      if (spilled) this.spill.skip(spilled);
      this.counters.sent += events.length;
    } catch (err) {
      this.enterSpill('a send failed');
      f.spilling ??= this.spillEvents(events);
      await f.spilling;
      await this.sendFailed(err, events.length, 'direct');
    } finally {
      this.inFlight = undefined;
      this.changed();
    }
  }

  /**
   * After a failed send: ends the producer session (the next send connects a new producer, with
   * a new producer id, and re-checks the topic, creating it if the broker lost it) and waits a
   * little before the resend, longer when Kafka is unreachable.
   */
  private async sendFailed(err: unknown, events: number, where: 'direct' | 'replay'): Promise<void> {
    const kind = classifySendError(err);
    this.counters.errors++;
    const fields = { err, kind, type: protocolType(err), events, resets: this.resets + 1 };
    if (kind === 'retry' && this.mode === 'spill' && where === 'replay') this.log.debug(fields, 'telemetry replay send failed; retrying');
    else this.log.warn(fields, kind === 'reset' ? 'telemetry producer out of step with the broker; starting a new producer and resending from the spill'
      : kind === 'topic' ? 'the broker does not host the telemetry topic; creating it and resending from the spill'
        : `telemetry ${where} send failed; resending from the spill`);
    await this.resetProducer();
    if (!this.closedForGood) await this.nextWake(kind === 'retry' ? 1000 : 50);
  }

  private async resetProducer(): Promise<void> {
    this.resets++;
    this.connected = false;
    await this.kafka.reset().catch((err: unknown) => this.log.warn({ err }, 'telemetry producer reset failed'));
  }

  /**
   * Sends a replay batch. A batch Kafka refuses for good (`reject`: e.g. a message larger than the
   * topic allows) is split in halves until the refused events are isolated; each of those goes
   * to the dead-letter file and is counted as dropped, so one poison event cannot stall the
   * replay. Any other failure is thrown to the caller, which resends the whole batch.
   */
  private async sendSplitting(events: EncodedEvent[]): Promise<number> {
    try {
      if (events.length) await this.send(events);
      return events.length;
    } catch (err) {
      if (classifySendError(err) !== 'reject' || this.closedForGood) throw err;
      this.counters.errors++;
      // The refused request may have been stored for some partitions: a new session keeps the
      // sequence numbers of the next sends consistent.
      await this.resetProducer();
      if (events.length === 1) {
        await this.refuse(events, err);
        return 0;
      }
      const half = Math.ceil(events.length / 2);
      return (await this.sendSplitting(events.slice(0, half))) + (await this.sendSplitting(events.slice(half)));
    }
  }

  /** Writes events Kafka refused for good to the dead-letter file and counts them as dropped. */
  private async refuse(events: EncodedEvent[], err: unknown): Promise<void> {
    const type = protocolType(err) ?? 'rejected';
    try {
      await this.deadLetter.append(events, type, String((err as Error)?.message ?? err));
      this.deadLettered += events.length;
      this.drop(events.length, `Kafka refused the event for good (${type}); kept in the dead-letter file`, err);
    } catch (ioErr) {
      this.counters.errors++;
      this.drop(events.length, `Kafka refused the event for good (${type}) and the dead-letter file could not be written`, ioErr);
    }
  }

  private async replayBatch(): Promise<void> {
    const batch = (this.replaying ??= await this.spill.read(this.opts.batch.maxEvents, this.opts.batch.maxBytes));
    if (!batch) return;
    let delivered: number;
    try {
      delivered = await this.sendSplitting(batch.events);
    } catch (err) {
      if (this.closedForGood) return;
      await this.sendFailed(err, batch.events.length, 'replay');
      return;
    }
    this.replaying = undefined;
    await this.spill.commit(batch.nextOffset);
    this.counters.replayed += delivered;
    this.changed();
  }
}
