/**
 * Prometheus metrics of the telemetry sinks (names in docs/telemetry.md). Counters are read
 * from each sink's {@link SinkStats} when Prometheus scrapes, so the request path pays nothing;
 * only the send duration is observed as it happens (once per batch, not per event).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { SinkStats, TelemetrySink } from './sink.ts';

/** Counters only some sinks have (the Kafka sink; `expired` the local-log sink too). */
interface KafkaSinkCounters {
  expired(): number;
  deadLetters(): number;
  producerResets(): number;
  brokerLosses(): number;
  resent(): number;
}

/** What a sink's transport reports as it sends: one acknowledged batch's send time. */
export interface SendObserver {
  observeSend(seconds: number): void;
}

type Result = 'sent' | 'spilled' | 'replayed' | 'dropped';
const RESULTS: readonly Result[] = ['sent', 'spilled', 'replayed', 'dropped'];

/** The telemetry metrics on one registry. Pass it to a sink; the sink calls {@link track}. */
export class TelemetryMetrics implements SendObserver {
  private readonly sinks: TelemetrySink[] = [];
  private readonly seen: Record<Result | 'errors', number> = { sent: 0, spilled: 0, replayed: 0, dropped: 0, errors: 0 };
  private readonly sendDuration: Histogram;

  /** Registers the metrics on `registry` (throws if they are registered there already). */
  constructor(registry: Registry) {
    const sinks = this.sinks;
    const total = (): SinkStats => sinks.map((s) => s.stats()).reduce((a, b) => ({
      queued: a.queued + b.queued, sent: a.sent + b.sent, spilled: a.spilled + b.spilled,
      replayed: a.replayed + b.replayed, dropped: a.dropped + b.dropped, errors: a.errors + b.errors,
    }), { queued: 0, sent: 0, spilled: 0, replayed: 0, dropped: 0, errors: 0 });
    const seen = this.seen;
    new Gauge({
      name: 'mlgate_telemetry_queue_depth', help: 'Telemetry events waiting in memory', registers: [registry],
      collect() { this.set(total().queued); },
    });
    type Extra = 'deadLetters' | 'producerResets' | 'brokerLosses' | 'resent' | 'expired';
    const extra = (name: Extra) => sinks.reduce((n, s) => n + ((s as Partial<KafkaSinkCounters>)[name]?.() ?? 0), 0);
    const seenExtra: Record<Extra, number> = { deadLetters: 0, producerResets: 0, brokerLosses: 0, resent: 0, expired: 0 };
    new Counter({
      name: 'mlgate_telemetry_events_total', help: 'Telemetry events by result: sent (acknowledged by the transport), spilled (written to the local spill log), replayed (spilled then delivered), dropped (could not be kept), expired (deleted from the spill or local log unread after maxAgeHours)',
      labelNames: ['result'], registers: [registry],
      collect() {
        const s = total();
        for (const r of RESULTS) {
          if (s[r] > seen[r]) this.inc({ result: r }, s[r] - seen[r]);
          seen[r] = Math.max(seen[r], s[r]);
        }
        const x = extra('expired');
        if (x > seenExtra.expired) this.inc({ result: 'expired' }, x - seenExtra.expired);
        seenExtra.expired = Math.max(seenExtra.expired, x);
      },
    });
    new Counter({
      name: 'mlgate_telemetry_producer_errors_total', help: 'Errors from the telemetry transport (failed or stalled sends, spill I/O)', registers: [registry],
      collect() {
        const s = total();
        if (s.errors > seen.errors) this.inc(s.errors - seen.errors);
        seen.errors = Math.max(seen.errors, s.errors);
      },
    });
    const extraCounter = (metric: string, help: string, key: Extra) => new Counter({
      name: metric, help, registers: [registry],
      collect() {
        const v = extra(key);
        if (v > seenExtra[key]) this.inc(v - seenExtra[key]);
        seenExtra[key] = Math.max(seenExtra[key], v);
      },
    });
    extraCounter('mlgate_telemetry_dead_letters_total', 'Events Kafka refused for good, written to the dead-letter file (also counted as dropped)', 'deadLetters');
    extraCounter('mlgate_telemetry_producer_resets_total', 'Kafka producer sessions ended after a failed send (the resend uses a new producer id)', 'producerResets');
    extraCounter('mlgate_telemetry_broker_losses_total', 'Times the broker was found to have lost acknowledged events (a partition\'s offsets went backwards)', 'brokerLosses');
    extraCounter('mlgate_telemetry_resent_total', 'Acknowledged events sent again from the resend window after the broker lost them', 'resent');
    this.sendDuration = new Histogram({
      name: 'mlgate_telemetry_send_duration_seconds', help: 'Time from handing a batch to the transport to its acknowledgement',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry],
    });
  }

  /** Adds a sink whose stats the counters report. */
  track(sink: TelemetrySink): void {
    this.sinks.push(sink);
  }

  /** Records one acknowledged batch send. */
  observeSend(seconds: number): void {
    this.sendDuration.observe(seconds);
  }
}
