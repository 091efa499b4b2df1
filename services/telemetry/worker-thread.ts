/**
 * Starting telemetry's worker threads (the telemetry thread of sink-thread.ts, the Kafka producer) from the script
 * next to this file. Run from TypeScript sources (tsx), the worker first registers tsx's loader
 * itself: Node 20 workers do not inherit `--import` hooks.
 */
import { Worker } from 'node:worker_threads';

/** Starts the worker script `name` (without extension) of this folder with `workerData`. */
export function spawnWorker(name: string, workerData: unknown): Worker {
  const self = import.meta.url;
  const script = new URL(`./${name}${self.endsWith('.ts') ? '.ts' : '.js'}`, self);
  if (!self.endsWith('.ts')) return new Worker(script, { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(script.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}
