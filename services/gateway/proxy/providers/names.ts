/** The provider names a version may declare (`versions.<v>.provider`); `openai` is the default. */
export const PROVIDER_NAMES = ['openai', 'anthropic'] as const;

/** One of {@link PROVIDER_NAMES}. */
export type ProviderName = (typeof PROVIDER_NAMES)[number];
