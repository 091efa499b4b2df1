/**
 * Rollout state persistence in ClickHouse (table `controller_rollouts`, migration 0200): one row
 * per saved transition; the latest row per rollout (highest seq) is the rollout. ClickHouse, not
 * a Kafka topic, because it serves both modes (the embedded engine keeps the states across a
 * restart of `mlgate start` just as the server does), and the states sit next to the decisions
 * they produced. A save is one insert with a deduplication token derived from (rollout, seq,
 * content), so a retried save is stored once.
 *
 * Fencing: a state saved by a leader carries its leadership epoch (summary.epoch). A save below
 * the highest epoch already stored for the rollout is refused (MLG_CTL_NOT_LEADER: a newer
 * leader has taken the rollout over), and a load takes the highest epoch's latest state, so a
 * deposed leader's save that slips in between a check and its insert is never the rollout.
 */
import { createHash } from 'node:crypto';
import type { Warehouse } from '../../warehouse/warehouse.ts';
import { ControllerErrors } from '../errors.ts';
import type { StoredRollout } from './decision-rows.ts';

/** Where rollout states live. */
export interface RolloutStore {
  /** The latest saved state of every rollout. */
  loadAll(): Promise<StoredRollout[]>;
  /** The latest saved state of one rollout, or undefined. */
  load(id: string): Promise<StoredRollout | undefined>;
  /** Saves a rollout; `instance` is the saving controller's id. */
  save(rollout: StoredRollout, instance: string): Promise<void>;
  /** True when a decision with this id is in canary_decisions (outbox re-delivery). */
  hasDecision(decisionId: string): Promise<boolean>;
  /**
   * Refuses a writer whose leadership `epoch` is below the highest one stored for `rolloutId`.
   * @throws MLG_CTL_NOT_LEADER naming both epochs; MLG_CTL_STORE_FAILED when the store cannot say.
   */
  fence(rolloutId: string, epoch: number | undefined): Promise<void>;
}

interface Row {
  state: string;
  outbox: string;
  summary: string;
}

const SELECT = `SELECT state, outbox, summary FROM {db}.controller_rollouts`;
/** The saving leader's epoch (0 for states saved without one). */
const EPOCH = `JSONExtractUInt(summary, 'epoch')`;

function parse(r: Row): StoredRollout {
  return {
    state: JSON.parse(r.state) as StoredRollout['state'],
    outbox: r.outbox ? (JSON.parse(r.outbox) as StoredRollout['outbox']) : null,
    summary: JSON.parse(r.summary) as StoredRollout['summary'],
  };
}

/** The ClickHouse rollout store. */
export class ClickHouseRolloutStore implements RolloutStore {
  constructor(private readonly wh: Warehouse) {
    if (!wh) throw ControllerErrors.badOptions('rollout store: warehouse is required');
  }

  async loadAll(): Promise<StoredRollout[]> {
    const rows = await this.query<Row>(`${SELECT} ORDER BY rollout_id, ${EPOCH} DESC, seq DESC, saved_at DESC LIMIT 1 BY rollout_id`, {});
    return rows.map(parse);
  }

  async load(id: string): Promise<StoredRollout | undefined> {
    const rows = await this.query<Row>(`${SELECT} WHERE rollout_id = {id:String} ORDER BY ${EPOCH} DESC, seq DESC, saved_at DESC LIMIT 1`, { id });
    return rows[0] ? parse(rows[0]) : undefined;
  }

  async save(r: StoredRollout, instance: string): Promise<void> {
    await this.fence(r.state.spec.id, r.summary.epoch);
    const state = JSON.stringify(r.state);
    const outbox = r.outbox ? JSON.stringify(r.outbox) : '';
    const summary = JSON.stringify(r.summary);
    const digest = createHash('sha256').update(state).update('\n').update(outbox).update('\n').update(summary).digest('hex').slice(0, 16);
    const row = {
      rollout_id: r.state.spec.id, model: r.state.spec.model, phase: r.state.phase, seq: r.state.seq,
      saved_at: Date.now(), instance, state, outbox, summary,
    };
    try {
      await this.wh.insert('controller_rollouts', [row], { dedupToken: `ro:${r.state.spec.id}:${r.state.seq}:${digest}` });
    } catch (err) {
      throw ControllerErrors.storeFailed(`cannot save rollout ${r.state.spec.id}: ${(err as Error).message}`, { cause: err });
    }
  }

  async fence(rolloutId: string, epoch: number | undefined): Promise<void> {
    if (epoch === undefined) return;
    const rows = await this.query<{ e: string }>(`SELECT toString(max(${EPOCH})) AS e FROM {db}.controller_rollouts WHERE rollout_id = {id:String}`, { id: rolloutId });
    const newest = Number(rows[0]?.e ?? 0);
    if (newest > epoch) {
      throw ControllerErrors.notLeader(`rollout ${rolloutId} was saved by a newer leader (epoch ${newest}) than this controller's (epoch ${epoch}): it stands down`,
        { details: { rollout: rolloutId, epoch, newest } });
    }
  }

  async hasDecision(decisionId: string): Promise<boolean> {
    const rows = await this.query<{ n: number }>('SELECT count() AS n FROM {db}.canary_decisions WHERE decision_id = {id:String}', { id: decisionId });
    return Number(rows[0]?.n ?? 0) > 0;
  }

  private async query<T>(sql: string, params: Record<string, unknown>): Promise<T[]> {
    try {
      return await this.wh.query<T>(sql, params);
    } catch (err) {
      throw ControllerErrors.storeFailed(`cannot read rollout states: ${(err as Error).message}`, { cause: err });
    }
  }
}
