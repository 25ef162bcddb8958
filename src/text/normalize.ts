/**
 * Text normalisation shared by every text encoder: lower case, accents and
 * punctuation removed, whitespace collapsed; a trailing year in brackets
 * ("Alien (1979)") is taken off a title and kept as its own feature.
 */

export interface NormalizedText {
  /** Lower-case words separated by single spaces ('' when nothing is left). */
  text: string;
  /** The year a title ended with, e.g. 1979 for "Alien (1979)". */
  year?: number;
}

const TRAILING_YEAR = /\s*[([]\s*((?:18|19|20)\d\d)\s*[)\]]\s*$/u;

/**
 * @example
 *   normalizeText('Alien (1979)')               // -> { text: 'alien', year: 1979 }
 *   normalizeText("Schindler's List")            // -> { text: 'schindlers list' }
 *   normalizeText('Amélie — Le Fabuleux Destin') // -> { text: 'amelie le fabuleux destin' }
 */
export function normalizeText(input: string): NormalizedText {
  let text = input.normalize('NFKC');
  let year: number | undefined;
  const match = TRAILING_YEAR.exec(text);
  if (match) {
    year = Number(match[1]);
    text = text.slice(0, match.index);
  }
  text = text
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '') // accents: é -> e
    .toLowerCase()
    .replace(/['’`]/gu, '') // apostrophes join: "don't" -> "dont"
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
  return year === undefined ? { text } : { text, year };
}

/** The year as a coarse feature token: its decade ("__decade_1970s"), so near years share it. */
export function yearToken(year: number): string {
  return `__decade_${Math.floor(year / 10) * 10}s`;
}
