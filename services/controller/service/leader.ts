/**
 * Leadership: when several controllers run, exactly one acts (ticks rollouts, publishes routing
 * states, writes decisions); the others stand by and serve reads.
 *
 * {@link KafkaLeaderElector}: every controller joins one consumer group on a one-partition topic
 * (`mlgate.controller.leader.v1`, created when missing; nothing is ever written to it). The
 * member assigned partition 0 leads. A custom assigner keeps partition 0 with its current holder
 * across rebalances (each member says in its join metadata whether it holds it), so a standby
 * joining never takes leadership from a healthy leader. When the leader dies, the coordinator
 * drops it after the session timeout (~6 s) and the rebalance hands partition 0 to a standby;
 * when it stops cleanly, it leaves the group and the handover is immediate.
 *
 * A leader also steps down on its own when it has not completed a group heartbeat for 80% of the
 * session timeout (it may be cut off from the broker, which is about to elect another member), so
 * two controllers act at once only within that margin. That alone is a lease, not a fence: a
 * leader paused longer than that (a stop-the-world pause mid-tick) could still finish one tick's
 * writes. So each leadership has an **epoch**: before it reports itself leader, an elected member
 * appends a claim to the leader topic and takes the claim's offset + 1 as its epoch (the topic is
 * one partition, so a later leader always has a higher epoch). The controller announces its
 * epoch on the control topic before it acts and stamps it on every routing state it publishes;
 * every reader refuses a state with a lower epoch than one it has seen (routing/state.ts,
 * EpochFence). Do not delete the leader topic while the control topic is kept: offsets, and with
 * them epochs, would start again from 0.
 *
 * {@link AlwaysLeader}: one controller (embedded mode, tests): always leads.
 */
import { AssignerProtocol, type Kafka, type Consumer, type PartitionAssigner, type Producer } from 'kafkajs';
import { silentLogger, type Logger } from '../../core/log.ts';
import { ControllerErrors } from '../errors.ts';
import { kafkaClient } from '../../core/kafka-clients.ts';

/** Decides whether this controller acts. */
export interface LeaderElector {
  /** Joins the election. Resolves once joined (not necessarily elected). */
  start(): Promise<void>;
  /** True while this instance leads. */
  isLeader(): boolean;
  /** Calls `fn` on every change of {@link isLeader}. Returns an unsubscribe function. */
  onChange(fn: (leader: boolean) => void): () => void;
  /** Leaves the election (a leader hands over at once). */
  close(): Promise<void>;
  /**
   * The epoch of this instance's latest leadership (undefined: never led, or no fencing, as for a
   * lone controller). It stays after leadership is lost: a deposed leader's late writes carry it and are refused.
   */
  epoch?(): number | undefined;
}

/** The elector of a lone controller: leads from start() until close(). */
export class AlwaysLeader implements LeaderElector {
  private leading = false;
  private readonly fns = new Set<(leader: boolean) => void>();

  async start(): Promise<void> {
    this.set(true);
  }

  isLeader(): boolean {
    return this.leading;
  }

  onChange(fn: (leader: boolean) => void): () => void {
    this.fns.add(fn);
    return () => { this.fns.delete(fn); };
  }

  async close(): Promise<void> {
    this.set(false);
  }

  private set(v: boolean): void {
    if (this.leading === v) return;
    this.leading = v;
    for (const fn of [...this.fns]) fn(v);
  }
}

/** Options of {@link KafkaLeaderElector}. */
export interface KafkaLeaderOptions {
  brokers: readonly string[];
  clientId: string;
  /** This controller's id (logged, and the tie-breaker when nobody holds the partition). */
  instanceId: string;
  topic?: string;
  groupId?: string;
  /** Kafka session timeout: a dead leader is replaced after about this long (default 6000 ms). */
  sessionTimeoutMs?: number;
  connectionTimeoutMs?: number;
  logger?: Logger;
}

interface JoinInfo {
  holder: boolean;
  instance: string;
}

function decodeInfo(buf: Buffer | null | undefined): JoinInfo {
  try {
    const v = JSON.parse((buf ?? Buffer.alloc(0)).toString('utf8')) as Partial<JoinInfo>;
    return { holder: v.holder === true, instance: String(v.instance ?? '') };
  } catch {
    return { holder: false, instance: '' };
  }
}

