// The import-boundary rule (`mlgate/layers`): which package of services/ may import which, so an
// upward or sideways import fails lint (docs/architecture.md, "Packages and layers").
//
//   core                                   config, errors, logging, Kafka clients
//   telemetry   routing                    the event contract and its sinks; routing state and its channel
//   warehouse                              ClickHouse client, migrations, event -> row
//   ledger                                 hash chains, decision and admin-change rows
//   gateway   ingester   controller   audit   the services, each on its own
//   embedded                               every service in one process
//   cli   demo/                            the command line; the demo (outside services/)
//
// A package imports only the packages listed for it below (its own files always). NARROW then
// takes some of that away from some files (inside a package, or a package only its wiring uses). A folder of services/ that is not in the table is reported
// too, so a new package is placed in the layers when it is created.
//
// This file is also a config of its own (the default export: this rule alone, no type
// information), which test/infra/layers.test.ts runs through ESLint's Node API.
import { dirname, relative, resolve, sep } from 'node:path';
import tseslint from 'typescript-eslint';

const ROOT = resolve(import.meta.dirname, '..');

/** Package -> the other packages it may import. */
export const LAYERS = Object.freeze({
  core: [],
  telemetry: ['core'],
  routing: ['core'],
  warehouse: ['core', 'telemetry'],
  ledger: ['core', 'warehouse'],
  gateway: ['core', 'telemetry', 'routing', 'warehouse', 'ledger'],
  ingester: ['core', 'telemetry', 'warehouse'],
  controller: ['core', 'telemetry', 'routing', 'warehouse', 'ledger'],
  audit: ['core', 'telemetry', 'warehouse', 'ledger'],
  embedded: ['core', 'telemetry', 'routing', 'warehouse', 'ledger', 'gateway', 'ingester', 'controller', 'audit'],
  cli: ['core', 'telemetry', 'routing', 'warehouse', 'ledger', 'gateway', 'ingester', 'controller', 'audit', 'embedded', 'demo'],
  demo: ['core', 'telemetry', 'routing', 'warehouse', 'ledger', 'gateway', 'ingester', 'controller', 'audit', 'embedded'],
});

/** Narrower rules: files under `from` (but not those in `except`) may not import paths under `deny`. */
export const NARROW = Object.freeze([
  {
    from: ['services/gateway/'],
    except: ['services/gateway/main.ts'],
    deny: ['services/warehouse/'],
    why: 'only the gateway process\'s wiring (gateway/main.ts) opens a warehouse, for the admin-change chain; serving never touches ClickHouse',
  },
  {
    from: ['services/controller/analysis/', 'services/controller/rollout/', 'services/controller/sim/'],
    deny: ['services/controller/service/', 'services/controller/web/'],
    why: 'the canary core (analysis, rollout, sim) is pure and knows nothing of the service around it',
  },
  {
    from: ['services/gateway/proxy/', 'services/gateway/routing/', 'services/gateway/edge/', 'services/gateway/observability/'],
    deny: ['services/gateway/admin/', 'services/gateway/gateway.ts', 'services/gateway/assemble.ts', 'services/gateway/consumer-sync.ts', 'services/gateway/main.ts'],
    why: 'only the gateway\'s wiring (gateway.ts, assemble.ts, consumer-sync.ts, main.ts) uses the admin API and the wiring itself',
  },
]);

const posix = (p) => p.split(sep).join('/');

/** The package of a repository path: `services/<pkg>/...` or the top-level `demo/`. */
function packageOf(path) {
  const parts = path.split('/');
  if (parts[0] === 'services' && parts.length > 2) return parts[1];
  if (parts[0] === 'demo') return 'demo';
  return undefined;
}

const rule = {
  meta: {
    type: 'problem',
    docs: { description: 'Imports follow the layers of services/ (docs/architecture.md)' },
    schema: [],
    messages: {
      upward: '{{from}} may not import {{to}} ({{target}}); {{from}} may import: {{allowed}} (layers: scripts/eslint-layers.js, docs/architecture.md)',
      inner: '{{file}} may not import {{target}}: {{why}} (scripts/eslint-layers.js)',
      unknown: 'services/{{pkg}}/ is not in the layer table of scripts/eslint-layers.js: add it where it belongs',
    },
  },
  create(context) {
    const file = posix(relative(ROOT, context.filename));
    const from = packageOf(file);
    if (!from) return {};
    const check = (node, source) => {
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const target = posix(relative(ROOT, resolve(dirname(context.filename), source)));
      const to = packageOf(target);
      if (!(from in LAYERS)) {
        context.report({ node, messageId: 'unknown', data: { pkg: from } });
        return;
      }
      if (!to) return; // a config or data file outside the packages
      if (to !== from && !LAYERS[from].includes(to)) {
        const allowed = LAYERS[from].length ? LAYERS[from].join(', ') : 'no other package';
        context.report({ node, messageId: 'upward', data: { from, to, target, allowed } });
        return;
      }
      for (const z of NARROW) {
        if (z.from.some((f) => file.startsWith(f)) && !z.except?.includes(file) && z.deny.some((d) => target.startsWith(d))) {
          context.report({ node, messageId: 'inner', data: { file, target, why: z.why } });
        }
      }
    };
    return {
      ImportDeclaration: (n) => check(n.source, n.source.value),
      ExportNamedDeclaration: (n) => n.source && check(n.source, n.source.value),
      ExportAllDeclaration: (n) => check(n.source, n.source.value),
      ImportExpression: (n) => n.source.type === 'Literal' && check(n.source, n.source.value),
      TSImportType: (n) => {
        const lit = n.argument?.type === 'TSLiteralType' ? n.argument.literal : n.source;
        if (lit?.type === 'Literal') check(lit, lit.value);
      },
    };
  },
};

/** The plugin (`mlgate/layers`). */
export const plugin = { meta: { name: 'mlgate-layers' }, rules: { layers: rule } };

/** The config block the repository's eslint.config.js includes. */
export const layers = {
  files: ['services/**/*.ts', 'demo/**/*.ts'],
  plugins: { mlgate: plugin },
  rules: { 'mlgate/layers': 'error' },
};

// Standalone: this rule only, TypeScript parsed without type information (fast).
export default [
  { ignores: ['node_modules/**'] },
  { ...layers, languageOptions: { parser: tseslint.parser }, linterOptions: { reportUnusedDisableDirectives: 'off' } },
];
