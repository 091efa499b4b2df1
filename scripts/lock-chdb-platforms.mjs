#!/usr/bin/env node
// chdb lists an optional native package per platform, but only linux-x64 is published for the
// pinned version; npm then leaves the others out of package-lock.json and `npm ci` refuses the
// lock as out of sync. This adds lock entries for the unpublished ones (optional, with os/cpu),
// which npm ci skips on other platforms. Run after any `npm install` that rewrites the lock.
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const chdbOptional = JSON.parse(readFileSync(new URL('../node_modules/chdb/package.json', import.meta.url), 'utf8')).optionalDependencies ?? {};
const platforms = { 'darwin-arm64': ['darwin', 'arm64'], 'darwin-x64': ['darwin', 'x64'], 'linux-arm64-gnu': ['linux', 'arm64'], 'linux-x64-gnu': ['linux', 'x64'] };
let added = 0;
for (const [name, version] of Object.entries(chdbOptional)) {
  const key = `node_modules/${name}`;
  const plat = platforms[name.replace('@chdb/lib-', '')];
  if (lock.packages[key] || !plat) continue;
  lock.packages[key] = { version, license: 'Apache-2.0', optional: true, os: [plat[0]], cpu: [plat[1]] };
  added++;
}
writeFileSync(path, JSON.stringify(lock, null, 2) + '\n');
console.log(`lock entries added: ${added}`);
