/**
 * The only reader of `process.env`. Everything else receives the snapshot taken here (or one a
 * test builds), so configuration is read once, at start, and is easy to fake.
 */

/** A frozen copy of the environment variables mlgate looks at. */
export type EnvSnapshot = Readonly<Record<string, string | undefined>>;

/** Takes the snapshot. Call once in a `main.ts`. */
export function readEnv(): EnvSnapshot {
  return Object.freeze({ ...process.env });
}
