/**
 * The startup banner's rollout example: `$TOKEN` is explained (an operator token of
 * controller.tokens in the config file, by name) and no token value is printed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bannerLines } from '../../services/embedded/banner.ts';
import { loadEmbeddedConfig } from '../../services/embedded/config.ts';
import { defaultConfigFile } from '../../services/cli/paths.ts';

const URLS = {
  gateway: 'http://127.0.0.1:8080', admin: 'http://127.0.0.1:8081', gatewayMetrics: 'http://127.0.0.1:8081/metrics', ingesterMetrics: 'http://127.0.0.1:9465/metrics',
  controller: 'http://127.0.0.1:9466', controllerMetrics: 'http://127.0.0.1:9466/metrics', rolloutPage: 'http://127.0.0.1:9466/ui/', audit: 'http://127.0.0.1:8790',
  models: {},
};

test('banner: the rollout example says which token $TOKEN is and where it is configured, without printing it', () => {
  const configFile = defaultConfigFile();
  const cfg = loadEmbeddedConfig(configFile, {});
  const text = bannerLines(cfg, URLS, { configFile, readyMs: 1200 }).join('\n');
  assert.match(text, /Bearer \$TOKEN/);
  const operator = cfg.controller.tokens.find((t) => t.role === 'operator')!;
  const explained = text.split('\n').find((l) => l.includes('TOKEN is'));
  assert.ok(explained, text);
  assert.ok(explained.includes('operator') && explained.includes('controller.tokens') && explained.includes(configFile), explained);
  assert.ok(explained.includes(operator.name), `names the operator token ${operator.name}: ${explained}`);
  for (const t of [...cfg.controller.tokens, ...cfg.audit.tokens]) assert.ok(!text.includes(t.token), 'no token value printed');
  assert.ok(!text.includes(cfg.gateway.admin.token!), 'no admin token printed');
});
