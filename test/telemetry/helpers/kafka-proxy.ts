/**
 * A TCP proxy in front of a private test broker (which advertises the proxy's port, so every
 * client goes through it). It passes bytes unchanged until {@link KafkaProxy.breakSequences}: then
 * the producer id of the next produce request is marked, and every record batch of that producer
 * id gets its sequence number moved forward (CRC recomputed), so the real broker answers
 * OUT_OF_ORDER_SEQUENCE_NUMBER for as long as that producer id is used. This is the state the
 * issue's broker kill left a producer in, made on demand: only a new producer id gets through.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import { once } from 'node:events';

const require = createRequire(import.meta.url);
const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C') as (b: Buffer) => number;

/** Offsets inside a v2 record batch. */
const BATCH = { length: 8, crc: 17, crcFrom: 21, producerId: 43, baseSequence: 53 } as const;

/** The proxy. */
export class KafkaProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private arm = false;
  private swallow = false;
  private victim: bigint | undefined;
  /** Produce requests whose sequence numbers were moved. */
  broken = 0;

  private constructor(private readonly brokerPort: number) {
    this.server = createServer((client) => this.pipe(client));
  }

  /** Starts listening on `port` (fixed: the broker advertises it) and forwards to `brokerPort`. */
  static async start(port: number, brokerPort: number): Promise<KafkaProxy> {
    const p = new KafkaProxy(brokerPort);
    p.server.listen(port, '127.0.0.1');
    await once(p.server, 'listening');
    return p;
  }

  /** From the next produce request on, that request's producer id is refused by the broker (see the module comment). */
  breakSequences(): void {
    this.arm = true;
    this.victim = undefined;
  }

  /**
   * While on, every produce request still reaches the broker (which stores it), but its response
   * is thrown away and the connection cut: the producer cannot know its records were stored, the
   * state a broker crash right after a write leaves it in. Resends under a new producer id then
   * put those records in the topic a second time.
   */
  swallowProduceResponses(on: boolean): void {
    this.swallow = on;
  }

  /** Produce responses thrown away by {@link swallowProduceResponses}. */
  swallowed = 0;

  /** Client connections open through the proxy. */
  connections(): number {
    return this.sockets.size / 2;
  }

  /** Closes every connection (clients see the broker go away) and stops listening. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }

  private pipe(client: Socket): void {
    const upstream = connect(this.brokerPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => { this.sockets.delete(s); client.destroy(); upstream.destroy(); });
      s.on('error', () => undefined);
    }
    // Correlation ids of produce requests whose responses must not reach the client.
    const doomed = new Set<number>();
    let answers: Buffer = Buffer.alloc(0);
    upstream.on('data', (d: Buffer) => {
      answers = answers.length ? Buffer.concat([answers, d]) : d;
      while (answers.length >= 8) {
        const size = answers.readInt32BE(0);
        if (answers.length < 4 + size) break;
        const frame = answers.subarray(0, 4 + size);
        answers = answers.subarray(4 + size);
        if (doomed.has(frame.readInt32BE(4))) {
          this.swallowed++;
          client.destroy();
          upstream.destroy();
          return;
        }
        client.write(Buffer.from(frame));
      }
    });
    let pending: Buffer = Buffer.alloc(0);
    client.on('data', (d: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, d]) : d;
      while (pending.length >= 4) {
        const size = pending.readInt32BE(0);
        if (pending.length < 4 + size) break;
        const frame = Buffer.from(pending.subarray(0, 4 + size));
        pending = pending.subarray(4 + size);
        if (this.swallow && frame.readInt16BE(4) === 0 /* Produce */) doomed.add(frame.readInt32BE(8));
        upstream.write(this.rewrite(frame));
      }
    });
  }

  /** Moves the sequence numbers of the victim's batches in a produce request (v3 to v7). */
  private rewrite(frame: Buffer): Buffer {
    const apiKey = frame.readInt16BE(4);
    const version = frame.readInt16BE(6);
    if (apiKey !== 0 || version < 3 || version > 8) return frame;
    let at = 12;
    at += 2 + Math.max(0, frame.readInt16BE(at)); // client id
    at += 2 + Math.max(0, frame.readInt16BE(at)); // transactional id
    at += 2 + 4; // acks, timeout
    const topics = frame.readInt32BE(at);
    at += 4;
    let changed = false;
    for (let t = 0; t < topics; t++) {
      at += 2 + frame.readInt16BE(at);
      const partitions = frame.readInt32BE(at);
      at += 4;
      for (let p = 0; p < partitions; p++) {
        at += 4;
        const size = frame.readInt32BE(at);
        at += 4;
        const end = at + Math.max(0, size);
        for (let b = at; b + 61 <= end; b += 12 + frame.readInt32BE(b + BATCH.length)) {
          const pid = frame.readBigInt64BE(b + BATCH.producerId);
          if (this.arm && this.victim === undefined && pid >= 0n) this.victim = pid;
          if (this.victim === undefined || pid !== this.victim) continue;
          frame.writeInt32BE(frame.readInt32BE(b + BATCH.baseSequence) + 1000, b + BATCH.baseSequence);
          const batchEnd = b + 12 + frame.readInt32BE(b + BATCH.length);
          frame.writeUInt32BE(crc32C(frame.subarray(b + BATCH.crcFrom, batchEnd)), b + BATCH.crc);
          changed = true;
        }
        at = end;
      }
    }
    if (changed) this.broken++;
    return frame;
  }
}
