/** Helpers of the controller service tests: ordered teardown and a synthetic traffic writer. */
import { v7 as uuidv7 } from 'uuid';
import type { ControlChannel } from '../../../services/routing/channel.ts';
import type { RoutingState } from '../../../services/routing/state.ts';
import type { TelemetryEvent } from '../../../services/telemetry/event.ts';
import { toRequestRow } from '../../../services/warehouse/request-rows.ts';
import type { Warehouse } from '../../../services/warehouse/warehouse.ts';
import { sampleEvent } from '../../support/events.ts';

/** Closes what a test started, last first (node:test runs `after` hooks in the order they were added). */
export class Teardown {
  private readonly fns: Array<() => unknown> = [];
  /** Adds a step; steps run in reverse order of addition. */
  add(fn: () => unknown): void {
    this.fns.push(fn);
  }
  /** Runs every step; a failing step is reported and the others still run. */
  async run(): Promise<void> {
    for (const fn of this.fns.reverse()) await Promise.resolve().then(fn).catch((err: unknown) => console.error('teardown:', err));
  }
}

/**
 * Writes request rows straight into ClickHouse as if a gateway served `rps` requests/s of `model`,
 * split between its versions by the latest routing state on `control` (config: all on `stable`).
 * Every version fails `errorRate` of its requests; latencies are 5-7 ms.
 */
export function writeTraffic(wh: Warehouse, control: ControlChannel, opts: { model: string; stable: string; rps: number; errorRate: number }): { stop(): Promise<void>; rows(): number } {
  let weights: Record<string, number> = { [opts.stable]: 100 };
  let generation = -1;
  const apply = (s: RoutingState) => {
    if (s.model !== opts.model || s.generation <= generation) return;
    generation = s.generation;
    weights = Object.fromEntries(s.versions.filter((v) => v.state === 'active').map((v) => [v.name, v.weight]));
  };
  const unsubscribe = control.subscribe(apply);
  let written = 0;
  let offset = 0;
  let stopped = false;
  const pick = () => {
    const total = Object.values(weights).reduce((a, b) => a + b, 0);
    let r = Math.random() * total;
    for (const [v, w] of Object.entries(weights)) if ((r -= w) < 0) return v;
    return opts.stable;
  };
  const loop = (async () => {
    for (const s of await control.readToEnd()) apply(s);
    while (!stopped) {
      const now = Date.now();
      const events: TelemetryEvent[] = [];
      for (let i = 0; i < opts.rps / 5; i++) {
        const version = pick();
        events.push(sampleEvent({
          event_id: uuidv7(), model: opts.model, version, role: version === opts.stable ? 'stable' : 'canary', ts: now - Math.floor(Math.random() * 200),
          outcome: Math.random() < opts.errorRate ? 'upstream_error' : 'ok', latency_ms: 5 + Math.random() * 2,
        }));
      }
      await wh.insert('requests', events.map((e) => toRequestRow(e, { topic: 'synthetic', partition: 0, offset: offset++ })));
      written += events.length;
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return {
    rows: () => written,
    async stop() {
      stopped = true;
      unsubscribe();
      await loop;
    },
  };
}
