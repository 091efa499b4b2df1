/**
 * Texts the demo's load generator sends: product reviews and support-chat messages, positive,
 * negative, mixed and neutral, built from templates so that a few thousand differ. About one in
 * eight carries planted PII (an email address or a phone number, invented, in reserved ranges
 * such as example.com and 555-01xx) so the redaction counts in the telemetry are real too.
 * Deterministic for a seed.
 */
import { createRng, type Rng } from '../services/controller/sim/random.ts';

const PRODUCTS = [
  'headphones', 'coffee grinder', 'running shoes', 'phone case', 'desk lamp', 'backpack', 'blender', 'keyboard',
  'water bottle', 'rain jacket', 'office chair', 'e-reader', 'air fryer', 'yoga mat', 'smart watch', 'tent',
];

const POSITIVE = [
  'I love this {p}, it works perfectly and looks great.',
  'Excellent {p}! Fast delivery and the quality is amazing.',
  'Best {p} I have bought in years. Highly recommend it.',
  'The {p} is comfortable, sturdy and worth every penny.',
  'Really happy with the {p}. Setup was easy and support was helpful.',
  'Great value. The {p} does exactly what I wanted, no complaints at all.',
  'Wow, the {p} exceeded my expectations. My whole family enjoys it!',
  'Solid {p}, beautiful design, and it arrived a day early. Thank you!',
];

const NEGATIVE = [
  'The {p} broke after two days. Terrible quality, very disappointed.',
  'Awful {p}. It stopped working and nobody answers my emails.',
  'I hate this {p}; it is noisy, cheap and the battery died.',
  'Worst purchase ever. The {p} arrived damaged and the refund is a nightmare.',
  'Do not buy this {p}. It is useless and badly made.',
  'The {p} is uncomfortable and smells bad. Returning it.',
  'Very poor {p}, the strap snapped and the seller ignored me.',
  'Disappointed: the {p} looks nothing like the photos and feels fragile.',
];

const MIXED = [
  'The {p} looks nice but the instructions were confusing.',
  'Good {p} overall, though shipping was slow and the box was damaged.',
  'Not bad. The {p} is fine for the price, but I expected better battery life.',
  'I like the color of the {p}, but the fit is a bit tight.',
  'The {p} works, but customer service was rude when I asked a question.',
];

const NEUTRAL = [
  'The {p} arrived on Tuesday in a brown box.',
  'Does the {p} come with a charger or do I need to buy one?',
  'I ordered the {p} in blue, size medium.',
  'What is the warranty period for the {p}?',
  'The {p} weighs about 900 grams according to the label.',
];

const CHAT = [
  'Hi, my order with the {p} has not arrived yet. Can you check the status?',
  'Thanks so much for the quick help with my {p}, you are awesome!',
  'I am really frustrated, this is the third time the {p} was delivered to the wrong address.',
  'Can I change the delivery date for my {p}? I will be away next week.',
  'The app keeps crashing when I try to pair the {p}. This is annoying.',
  'Great news, the replacement {p} works fine now. Have a nice day!',
  'Why was I charged twice for the {p}? Please fix this immediately.',
  'Is there a discount if I buy two {p}s?',
];

const FIRST = ['jane', 'omar', 'li', 'maria', 'sam', 'priya', 'lucas', 'emma', 'kofi', 'ana'];
const LAST = ['doe', 'haddad', 'wei', 'garcia', 'lee', 'patel', 'martin', 'jones', 'mensah', 'silva'];

const PII_SUFFIX = [
  ' You can reach me at {email}.',
  ' Please call me back on {phone}.',
  ' My email is {email} if you need the receipt.',
  ' Text me at {phone} when it ships.',
];

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[Math.floor(rng.uniform() * xs.length)]!;
}

function email(rng: Rng): string {
  return `${pick(rng, FIRST)}.${pick(rng, LAST)}${Math.floor(rng.uniform() * 90) + 10}@example.com`;
}

function phone(rng: Rng): string {
  const line = String(100 + Math.floor(rng.uniform() * 100)).padStart(4, '0');
  return rng.uniform() < 0.5 ? `+1 415 555 ${line}` : `(212) 555-${line}`;
}

/** Kinds of text, for the mix and for tests. */
export const TEXT_KINDS = ['positive', 'negative', 'mixed', 'neutral', 'chat'] as const;

/** One text with what it is. `pii` says whether an email or phone was planted. */
export interface DemoText {
  readonly kind: (typeof TEXT_KINDS)[number];
  readonly text: string;
  readonly pii: boolean;
}

/** Share of each kind in the traffic (reviews lean positive, as real ones do). */
const MIX: ReadonlyArray<readonly [DemoText['kind'], readonly string[], number]> = [
  ['positive', POSITIVE, 0.34], ['negative', NEGATIVE, 0.2], ['mixed', MIXED, 0.12], ['neutral', NEUTRAL, 0.1], ['chat', CHAT, 0.24],
];

/** Share of texts that carry planted PII. */
export const PII_SHARE = 0.125;

/** An endless, seeded stream of demo texts. */
export function createCorpus(seed = 1): () => DemoText {
  const rng = createRng(seed);
  return () => {
    let u = rng.uniform();
    let entry = MIX[MIX.length - 1]!;
    for (const m of MIX) {
      if (u < m[2]) { entry = m; break; }
      u -= m[2];
    }
    let text = pick(rng, entry[1]).replaceAll('{p}', pick(rng, PRODUCTS));
    const pii = rng.uniform() < PII_SHARE;
    if (pii) text += pick(rng, PII_SUFFIX).replace('{email}', email(rng)).replace('{phone}', phone(rng));
    return { kind: entry[0], text, pii };
  };
}