/** Leadership through a consumer group on a one-partition topic; see the module comment. */
export class KafkaLeaderElector implements LeaderElector {
  private readonly opts: Required<Omit<KafkaLeaderOptions, 'logger' | 'connectionTimeoutMs'>> & { connectionTimeoutMs: number };
  private readonly log: Logger;
  private readonly kafka: Kafka;
  private readonly consumer: Consumer;
  private readonly producer: Producer;
  private readonly fns = new Set<(leader: boolean) => void>();
  private epochValue: number | undefined;
  private claiming = false;
  /** An epoch was claimed since this member last wanted to lead. */
  private claimed = false;
  /** Partition 0 is assigned to this member (as of the last join). */
  private assigned = false;
  private joined = false;
  private lastHeartbeat = 0;
  private leading = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(opts: KafkaLeaderOptions) {
    if (!opts?.brokers?.length) throw ControllerErrors.badOptions('leader elector: brokers are required');
    if (!opts.instanceId) throw ControllerErrors.badOptions('leader elector: instanceId is required');
    const sessionTimeoutMs = opts.sessionTimeoutMs ?? 6000;
    if (!Number.isInteger(sessionTimeoutMs) || sessionTimeoutMs < 1000) throw ControllerErrors.badOptions('leader elector: sessionTimeoutMs must be an integer >= 1000');
    this.opts = {
      brokers: opts.brokers, clientId: opts.clientId, instanceId: opts.instanceId,
      topic: opts.topic ?? 'mlgate.controller.leader.v1', groupId: opts.groupId ?? 'mlgate-controller-leader',
      sessionTimeoutMs, connectionTimeoutMs: opts.connectionTimeoutMs ?? 3000,
    };
    this.log = opts.logger ?? silentLogger();
    this.kafka = kafkaClient({
      clientId: opts.clientId, brokers: opts.brokers, connectionTimeoutMs: this.opts.connectionTimeoutMs,
      logger: this.log, retry: { initialRetryTime: 200, retries: 10 },
    });
    this.consumer = this.kafka.consumer({
      groupId: this.opts.groupId,
      sessionTimeout: sessionTimeoutMs,
      rebalanceTimeout: Math.max(sessionTimeoutMs, 10_000),
      heartbeatInterval: Math.max(100, Math.min(1000, Math.floor(sessionTimeoutMs / 4))),
      maxWaitTimeInMs: Math.max(50, Math.min(500, Math.floor(sessionTimeoutMs / 8))),
      partitionAssigners: [this.assigner()],
      retry: { initialRetryTime: 200, retries: 10 },
    });
    this.producer = this.kafka.producer({ allowAutoTopicCreation: false, retry: { initialRetryTime: 200, retries: 3 } });
  }

  epoch(): number | undefined {
    return this.epochValue;
  }

