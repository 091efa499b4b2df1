/**
 * What `mlgate start` prints once everything listens: where each part is, and commands to try.
 * No secret is printed: token values stay in the config file (the commands name the field).
 */
import type { EmbeddedConfig } from './config.ts';
import type { EmbeddedUrls } from './embedded.ts';

/** The banner's lines. */
export function bannerLines(cfg: EmbeddedConfig, urls: EmbeddedUrls, opts: { configFile: string; readyMs: number }): string[] {
  const model = Object.keys(cfg.gateway.models)[0] ?? 'MODEL';
  const m = cfg.gateway.models[model];
  const versions = m ? Object.keys(m.versions) : [];
  const pad = (s: string) => s.padEnd(16);
  // Named, never printed: which token the rollout example's $TOKEN stands for.
  const operator = cfg.controller.tokens.find((t) => t.role === 'operator')?.name;
  const kafka = cfg.kafka.brokers?.length ? `Kafka ${cfg.kafka.brokers.join(',')}` : 'local telemetry log';
  const clickhouse = cfg.warehouse.engine === 'server' ? `ClickHouse server ${new URL(cfg.warehouse.url!).origin}` : 'embedded ClickHouse';
  const mode = kafka === 'local telemetry log' && clickhouse === 'embedded ClickHouse' ? 'embedded mode' : `${kafka}, ${clickhouse}`;
  const lines = [
    `mlgate is running: every service in this process (${mode}), ready in ${(opts.readyMs / 1000).toFixed(1)} s`,
    `  config ${opts.configFile}, data in ${cfg.dataDir}`,
    '',
    `  ${pad('gateway')}${urls.gateway}   POST /v1/models/{model}/predict  (models: ${Object.keys(cfg.gateway.models).join(', ')})`,
  ];
  if (urls.admin) lines.push(`  ${pad('admin API')}${urls.admin}/admin/routing   (Bearer gateway.admin.token)`);
  lines.push(`  ${pad('controller API')}${urls.controller}/v1/rollouts   (Bearer controller.tokens[].token)`);
  if (urls.rolloutPage) lines.push(`  ${pad('rollout page')}${urls.rolloutPage}`);
  if (urls.audit) lines.push(`  ${pad('audit API')}${urls.audit}/v1/requests   (Bearer audit.tokens[].token)`);
  lines.push(`  ${pad('metrics')}${[urls.gatewayMetrics, urls.ingesterMetrics, urls.controllerMetrics].filter(Boolean).join('  ')}`);
  const servers = Object.entries(urls.models);
  if (servers.length) lines.push(`  ${pad('model servers')}${servers.map(([v, u]) => `${v} ${u}`).join('  ')}`);
  lines.push(
    '',
    'Try a prediction:',
    `  curl -s ${urls.gateway}/v1/models/${model}/predict -H 'content-type: application/json' -d '{"text":"I love this product"}'`,
  );
  if (versions.length >= 2) {
    lines.push(
      `Roll out ${versions[1]} as a canary of ${versions[0]} (the controller moves the weights and records every decision):`,
      `  curl -s ${urls.controller}/v1/rollouts -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \\`,
      `    -d '{"id":"${model}-${versions[1]}","model":"${model}","stable":"${versions[0]}","canary":"${versions[1]}"}'`,
      `  (TOKEN is the token of an operator in controller.tokens of ${opts.configFile}${operator ? `, e.g. ${operator}` : ''}; the banner prints no token)`,
    );
  }
  lines.push(`OpenAI-style routes (POST /v1/chat/completions, /v1/embeddings, GET /v1/models) and LLM providers behind mlgate: docs/llm.md`);
  lines.push(`Ctrl-C stops everything; \`mlgate audit ... --config ${opts.configFile}\` reads ${cfg.dataDir} once stopped.`);
  return lines;
}
