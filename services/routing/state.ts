/**
 * The routing state of one model (docs/controller.md, docs/gateway.md): which versions exist, each one's
 * traffic weight and state, the fallback version, and the change that caused it. It is the value
 * of the compacted control topic (key = model) and what the gateway routes by.
 *
 * Ordering: every state carries a `generation`. A gateway applies a state only when its
 * generation is strictly higher than the one it holds ({@link applyIfNewer}), so a controller
 * decision and an admin change cannot race each other back into an older state. Writers take the
 * next generation with {@link nextGeneration}: `max(current + 1, now in ms)`, so generations also
 * rise across writers that do not see each other's latest state (and a later change wins).
 * States built from the configuration file start at generation 0, so any published state wins
 * over the file on start.
 */
import { z } from 'zod';
import { ControlErrors } from './errors.ts';

/** A name of a model or version: letters, digits, `.`, `_`, `-`; at most 100 characters. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const Name = z.string().regex(NAME_PATTERN, 'expected a name of letters, digits, ".", "_" or "-" (at most 100)');

/** Tolerance when checking that weights sum to 100. */
export const WEIGHT_SUM_TOLERANCE = 1e-6;

/** State of a version: `tripped` versions get no traffic; their share goes to the fallback. */
export const VERSION_STATES = ['active', 'tripped'] as const;
/** Who caused a routing state. */
export const CAUSE_KINDS = ['admin', 'controller', 'config'] as const;

/** One version in a routing state. */
export const VersionRoutingSchema = z.strictObject({
  /** Version name, as in the gateway config. */
  name: Name,
  /** Share of traffic in percent (all weights of a state sum to 100). */
  weight: z.number().finite().min(0).max(100),
  /** `tripped` = taken out of traffic by the controller or an admin. */
  state: z.enum(VERSION_STATES),
});

/** The decision or admin change that produced a state. */
export const RoutingCauseSchema = z.strictObject({
  kind: z.enum(CAUSE_KINDS),
  /** Who: an admin's name, the controller's id, or `config`. */
  actor: z.string().min(1).max(200),
  /** Why, in words. */
  reason: z.string().max(2000),
  /** Id of the decision or admin change (UUIDv7 where mlgate made it). */
  id: z.string().max(100),
  /** When, ms since the epoch. */
  at: z.number().int().nonnegative(),
});

/** Routing state of one model. */
export const RoutingStateSchema = z
  .strictObject({
    model: Name,
    /** Monotonically increasing; a state is applied only when this is higher than the current one. */
    generation: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    versions: z.array(VersionRoutingSchema).min(1).max(100),
    /** Version that takes the share of a tripped, open or unhealthy version; null = none (503). */
    fallback: Name.nullable(),
    cause: RoutingCauseSchema,
    /** Rollout driving this state, when one does. */
    rollout_id: z.string().max(200).optional(),
    /**
     * Leadership epoch of the controller that published it (controller states in distributed
     * mode). Readers refuse a state whose epoch is lower than the highest epoch they have seen
     * ({@link EpochFence}): a deposed leader cannot route traffic after the new one announced itself.
     */
    epoch: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  })
  .superRefine((s, ctx) => {
    const names = new Set<string>();
    s.versions.forEach((v, i) => {
      if (names.has(v.name)) ctx.addIssue({ code: 'custom', path: ['versions', i, 'name'], message: `version ${v.name} appears twice` });
      names.add(v.name);
    });
    const sum = s.versions.reduce((acc, v) => acc + v.weight, 0);
    if (Math.abs(sum - 100) > WEIGHT_SUM_TOLERANCE) {
      ctx.addIssue({ code: 'custom', path: ['versions'], message: `weights must sum to 100, got ${sum}` });
    }
    if (s.fallback !== null && !names.has(s.fallback)) {
      ctx.addIssue({ code: 'custom', path: ['fallback'], message: `fallback ${s.fallback} is not one of the versions` });
    }
  });

/** A model's routing state. */
export type RoutingState = z.output<typeof RoutingStateSchema>;
/** One version entry of a {@link RoutingState}. */
export type VersionRouting = z.output<typeof VersionRoutingSchema>;
/** The cause of a {@link RoutingState}. */
export type RoutingCause = z.output<typeof RoutingCauseSchema>;

/**
 * Validates a routing state (e.g. a control message).
 * @throws MLG_CONTROL_STATE_INVALID naming each bad field's path and the reason.
 */
