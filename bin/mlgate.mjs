#!/usr/bin/env node
// The `mlgate` command: loads the TypeScript sources through tsx, then hands over to the CLI.
import { register } from 'tsx/esm/api';

register();
await import('../services/cli/main.ts');