  /** The sticky assigner: partition 0 stays with the member that says it holds it. */
  private assigner(): PartitionAssigner {
    return ({ cluster }) => ({
      name: 'MlgateLeaderAssigner',
      version: 1,
      protocol: ({ topics }) => ({
        name: 'MlgateLeaderAssigner',
        metadata: AssignerProtocol.MemberMetadata.encode({
          version: 1, topics, userData: Buffer.from(JSON.stringify({ holder: this.assigned, instance: this.opts.instanceId })),
        }),
      }),
      assign: async ({ members, topics }) => {
        const infos = members.map((m) => ({ memberId: m.memberId, ...decodeInfo(AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.userData) }));
        const order = (a: (typeof infos)[number], b: (typeof infos)[number]) =>
          Number(b.holder) - Number(a.holder) || a.instance.localeCompare(b.instance) || a.memberId.localeCompare(b.memberId);
        const chosen = [...infos].sort(order)[0]?.memberId;
        return members.map((m) => {
          const assignment: Record<string, number[]> = {};
          if (m.memberId === chosen) {
            for (const t of topics) assignment[t] = cluster.findTopicPartitionMetadata(t).map((p) => p.partitionId);
          }
          return { memberId: m.memberId, memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment, userData: Buffer.alloc(0) }) };
        });
      },
    });
  }

  async start(): Promise<void> {
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      if (!(await admin.listTopics()).includes(this.opts.topic)) {
        try {
          await admin.createTopics({ waitForLeaders: true, topics: [{ topic: this.opts.topic, numPartitions: 1 }] });
        } catch (err) {
          if (!(await admin.listTopics()).includes(this.opts.topic)) throw err;
        }
      }
    } catch (err) {
      throw ControllerErrors.badOptions(`leader elector: cannot create topic ${this.opts.topic}: ${(err as Error).message}`, { cause: err });
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    const { events } = this.consumer;
    this.consumer.on(events.GROUP_JOIN, (e) => {
      this.assigned = (e.payload.memberAssignment[this.opts.topic] ?? []).includes(0);
      this.joined = true;
      this.lastHeartbeat = Date.now();
      this.log.info({ instance: this.opts.instanceId, holder: this.assigned }, 'joined the controller leader group');
      this.evaluate();
    });
    this.consumer.on(events.HEARTBEAT, () => { this.lastHeartbeat = Date.now(); });
    const lost = (why: string) => () => {
      if (this.assigned) this.log.warn({ instance: this.opts.instanceId, why }, 'leadership lost');
      this.assigned = false;
      this.joined = false;
      this.evaluate();
    };
    this.consumer.on(events.CRASH, lost('consumer crashed'));
    this.consumer.on(events.STOP, lost('consumer stopped'));
    this.consumer.on(events.DISCONNECT, lost('consumer disconnected'));
    await this.producer.connect();
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [this.opts.topic], fromBeginning: false });
    await this.consumer.run({ autoCommit: false, eachMessage: async () => {} });
    this.timer = setInterval(() => this.evaluate(), Math.max(50, Math.floor(this.opts.sessionTimeoutMs / 20)));
    this.timer.unref();
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Membership as of the last group join: joined the group; holds partition 0. */
  status(): { joined: boolean; holder: boolean } {
    return { joined: this.joined, holder: this.assigned };
  }

  onChange(fn: (leader: boolean) => void): () => void {
    this.fns.add(fn);
    return () => { this.fns.delete(fn); };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.assigned = false;
    this.evaluate();
    await this.consumer.disconnect().catch(() => undefined);
    await this.producer.disconnect().catch(() => undefined);
  }

  /** Appends a claim to the leader topic; its offset + 1 is the new epoch. */
  private async claim(): Promise<void> {
    this.claiming = true;
    try {
      const [meta] = await this.producer.send({
        topic: this.opts.topic, acks: -1, messages: [{ key: this.opts.instanceId, value: JSON.stringify({ instance: this.opts.instanceId, at: Date.now() }) }],
      });
      const epoch = Number(meta?.baseOffset ?? meta?.offset ?? NaN) + 1;
      if (!Number.isSafeInteger(epoch) || epoch < 1) throw new Error(`the broker returned no offset for the claim (${JSON.stringify(meta)})`);
      this.epochValue = epoch;
      this.claimed = true;
      this.log.info({ instance: this.opts.instanceId, epoch }, 'leadership epoch claimed');
    } catch (err) {
      this.log.warn({ err, instance: this.opts.instanceId }, 'could not claim a leadership epoch; not leading yet, retrying');
    } finally {
      this.claiming = false;
    }
    this.evaluate();
  }

  private evaluate(): void {
    const fresh = Date.now() - this.lastHeartbeat < this.opts.sessionTimeoutMs * 0.8;
    const want = !this.closed && this.assigned && fresh;
    // Leading needs an epoch claimed during this assignment: claim first, report leadership after.
    if (want && !this.leading && !this.claimed) {
      if (!this.claiming) void this.claim();
      return;
    }
    if (!want) this.claimed = false;
    const now = want;
    if (now === this.leading) return;
    this.leading = now;
    this.log.info({ instance: this.opts.instanceId, leader: now }, now ? 'elected controller leader' : 'no longer the controller leader');
    for (const fn of [...this.fns]) {
      try {
        fn(now);
      } catch (err) {
        this.log.error({ err }, 'leadership listener threw');
      }
    }
  }
}