export function parseRoutingState(value: unknown): RoutingState {
  const r = RoutingStateSchema.safeParse(value);
  if (r.success) return r.data;
  const reason = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  throw ControlErrors.stateInvalid(`invalid routing state: ${reason}`, {
    details: { issues: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
  });
}

/**
 * Key of the epoch announcements on the control topic: a new leader publishes `{ epoch, by, at }`
 * under it before it acts. Not a model name (names cannot start with `#`).
 */
export const EPOCH_KEY = '#epoch';

/** An epoch announcement (the value under {@link EPOCH_KEY}). */
export interface EpochAnnouncement {
  epoch: number;
  /** The controller instance. */
  by: string;
  at: number;
}

/** Validates an epoch announcement. @throws MLG_CONTROL_STATE_INVALID */
export function parseEpochAnnouncement(v: unknown): EpochAnnouncement {
  const o = v as Partial<EpochAnnouncement> | null;
  if (!o || typeof o !== 'object' || !Number.isSafeInteger(o.epoch) || o.epoch! < 0 || typeof o.by !== 'string' || o.by.length > 200 || !Number.isSafeInteger(o.at)) {
    throw ControlErrors.stateInvalid('invalid epoch announcement: expected { epoch: non-negative integer, by: string (at most 200), at: integer }');
  }
  return { epoch: o.epoch!, by: o.by, at: o.at! };
}

/**
 * The highest leadership epoch a reader has seen (from announcements and from states), and the
 * rule: a state carrying a lower epoch is refused. States without an epoch (admin changes, the
 * file, a lone controller) pass. Every reader of the one-partition control topic sees the same
 * order, so they all refuse the same states.
 */
export class EpochFence {
  private max = 0;

  /** The highest epoch seen. */
  get highest(): number {
    return this.max;
  }

  /** Notes an announced epoch. */
  announce(epoch: number): void {
    if (epoch > this.max) this.max = epoch;
  }

  /** Undefined when `state` may be applied (and its epoch is noted); else why it is refused. */
  admit(state: Pick<RoutingState, 'epoch' | 'model' | 'generation'>): string | undefined {
    if (state.epoch === undefined) return undefined;
    if (state.epoch < this.max) return `epoch ${state.epoch} is lower than epoch ${this.max} already seen (a deposed controller's state)`;
    this.max = state.epoch;
    return undefined;
  }
}

/**
 * The state a configuration declares for `model`: each of `versions` active with its weight in
 * `weights` (0 when absent), the given fallback, generation 0 unless given, cause `config`.
 */
export function declaredState(model: string, versions: readonly string[], weights: Readonly<Record<string, number>>, fallback: string | null,
  cause?: Partial<RoutingCause>, generation = 0): RoutingState {
  return {
    model,
    generation,
    versions: versions.map((name) => ({ name, weight: weights[name] ?? 0, state: 'active' as const })),
    fallback,
    cause: { kind: 'config', actor: 'config', reason: 'gateway config', id: '', at: Date.now(), ...cause },
  };
}

/**
 * Why `state` does not fit a gateway that serves `versions` of its model (undefined: the model is
 * not served there), or undefined when it fits: every version the state names is served.
 */
export function stateMismatch(state: RoutingState, versions: readonly string[] | undefined): string | undefined {
  if (!versions) return `model ${state.model} is not configured on this gateway`;
  for (const v of state.versions) if (!versions.includes(v.name)) return `version ${v.name} is not configured for model ${state.model}`;
  return undefined;
}

/** Result of {@link applyIfNewer}. */
export type ApplyResult =
  | { applied: true; state: RoutingState }
  | { applied: false; state: RoutingState | undefined; reason: string };

/**
 * The one ordering rule: `next` replaces `current` only when it is for the same model and its
 * generation is strictly higher (or there is no current state). Pure; returns the state to keep.
 */
export function applyIfNewer(current: RoutingState | undefined, next: RoutingState): ApplyResult {
  if (current === undefined) return { applied: true, state: next };
  if (current.model !== next.model) {
    return { applied: false, state: current, reason: `state for model ${next.model} offered to model ${current.model}` };
  }
  if (next.generation <= current.generation) {
    return { applied: false, state: current, reason: `generation ${next.generation} is not higher than current ${current.generation}` };
  }
  if (next.epoch !== undefined && current.epoch !== undefined && next.epoch < current.epoch) {
    return { applied: false, state: current, reason: `epoch ${next.epoch} is lower than the current state's epoch ${current.epoch}` };
  }
  return { applied: true, state: next };
}

/** The generation a writer gives its next state: `max(current + 1, now)`. */
export function nextGeneration(current: RoutingState | undefined, now: number = Date.now()): number {
  return Math.max((current?.generation ?? 0) + 1, Math.floor(now));
}

/** Weights of a state as a `{ version: weight }` map (handy for APIs and logs). */
export function weightsOf(state: RoutingState): Record<string, number> {
  return Object.fromEntries(state.versions.map((v) => [v.name, v.weight]));
}
