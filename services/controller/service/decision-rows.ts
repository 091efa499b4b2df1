/**
 * What a transition leaves behind: the `canary_decisions` row (with the evidence the pure core
 * built, plus the result and how the window was collected), the decision summary the API shows,
 * and the outbox (decision row + routing state) saved with the rollout state before either is
 * delivered.
 *
 * The `action` column: `wait`, `promote`, `rollback` and `pause` as the core names them; the
 * core's `complete` (the promotion to 100%) and `finish` (the end of the bake after it) are written
 * as `promote` with weight_after 100 (the table's action set has neither; the evidence's
 * `result.action` and `result.phase`, baking or promoted, tell them apart); operations
 * (start, pause, resume, promote now, abort) are `manual_<op>` with the actor who asked for them
 * (`controller` for the automatic start of a rollout declared in the config). These stored names
 * stay (the rows are hash-chained); every reader shows the core's name again through
 * ledger/decision-actions.ts (`actionOfRow`, the inverse of {@link rowAction}).
 */
import { v7 as uuidv7 } from 'uuid';
import type { RoutingState } from '../../routing/state.ts';
import type { CanaryDecisionRow } from '../../ledger/rows.ts';
import type { Decision, VerdictSummary } from '../rollout/decision.ts';
import type { RolloutState } from '../rollout/state.ts';

/** The latest decision of a rollout, as the API and the metrics show it (no metric statistics). */
export interface DecisionSummary {
  readonly decisionId: string;
  readonly seq: number;
  readonly at: number;
  readonly actor: string;
  /** The core's action (wait, promote, complete, finish, rollback, pause, start, resume, abort). */
  readonly action: string;
  readonly phase: string;
  readonly fromWeight: number;
  readonly toWeight: number;
  readonly reason: string;
  readonly etaSeconds: number | null;
  /** Generation of the routing state it published; 0 when the routing did not change. */
  readonly generation: number;
  readonly window: { from: number; to: number } | null;
  readonly verdicts: readonly VerdictSummary[];
  /** Each metric's estimates (rates, quantiles, distances) by metric name. */
  readonly estimates: Readonly<Record<string, Readonly<Record<string, number | null>>>>;
}

/** Work saved with the state and delivered after it: idempotent, so it is redone on resume. */
export interface Outbox {
  readonly decision: CanaryDecisionRow;
  /** The routing state to publish, or null when the decision does not change the routing. */
  readonly routing: RoutingState | null;
}

/** Everything kept per rollout. */
export interface StoredRollout {
  readonly state: RolloutState;
  readonly outbox: Outbox | null;
  /** Who created it and how; the latest decision. */
  readonly summary: RolloutSummary;
}

/** Facts about a rollout besides the core's state. */
export interface RolloutSummary {
  readonly createdAt: number;
  readonly createdBy: string;
  readonly source: 'api' | 'config';
  readonly lastDecision: DecisionSummary | null;
  /** When the latest decision was written to canary_decisions (for thinning waits). */
  readonly lastRecordedAt: number | null;
  /**
   * Leadership epoch of the controller that saved this state (absent: saved before epochs, or by
   * a controller that always leads). The store refuses a save below the highest epoch it holds
   * for the rollout, and loads the highest epoch's latest state (rollout-store.ts).
   */
  readonly epoch?: number;
}

/** The `action` column value of a decision (see the module comment). */
export function rowAction(d: Decision): string {
  if (d.evidence.manual !== null) return `manual_${d.evidence.manual}`;
  return d.action === 'complete' || d.action === 'finish' ? 'promote' : d.action;
}

/** True when the decision changes what the gateways should route. */
export function routingChanged(before: RolloutState, d: Decision): boolean {
  return before.weight !== d.routing.canary.weight || before.canaryState !== d.routing.canary.state || before.phase === 'pending';
}

/** The `canary_decisions` row of a decision. `collection` says how the window's rows were selected. */
export function decisionRow(d: Decision, spec: RolloutState['spec'], generation: number, collection: unknown, decisionId: string = uuidv7(), epoch?: number): CanaryDecisionRow {
  const result = { action: d.action, phase: d.phase, toWeight: d.toWeight, routing: d.routing, etaSeconds: d.etaSeconds, seq: d.seq, generation };
  return {
    decision_id: decisionId,
    ts: d.at,
    rollout_id: d.rolloutId,
    model: d.model,
    stable_version: spec.stable,
    canary_version: spec.canary,
    step: Math.max(0, d.evidence.stepIndex),
    weight_before: d.fromWeight,
    weight_after: d.toWeight,
    action: rowAction(d),
    reason: d.reason,
    // recompute() reads the core's evidence fields; `result`, `collection` and the deciding
    // leader's `epoch` (when it has one) are for readers.
    evidence: JSON.stringify({ ...d.evidence, result, collection: d.evidence.window ? collection : null, ...(epoch !== undefined ? { epoch } : {}) }),
    actor: d.actor,
    generation,
  };
}

/** The API's summary of a decision. */
export function summarizeDecision(d: Decision, decisionId: string, generation: number): DecisionSummary {
  return {
    decisionId, seq: d.seq, at: d.at, actor: d.actor, action: d.action, phase: d.phase, fromWeight: d.fromWeight, toWeight: d.toWeight,
    reason: d.reason, etaSeconds: d.etaSeconds, generation, window: d.evidence.window ? { ...d.evidence.window } : null,
    verdicts: d.evidence.verdicts,
    estimates: Object.fromEntries(d.evidence.metrics.map((m) => [m.config.name, m.estimate])),
  };
}
