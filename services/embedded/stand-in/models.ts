/**
 * The demo's real models: two lexicon sentiment classifiers from npm, each turned into the same
 * answer shape `{ label, score }` (label: positive | negative | neutral; score: how positive the
 * text is, in [0, 1], 0.5 = neutral), so the gateway reads both with one JSON path and the
 * controller can compare their label mix, score distribution and shadow agreement.
 *
 * - `afinn`: the AFINN-165 lexicon of the `sentiment` package (word valences -5..5 summed);
 *   score = (s / √(s² + 15) + 1) / 2 for the summed valence s (VADER's normalisation),
 *   label by the sign of s.
 * - `vader`: VADER (`vader-sentiment`): valences with rules for negation, intensifiers, caps and
 *   punctuation; score = (compound + 1) / 2, label by compound with VADER's usual ±0.05 cut.
 *
 * Both are pure functions of the text: the same text always gets the same answer.
 */
import Sentiment from 'sentiment';
import vader from 'vader-sentiment';

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

const afinnAnalyzer = new Sentiment();

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

/** AFINN-165 through the `sentiment` package. */
export const afinn: Model = (text) => {
  const r = afinnAnalyzer.analyze(text);
  const label = r.score > 0 ? 'positive' : r.score < 0 ? 'negative' : 'neutral';
  // VADER's normalisation of a valence sum (x / sqrt(x² + 15)), so both scores share one scale.
  return { label, score: round((r.score / Math.sqrt(r.score * r.score + 15) + 1) / 2) };
};

/** VADER through the `vader-sentiment` package. */
export const vaderModel: Model = (text) => {
  const { compound } = vader.SentimentIntensityAnalyzer.polarity_scores(text);
  const label = compound >= 0.05 ? 'positive' : compound <= -0.05 ? 'negative' : 'neutral';
  return { label, score: round((compound + 1) / 2) };
};

/** A stand-in that answers the same for every text (for `mlgate start` without models). */
export const fixed: Model = () => ({ label: 'neutral', score: 0.5 });

/** The model of a kind. */
export function modelOf(kind: ModelKind): Model {
  switch (kind) {
    case 'afinn': return afinn;
    case 'vader': return vaderModel;
    case 'fixed': return fixed;
  }
}
