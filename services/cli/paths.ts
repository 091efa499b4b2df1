/**
 * Files the CLI ships with, found from the package root. The same module runs as TypeScript from
 * a checkout (services/cli/) and compiled from dist/services/cli/, so paths are resolved from the
 * nearest folder holding mlgate's package.json rather than counted in `../` from this file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The folder of mlgate's package.json (the checkout, or the installed package). */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'mlgate') return (root = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error(`mlgate's package.json not found above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** mlgate's version, from its package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** The embedded-mode default config (config/mlgate.yaml), used when no --config is given. */
export function defaultConfigFile(): string {
  return join(packageRoot(), 'config', 'mlgate.yaml');
}
