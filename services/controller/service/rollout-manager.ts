/**
 * The rollouts a leading controller runs: creation, manual operations and ticks, each turned into
 * a transition of the pure core (tick / manual) and committed the same way:
 *
 * 1. build the decision's `canary_decisions` row and, when the routing changes, the model's next
 *    routing state (generation above every state seen);
 * 2. save the new rollout state together with both (the outbox) in `controller_rollouts`: the
 *    point of no return; a failure here leaves the rollout as it was (the next tick recomputes);
 * 3. deliver: append the row to the controller's decision chain, then publish the routing state.
 *    A delivery failure is retried on the following loop turns before the rollout ticks again;
 *    a controller that takes over re-delivers the saved outbox (the row is skipped when its
 *    decision id is already in ClickHouse; the state when a newer generation is known).
 *
 * So a routing state is never published before its decision is recorded, and a recorded decision
 * is always the one the saved state came from. Operations on one rollout run one at a time.
 */
import { v7 as uuidv7 } from 'uuid';
import type { Logger } from '../../core/log.ts';
import type { ChainedWriter } from '../../ledger/chained-writer.ts';
import type { MetricsProvider } from '../analysis/input.ts';
import { ControllerErrors } from '../errors.ts';
import type { ControllerMetrics } from './prometheus.ts';
import { decisionRow, routingChanged, summarizeDecision, type StoredRollout } from './decision-rows.ts';
import type { ManualOperation } from '../rollout/decision.ts';
import { manual, nextWindow, tick, type Transition } from '../rollout/machine.ts';
import type { ResolvedRolloutSpec } from '../rollout/spec.ts';
import { createRollout, isTerminal } from '../rollout/state.ts';
import type { RoutingFollower } from '../../routing/follower.ts';
import { rolloutState } from './rollout-routing.ts';
import type { RolloutStore } from './rollout-store.ts';
import { viewOf, type RolloutView } from './views.ts';

/** Options of {@link RolloutManager}. */
export interface RolloutManagerOptions {
  store: RolloutStore;
  /** The controller's chain of `canary_decisions`. */
  decisions: ChainedWriter<'canary_decisions'>;
  routing: RoutingFollower;
  provider: MetricsProvider;
  metrics: ControllerMetrics;
  logger: Logger;
  now: () => number;
  /** Actor of automatic decisions' routing states. */
  actor: string;
  isLeader: () => boolean;
  /**
   * This controller's leadership epoch (undefined: it always leads). Stamped on every saved state
   * and decision; the store refuses a save or a delivery below the highest epoch it holds.
   */
  epoch?: () => number | undefined;
  /** 0: record every wait; N: a wait only when the last recorded decision is N s old. */
  waitEveryS: number;
  /** How the provider selects rows (written into each evidence). */
  collection: unknown;
}

interface Entry {
  stored: StoredRollout;
  /** Outbox parts still to deliver. */
  pending: { decision: boolean; routing: boolean; checkExisting: boolean };
  lastTickAt: number;
  busy: boolean;
  queue: Promise<unknown>;
}

/** The rollouts of the leading controller; see the module comment. */
export class RolloutManager {
  private entries = new Map<string, Entry>();
  private readonly o: RolloutManagerOptions;

  constructor(opts: RolloutManagerOptions) {
    this.o = opts;
  }

  /** Loads every rollout from the store (on taking the lead). Outboxes found are re-delivered. */
  async activate(): Promise<void> {
    const loaded = await this.o.store.loadAll();
    const entries = new Map<string, Entry>();
    for (const stored of loaded) {
      const ob = stored.outbox;
      entries.set(stored.state.spec.id, {
        stored, lastTickAt: 0, busy: false, queue: Promise.resolve(),
        pending: { decision: ob !== null, routing: ob?.routing != null, checkExisting: true },
      });
      this.o.metrics.show(stored.state);
    }
    this.entries = entries;
  }

  /** Forgets everything (on losing the lead). */
  deactivate(): void {
    this.entries = new Map();
    this.o.metrics.clearRollouts();
  }

