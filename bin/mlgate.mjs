#!/usr/bin/env node
// The `mlgate` command. An installed package (npm pack, the Docker image) ships the compiled
// JavaScript in dist/ and no TypeScript sources, so it runs dist/. A source checkout runs the
// TypeScript sources through tsx (a dev dependency), so tests and development never run a stale
// build; MLGATE_USE_DIST=1 makes a checkout run its dist/ (after `npm run build`) instead.
import { existsSync } from 'node:fs';

const source = new URL('../services/cli/main.ts', import.meta.url);
const built = new URL('../dist/services/cli/main.js', import.meta.url);

if (existsSync(source) && process.env.MLGATE_USE_DIST !== '1') {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else if (existsSync(built)) {
  await import(built.href);
} else {
  console.error('mlgate: dist/ is missing; run `npm run build` first');
  process.exit(1);
}
