/** The provider adapters by name (`versions.<v>.provider`). */
import { anthropicProvider } from './anthropic.ts';
import type { ProviderName } from './names.ts';
import { openaiProvider } from './openai.ts';
import type { Provider } from './provider.ts';

const PROVIDERS: Readonly<Record<ProviderName, Provider>> = { openai: openaiProvider, anthropic: anthropicProvider };

/** The adapter of `name` (the config schema only lets known names through). */
export function providerOf(name: ProviderName): Provider {
  return PROVIDERS[name];
}
