/**
 * Request-path counters and histograms that cost a few array writes per request. prom-client's
 * own `observe`/`inc` validate and hash the label set on every call (measured at several µs per
 * request for the four series a request touches); these keep one slot per label set, resolved
 * once, and render in the Prometheus format only when scraped. They register on a prom-client
 * Registry like any metric (same exposition, same default labels).
 */
import type { Registry } from 'prom-client';

type Labels = Record<string, string>;

interface Series {
  labels: Labels;
  value: number;
}

interface HistSeries {
  labels: Labels;
  /** Count per bucket (not cumulative), plus one for +Inf at the end. */
  counts: Float64Array;
  sum: number;
  count: number;
}

/** What prom-client's Registry reads from a metric. */
interface MetricValue {
  labels: Labels;
  value: number;
  metricName?: string;
}

/** A counter with fixed label names. */
export class FastCounter {
  private readonly series = new Map<string, Series>();

  constructor(readonly name: string, readonly help: string, private readonly labelNames: readonly string[], registry: Registry) {
    registry.registerMetric(this as never);
  }

  /** Adds `by` (default 1) to the series with these label values (in `labelNames` order). */
  inc(values: readonly string[], by = 1): void {
    const key = values.join('\u0000');
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels: this.toLabels(values), value: 0 }));
    s.value += by;
  }

  /** Current value of a series (0 when absent). */
  value(values: readonly string[]): number {
    return this.series.get(values.join('\u0000'))?.value ?? 0;
  }

  private toLabels(values: readonly string[]): Labels {
    const l: Labels = {};
    this.labelNames.forEach((n, i) => { l[n] = values[i] ?? ''; });
    return l;
  }

  /** prom-client's metric interface. */
  get type(): string {
    return 'counter';
  }

  /** prom-client's metric interface. */
  async get(): Promise<{ name: string; help: string; type: string; values: MetricValue[]; aggregator: string }> {
    return { name: this.name, help: this.help, type: 'counter', aggregator: 'sum', values: [...this.series.values()].map((s) => ({ labels: s.labels, value: s.value })) };
  }

  /** prom-client's metric interface. */
  reset(): void {
    this.series.clear();
  }
}

/** A histogram with fixed label names and buckets. */
export class FastHistogram {
  private readonly series = new Map<string, HistSeries>();

  constructor(readonly name: string, readonly help: string, private readonly labelNames: readonly string[], private readonly buckets: readonly number[], registry: Registry) {
    if (buckets.some((b, i) => i > 0 && b <= buckets[i - 1]!)) throw new Error(`${name}: buckets must increase`);
    registry.registerMetric(this as never);
  }

  /** Records `v` in the series with these label values. */
  observe(values: readonly string[], v: number): void {
    const key = values.join('\u0000');
    let s = this.series.get(key);
    if (!s) {
      const labels: Labels = {};
      this.labelNames.forEach((n, i) => { labels[n] = values[i] ?? ''; });
      this.series.set(key, (s = { labels, counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 }));
    }
    const b = this.buckets;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    s.counts[i]!++;
    s.sum += v;
    s.count++;
  }

  /** Number of observations of a series (0 when absent). */
  count(values: readonly string[]): number {
    return this.series.get(values.join('\u0000'))?.count ?? 0;
  }

  /** prom-client's metric interface. */
  get type(): string {
    return 'histogram';
  }

  /** prom-client's metric interface. */
  async get(): Promise<{ name: string; help: string; type: string; values: MetricValue[]; aggregator: string }> {
    const values: MetricValue[] = [];
    for (const s of this.series.values()) {
      let cum = 0;
      this.buckets.forEach((le, i) => {
        cum += s.counts[i]!;
        values.push({ labels: { le: String(le), ...s.labels }, value: cum, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values };
  }

  /** prom-client's metric interface. */
  reset(): void {
    this.series.clear();
  }
}
