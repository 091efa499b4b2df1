/**
 * The stand-in models of embedded mode (`embedded.modelServers`) and of the demo: two lexicon
 * sentiment classifiers from npm, each turned into the same answer shape `{ label, score }`
 * (label: positive | negative | neutral; score: how positive the text is, in [0, 1], 0.5 =
 * neutral), so the gateway reads both with one JSON path and the controller can compare their
 * label mix, score distribution and shadow agreement.
 *
 * - `afinn`: the AFINN-165 lexicon of the `sentiment` package (word valences -5..5 summed);
 *   score = (s / √(s² + 15) + 1) / 2 for the summed valence s (VADER's normalisation),
 *   label by the sign of s.
 * - `vader`: VADER (`vader-sentiment`): valences with rules for negation, intensifiers, caps and
 *   punctuation; score = (compound + 1) / 2, label by compound with VADER's usual ±0.05 cut.
 * - `fixed`: always neutral; needs no package.
 *
 * The two packages are optional dependencies: nothing but a stand-in server running that model
 * imports them ({@link loadModel}), so a deployment with real models can install without them,
 * and a missing one fails the start with MLG_EMB_MODEL_PACKAGE_MISSING naming the package.
 * Both models are pure functions of the text: the same text always gets the same answer.
 */
import type SentimentType from 'sentiment';
import type vaderType from 'vader-sentiment';
import { EmbeddedErrors } from '../errors.ts';

/** What a model answers. */
export interface Prediction {
  readonly label: 'positive' | 'negative' | 'neutral';
  /** Positivity in [0, 1]. */
  readonly score: number;
}

/** A model: text in, prediction out. */
export type Model = (text: string) => Prediction;

/** Model kinds the demo servers can run. */
export const MODEL_KINDS = ['afinn', 'vader', 'fixed'] as const;
/** One of {@link MODEL_KINDS}. */
export type ModelKind = (typeof MODEL_KINDS)[number];

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

/** AFINN-165 through the `sentiment` package's analyzer. */
export function afinnModel(Sentiment: typeof SentimentType): Model {
  const analyzer = new Sentiment();
  return (text) => {
    const r = analyzer.analyze(text);
    const label = r.score > 0 ? 'positive' : r.score < 0 ? 'negative' : 'neutral';
    // VADER's normalisation of a valence sum (x / sqrt(x² + 15)), so both scores share one scale.
    return { label, score: round((r.score / Math.sqrt(r.score * r.score + 15) + 1) / 2) };
  };
}

/** VADER through the `vader-sentiment` package. */
export function vaderModel(vader: typeof vaderType): Model {
  return (text) => {
    const { compound } = vader.SentimentIntensityAnalyzer.polarity_scores(text);
    const label = compound >= 0.05 ? 'positive' : compound <= -0.05 ? 'negative' : 'neutral';
    return { label, score: round((compound + 1) / 2) };
  };
}

/** A stand-in that answers the same for every text (for `mlgate start` without models). */
export const fixed: Model = () => ({ label: 'neutral', score: 0.5 });

/** Imports a package by name (a parameter so a test can make one missing). */
export type PackageImporter = (name: string) => Promise<{ default: unknown }>;
const importPackage: PackageImporter = (name) => import(name) as Promise<{ default: unknown }>;

/** The package each model needs. */
export const MODEL_PACKAGES: Readonly<Record<ModelKind, string | undefined>> = Object.freeze({ afinn: 'sentiment', vader: 'vader-sentiment', fixed: undefined });

/**
 * The model of a kind, its package imported on first use.
 * @throws MLG_EMB_MODEL_PACKAGE_MISSING when the model's optional package is not installed.
 */
export async function loadModel(kind: ModelKind, importer: PackageImporter = importPackage): Promise<Model> {
  const pkg = MODEL_PACKAGES[kind];
  if (!pkg) return fixed;
  let mod: { default: unknown };
  try {
    mod = await importer(pkg);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw err;
    throw EmbeddedErrors.modelPackageMissing(
      `the stand-in model '${kind}' needs the package '${pkg}', which is not installed (it is an optional dependency: ` +
      `run \`npm ci\` without --omit=optional, or use model: fixed)`, { cause: err });
  }
  return kind === 'afinn' ? afinnModel(mod.default as typeof SentimentType) : vaderModel(mod.default as typeof vaderType);
}
