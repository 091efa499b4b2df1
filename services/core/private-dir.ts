/**
 * Folders holding telemetry, spill or warehouse data are private to the service's user: created
 * 0700, their files 0600. A folder (or file) left looser by an older version or by hand is
 * tightened at start, and the caller logs what was changed. The process umask is not touched
 * (it is global, and libraries must not change it): modes are given at creation and set with
 * chmod, which the umask does not affect.
 */
import { chmodSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Mode of private folders. */
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of private files. */
export const PRIVATE_FILE_MODE = 0o600;

/** A folder or file whose mode was tightened. */
export interface Tightened {
  path: string;
  /** The mode it had, octal (`755`). */
  from: string;
  /** The mode it has now, octal. */
  to: string;
}

/** What {@link ensurePrivateDir} did. */
export interface PrivateDirResult {
  /** Folders and files whose modes were tightened. */
  tightened: Tightened[];
  /** Folders and files that stay looser because chmod was refused (not our own, e.g. a shared folder). */
  refused: Array<{ path: string; from: string; error: string }>;
}

const octal = (mode: number): string => (mode & 0o777).toString(8);

function tighten(path: string, mode: number, to: number, out: PrivateDirResult): void {
  if ((mode & 0o777 & ~to) === 0) return;
  try {
    chmodSync(path, to);
    out.tightened.push({ path, from: octal(mode), to: octal(to) });
  } catch (err) {
    out.refused.push({ path, from: octal(mode), error: (err as NodeJS.ErrnoException).code ?? String(err) });
  }
}

/**
 * Creates `dir` (and missing parents) as 0700, or tightens it to 0700 when it exists with any
 * group or other bits; with `files`, also tightens the regular files directly inside it to 0600.
 * Throws what mkdir throws; a refused chmod is reported, not thrown.
 */
export function ensurePrivateDir(dir: string, opts: { files?: boolean } = {}): PrivateDirResult {
  const out: PrivateDirResult = { tightened: [], refused: [] };
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  tighten(dir, statSync(dir).mode, PRIVATE_DIR_MODE, out);
  if (opts.files) {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const path = join(dir, entry.name);
      try {
        tighten(path, statSync(path).mode, PRIVATE_FILE_MODE, out);
      } catch { /* deleted meanwhile */ }
    }
  }
  return out;
}

/** Logs what {@link ensurePrivateDir} changed or could not change (a pino-like logger). */
export function logPrivateDir(
  log: { warn(obj: object, msg: string): void } | undefined, what: string, r: PrivateDirResult,
): void {
  if (!log) return;
  for (const t of r.tightened) log.warn({ path: t.path, from: t.from, to: t.to }, `${what}: tightened a mode that let other users read it`);
  for (const f of r.refused) log.warn({ path: f.path, from: f.from, error: f.error }, `${what}: could not tighten a mode that lets other users read it`);
}