  /** Views of the rollouts held in memory (the leader's). */
  views(): RolloutView[] {
    const now = this.o.now();
    return [...this.entries.values()].map((e) => viewOf(e.stored, now, e.lastTickAt)).sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  /** The view of one rollout held in memory, or undefined. */
  view(id: string): RolloutView | undefined {
    const e = this.entries.get(id);
    return e ? viewOf(e.stored, this.o.now(), e.lastTickAt) : undefined;
  }

  /** True when a rollout with this id is held. */
  has(id: string): boolean {
    return this.entries.has(id);
  }

  /**
   * Adds a rollout. From the API (`start`): started at once by `actor` (a recorded decision);
   * from the config: saved pending, started by the first tick.
   * @throws MLG_CTL_CONFLICT (id taken, or the model has an active rollout), MLG_CTL_NOT_LEADER.
   */
  async create(spec: ResolvedRolloutSpec, actor: string, source: 'api' | 'config'): Promise<RolloutView> {
    this.ensureLeader();
    if (this.entries.has(spec.id)) throw ControllerErrors.conflict(`rollout ${spec.id} already exists`, { details: { rollout: spec.id } });
    const busy = [...this.entries.values()].find((e) => e.stored.state.spec.model === spec.model && !isTerminal(e.stored.state));
    if (busy) {
      throw ControllerErrors.conflict(`model ${spec.model} already has an active rollout (${busy.stored.state.spec.id})`, { details: { rollout: busy.stored.state.spec.id } });
    }
    const now = this.o.now();
    const stored: StoredRollout = { state: createRollout(spec), outbox: null, summary: { createdAt: now, createdBy: actor, source, lastDecision: null, lastRecordedAt: null, ...this.epochField() } };
    const entry: Entry = { stored, lastTickAt: 0, busy: false, queue: Promise.resolve(), pending: { decision: false, routing: false, checkExisting: false } };
    await this.o.store.save(stored, this.o.actor);
    this.entries.set(spec.id, entry);
    this.o.metrics.show(stored.state);
    this.o.logger.info({ rollout: spec.id, model: spec.model, actor, source }, 'rollout created');
    if (source === 'api') await this.serial(entry, () => this.commit(entry, manual(entry.stored.state, 'start', this.o.now(), actor), true));
    return viewOf(entry.stored, this.o.now(), entry.lastTickAt);
  }

  /**
   * A manual operation (pause, resume, promote now, abort) by `actor`, recorded like a decision;
   * `note` (the operator's reason) is appended to the decision's reason.
   * @throws MLG_CTL_NOT_FOUND, MLG_CTL_BAD_TRANSITION (not allowed in this phase), MLG_CTL_NOT_LEADER.
   */
  async operate(id: string, op: ManualOperation, actor: string, note?: string): Promise<RolloutView> {
    this.ensureLeader();
    const entry = this.entries.get(id);
    if (!entry) throw ControllerErrors.notFound(`no rollout ${id}`, { details: { rollout: id } });
    await this.serial(entry, async () => {
      if (!(await this.deliver(entry))) {
        throw ControllerErrors.deliveryPending(`rollout ${id}: the previous decision is not delivered yet (ClickHouse or Kafka unavailable); try again`);
      }
      const t = manual(entry.stored.state, op, this.o.now(), actor);
      const reason = note ? `${t.decision.reason}: ${note}` : t.decision.reason;
      await this.commit(entry, { state: t.state, decision: { ...t.decision, reason } }, true);
    });
    return viewOf(entry.stored, this.o.now(), entry.lastTickAt);
  }

  /** One scheduler turn: delivers pending outboxes and ticks every rollout whose tick is due. Never throws. */
  runDue(track: (p: Promise<unknown>) => void): void {
    if (!this.o.isLeader()) return;
    const now = this.o.now();
    for (const entry of this.entries.values()) {
      if (entry.busy) continue;
      const s = entry.stored.state;
      const pending = entry.pending.decision || entry.pending.routing;
      const due = !isTerminal(s) && (s.phase === 'pending' || now - entry.lastTickAt >= s.spec.tick.intervalS * 1000);
      if (!pending && !due) continue;
      track(this.serial(entry, async () => {
        if ((await this.deliver(entry)) && due) await this.tickOne(entry);
      }).catch((err: unknown) => {
        if (ControllerErrors.notLeader.is(err)) return;
        this.o.metrics.ticks.labels('failed').inc();
        this.o.logger.error({ err, rollout: s.spec.id }, 'rollout tick failed; retried on the next turn');
      }));
    }
  }

  private async tickOne(entry: Entry): Promise<void> {
    const now = this.o.now();
    entry.lastTickAt = now;
    const s = entry.stored.state;
    const window = nextWindow(s, now);
    let input = null;
    if (window) {
      const end = this.o.metrics.collectSeconds.startTimer();
      try {
        input = await this.o.provider.collect(s.spec, window);
        end();
      } catch (err) {
        this.o.metrics.ticks.labels('collect_failed').inc();
        this.o.logger.warn({ err, rollout: s.spec.id, window }, 'window not collected; the next window covers it');
      }
    }
    const t = tick(s, input, now);
    if (input || !window) this.o.metrics.ticks.labels(window ? 'ok' : 'no_window').inc();
    const last = entry.stored.summary.lastRecordedAt;
    const record = this.o.waitEveryS === 0 || t.decision.action !== 'wait' || last === null || now - last >= this.o.waitEveryS * 1000;
    await this.commit(entry, t, record);
  }

  private async commit(entry: Entry, t: Transition, record: boolean): Promise<void> {
    const before = entry.stored.state;
    const d = t.decision;
    const decisionId = uuidv7();
    const changed = routingChanged(before, d);
    const routing = changed
      ? rolloutState(this.o.routing, before.spec, d.routing, { actor: d.evidence.manual && d.actor !== 'controller' ? d.actor : this.o.actor, reason: d.reason, id: decisionId, at: d.at })
      : null;
    const generation = routing?.generation ?? 0;
    const summary = {
      ...entry.stored.summary, lastDecision: summarizeDecision(d, decisionId, generation),
      lastRecordedAt: record ? d.at : entry.stored.summary.lastRecordedAt, ...this.epochField(),
    };
    if (!record) {
      // A thinned wait: kept in memory only (it changes no routing); the next recorded decision saves.
      entry.stored = { state: t.state, outbox: entry.stored.outbox, summary };
      this.shown(t);
      return;
    }
    const next: StoredRollout = { state: t.state, outbox: { decision: decisionRow(d, before.spec, generation, this.o.collection, decisionId, this.o.epoch?.()), routing }, summary };
    this.ensureLeader();
    await this.o.store.save(next, this.o.actor);
    entry.stored = next;
    entry.pending = { decision: true, routing: routing !== null, checkExisting: false };
    this.shown(t);
    if (d.action !== 'wait') this.o.logger.info({ rollout: d.rolloutId, action: d.action, from: d.fromWeight, to: d.toWeight, actor: d.actor, reason: d.reason }, 'rollout decision');
    await this.deliver(entry);
  }

  private shown(t: Transition): void {
    this.o.metrics.show(t.state);
    this.o.metrics.decided(t.state, t.decision.action);
  }

  /**
   * Delivers what is pending of the entry's outbox. A failure leaves it pending (logged, counted).
   * @returns true when nothing is pending any more.
   */
  private async deliver(entry: Entry): Promise<boolean> {
    const ob = entry.stored.outbox;
    const p = entry.pending;
    if (!ob || (!p.decision && !p.routing)) return true;
    this.ensureLeader();
    try {
      // A newer leader's state in the store deposes this one (MLG_CTL_NOT_LEADER, not a failure).
      await this.o.store.fence(ob.decision.rollout_id, this.o.epoch?.());
      if (p.decision) {
        if (!(p.checkExisting && (await this.o.store.hasDecision(ob.decision.decision_id)))) await this.o.decisions.append(ob.decision);
        p.decision = false;
      }
      if (p.routing && ob.routing) await this.o.routing.publish(ob.routing);
      p.routing = false;
      return true;
    } catch (err) {
      if (ControllerErrors.notLeader.is(err)) throw err;
      this.o.metrics.deliveryFailures.labels(p.decision ? 'decision' : 'routing').inc();
      this.o.logger.warn({ err, rollout: ob.decision.rollout_id, decision: ob.decision.decision_id }, `${p.decision ? 'decision not recorded' : 'routing state not published'} yet; retried on the next turn`);
      return false;
    }
  }

  private epochField(): { epoch?: number } {
    const epoch = this.o.epoch?.();
    return epoch === undefined ? {} : { epoch };
  }

  private ensureLeader(): void {
    if (!this.o.isLeader()) throw ControllerErrors.notLeader('this controller is not the leader');
  }

  private serial<T>(entry: Entry, fn: () => Promise<T>): Promise<T> {
    const run = entry.queue.then(async () => {
      entry.busy = true;
      try {
        return await fn();
      } finally {
        entry.busy = false;
      }
    });
    entry.queue = run.catch(() => undefined);
    return run;
  }
}
