/** Types of the `vader-sentiment` package (it ships none): the part the demo models use. */
declare module 'vader-sentiment' {
  /** VADER's scores of one text: shares of negative, neutral and positive words, and the normalised compound in [-1, 1]. */
  export interface PolarityScores {
    neg: number;
    neu: number;
    pos: number;
    compound: number;
  }
  /** The analyser (static). */
  export const SentimentIntensityAnalyzer: {
    polarity_scores(text: string): PolarityScores;
  };
  const vader: { SentimentIntensityAnalyzer: typeof SentimentIntensityAnalyzer };
  export default vader;
}
