/**
 * pino loggers with `{ service, component }` bindings. Errors go under `err`. Bodies, keys and
 * PII never go in: the redact list below is a last line of defence, not the policy.
 */
import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

/** Options of {@link createLogger}. */
export interface LogOptions {
  /** Service name, e.g. `gateway`. */
  service: string;
  /** pino level; default `info`. */
  level?: string;
  /** Where lines go; default stdout. Tests pass a stream to read what was logged. */
  destination?: DestinationStream;
}

const REDACT_PATHS = [
  'req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie',
  'headers.authorization', 'headers["x-api-key"]', 'headers.cookie',
  '*.password', '*.apiKey', '*.api_key', '*.token', '*.secret', 'body', '*.body',
];

/** Root logger of a service. */
export function createLogger(opts: LogOptions): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? 'info',
    base: { service: opts.service },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { err: pino.stdSerializers.err },
    timestamp: pino.stdTimeFunctions.isoTime,
    onChild: oneComponent,
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

const CHINDINGS = pino.symbols.chindingsSym;

/**
 * pino appends a child's bindings to its parent's as JSON text, so a component logger made from
 * another (`telemetry` -> `telemetry-kafka`) would print `component` twice. Every child of a
 * {@link createLogger} logger passes here: when a key now appears twice, the bindings are
 * rewritten with the innermost value (JSON.parse keeps the last), so each line has one.
 */
function oneComponent(child: Logger): void {
  const holder = child as unknown as Record<symbol, string>;
  const text = holder[CHINDINGS];
  if (typeof text !== 'string' || text.indexOf('"component":') === text.lastIndexOf('"component":')) return;
  const merged = JSON.stringify(JSON.parse(`{${text.slice(1)}}`));
  holder[CHINDINGS] = merged === '{}' ? '' : `,${merged.slice(1, -1)}`;
}

/** Child logger for one component of a service. */
export function componentLogger(root: Logger, component: string): Logger {
  return root.child({ component });
}

/** A logger that writes nothing, for tests and library use without a service. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
