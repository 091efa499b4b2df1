/**
 * A control channel that does not stop a gateway from serving when the channel is unreachable
 * at start. The gateway reads the channel to its end before it serves; with Kafka down that read
 * can only fail or hang, and the models' traffic must not depend on Kafka (telemetry spills for
 * the same reason). So: the first read waits at most `startupTimeoutMs`; past that the gateway
 * starts on its configured routing (logged as a warning), and the read is retried in the
 * background until the channel answers. Its states then reach the subscribed handlers, which
 * apply only newer generations, so the gateway catches up as soon as Kafka is back.
 */
import type { Logger } from '../core/log.ts';
import type { ControlChannel, ControlHandler } from './channel.ts';
import type { RoutingState } from './state.ts';

/** Options of {@link StartupTolerantChannel}. */
export interface StartupTolerantOptions {
  /** Longest wait for the first read before starting without it (ms). */
  startupTimeoutMs: number;
  /** Pause between background retries of the read (ms). */
  retryMs: number;
  logger: Logger;
}

/** Wraps a channel so its first `readToEnd` never blocks a start for long (see the file comment). */
export class StartupTolerantChannel implements ControlChannel {
  private readonly handlers = new Set<ControlHandler>();
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly inner: ControlChannel, private readonly opts: StartupTolerantOptions) {
    for (const k of ['startupTimeoutMs', 'retryMs'] as const) {
      if (!Number.isInteger(opts[k]) || opts[k] <= 0) throw new Error(`StartupTolerantChannel: ${k} must be a positive integer`);
    }
  }

  publish(state: RoutingState): Promise<void> {
    return this.inner.publish(state);
  }

  subscribe(handler: ControlHandler): () => void {
    this.handlers.add(handler);
    const off = this.inner.subscribe(handler);
    return () => { this.handlers.delete(handler); off(); };
  }

  async readToEnd(): Promise<RoutingState[]> {
    const first = this.inner.readToEnd();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), this.opts.startupTimeoutMs); });
    try {
      const r = await Promise.race([first, timedOut]);
      if (r !== 'timeout') return r;
      this.opts.logger.warn({ timeout_ms: this.opts.startupTimeoutMs }, 'control channel not readable at start: serving the configured routing until it is');
    } catch (err) {
      this.opts.logger.warn({ err }, 'control channel not readable at start: serving the configured routing until it is');
    } finally {
      clearTimeout(timer);
    }
    this.catchUp(first);
    return [];
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.inner.close();
  }

  /** Delivers the states of a read that finally succeeds; retries a failed one. */
  private catchUp(read: Promise<RoutingState[]>): void {
    read.then((states) => {
      if (this.closed) return;
      this.opts.logger.info({ states: states.length }, 'control channel readable again: applying its routing states');
      for (const s of states) for (const h of this.handlers) h(s);
    }, () => {
      if (this.closed) return;
      this.retryTimer = setTimeout(() => { if (!this.closed) this.catchUp(this.inner.readToEnd()); }, this.opts.retryMs);
      this.retryTimer.unref();
    });
  }
}
