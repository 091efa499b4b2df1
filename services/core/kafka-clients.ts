/**
 * kafkajs clients the way the services build them: {@link kafkaClient} with the shared timeouts
 * and log routing, and {@link kafkaLogCreator}, which routes kafkajs's own log lines into a pino
 * logger: its errors as warnings (kafkajs retries them itself; the caller logs what finally
 * fails), everything else at debug. {@link KafkaSockets} and {@link closeWithin} make a stop
 * finish even when kafkajs does not: after a broker restart its disconnect can wait forever and
 * leave sockets open that hold the process (docs/telemetry.md, "Stopping").
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Kafka, logLevel, type ISocketFactory, type LogEntry, type logCreator } from 'kafkajs';
import type { Logger } from './log.ts';

/**
 * Every socket one kafkajs client opens (its producers, consumers and admins, including the ones
 * made during reconnects), so that a stop can destroy whatever kafkajs left open. Once closed,
 * it refuses new connections (a kafkajs retry timer still pending gets a closed socket).
 */
export class KafkaSockets {
  private readonly open = new Set<Socket>();
  private closed = false;

  /** The kafkajs `socketFactory` that records each socket (the same sockets kafkajs makes by default). */
  readonly factory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
    const socket: Socket = ssl
      ? tlsConnect({ host, port, ...(!isIP(host) ? { servername: host } : {}), ...ssl }, onConnect)
      : netConnect({ host, port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    if (this.closed) {
      socket.destroy(new Error('kafka client closed'));
      return socket;
    }
    this.open.add(socket);
    socket.once('close', () => this.open.delete(socket));
    return socket;
  };

  /** Sockets still open. */
  get size(): number {
    return this.open.size;
  }

  /**
   * Destroys every open socket and refuses new ones. Each is destroyed with an error: kafkajs
   * listens for `error` and `end`, not `close`, and only its error path rejects the requests in
   * flight and clears the connection's request-timeout interval. A socket destroyed without one
   * stays "connected" to kafkajs, and that interval (100 ms, never cleared) held the process up
   * after a stop that had logged "stopped".
   */
  destroyAll(): void {
    this.closed = true;
    for (const s of this.open) s.destroy(new Error('kafka client closed by a stop'));
    this.open.clear();
  }
}

/**
 * Runs kafkajs's `disconnect()` of each client, waiting at most `ms` for all of them together (a
 * rejection counts as done). Returns false when the deadline passed first.
 */
export async function closeWithin(ms: number, closes: ReadonlyArray<() => Promise<unknown>>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const all = Promise.allSettled(closes.map((c) => Promise.resolve().then(c))).then(() => true);
  const late = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  try {
    return await Promise.race([all, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A kafkajs `logCreator` writing to `log` under `{ kafka: { namespace, error } }`. */
export function kafkaLogCreator(log: Logger): logCreator {
  return () => ({ level, log: entry }: LogEntry) => {
    const fields = { kafka: { namespace: entry.namespace, error: entry.error as unknown } };
    if (level <= logLevel.ERROR) log.warn(fields, `kafka: ${entry.message}`);
    else log.debug(fields, `kafka: ${entry.message}`);
  };
}

/** Options of {@link kafkaClient}. */
export interface KafkaClientOptions {
  clientId: string;
  brokers: readonly string[];
  /** Default 3000 ms. */
  connectionTimeoutMs?: number | undefined;
  /** Default 30000 ms. */
  requestTimeoutMs?: number | undefined;
  /** Where kafkajs's log lines go (see {@link kafkaLogCreator}). */
  logger: Logger;
  /** kafkajs's retry of its own requests. */
  retry: { initialRetryTime: number; retries: number; maxRetryTime?: number };
  /** Records the client's sockets (see {@link KafkaSockets}). */
  sockets?: KafkaSockets | undefined;
}

/** A kafkajs client with the services' timeouts and log routing. */
export function kafkaClient(o: KafkaClientOptions): Kafka {
  return new Kafka({
    clientId: o.clientId,
    brokers: [...o.brokers],
    connectionTimeout: o.connectionTimeoutMs ?? 3000,
    requestTimeout: o.requestTimeoutMs ?? 30_000,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(o.logger),
    retry: o.retry,
    ...(o.sockets ? { socketFactory: o.sockets.factory } : {}),
  });
}
