/**
 * `mlgate audit <command>`: compliance queries, exports, erasure, chain verification, retention
 * and the HTTP audit API (`serve`). The commands live in services/audit/cli.ts; this binds them
 * to the process's streams. `mlgate audit help` lists them.
 */
import type { EnvSnapshot } from '../../core/env.ts';
import { runAuditCli } from '../../audit/cli.ts';

/** Runs the audit CLI; resolves with the exit code. */
export function run(argv: string[], env: EnvSnapshot): Promise<number> {
  return runAuditCli(argv, env, { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });
}
