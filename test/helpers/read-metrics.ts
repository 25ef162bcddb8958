/**
 * How well text was read: character error rate and exact lines against
 * synthetic posters whose lines are known (text-posters.ts), and whether a
 * known title appears, roughly, in what was read from a real poster.
 */
import { editDistance } from '../../src/errors.js';
import { type ReadLine, readingOrder } from '../../src/ocr/read.js';
import type { TextPosterBox } from './text-posters.js';

/** Whitespace runs as one space, trimmed: a reader cannot tell one space from two. */
export function normalizeSpaces(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

export interface ReadingScore {
  /** Characters in the true lines (spaces normalised). */
  characters: number;
  /** Edit distance between each true line and what was read there, summed. */
  errors: number;
  /** The same, ignoring spaces and case: the characters alone. */
  charactersNoSpace: number;
  errorsNoSpace: number;
  lines: number;
  exactLines: number;
  /** Read lines that lie in no true line (text read where there is none). */
  spurious: number;
  /** Per true line: what it says and what was read there. */
  pairs: Array<{ truth: string; read: string; kind: TextPosterBox['kind'] }>;
}

/** Share of `inner`'s area inside `outer`. */
function inside(inner: ReadLine['box'], outer: { x0: number; y0: number; x1: number; y1: number }): number {
  const w = Math.min(inner.x1, outer.x1) - Math.max(inner.x0, outer.x0);
  const h = Math.min(inner.y1, outer.y1) - Math.max(inner.y0, outer.y0);
  const area = (inner.x1 - inner.x0) * (inner.y1 - inner.y0);
  return w > 0 && h > 0 && area > 0 ? (w * h) / area : 0;
}

/**
 * Scores read lines against a poster's true lines. A read line belongs to
 * the true line holding at least half of its box (a detector may split one
 * line into words); a true line's reading is its read lines in reading
 * order, joined by spaces, and '' when none (every character then counts as
 * an error).
 *
 * @example
 *   scoreReading([{ x0: 0, y0: 0, x1: 100, y1: 20, text: 'THE GARDEN', kind: 'title' }],
 *                [{ text: 'THE GARDFN', confidence: 0.9, box: { x0: 0, y0: 0, x1: 100, y1: 20, score: 1 } }])
 *   // -> { characters: 10, errors: 1, lines: 1, exactLines: 0, spurious: 0, ... }
 */
export function scoreReading(truth: readonly TextPosterBox[], lines: readonly ReadLine[]): ReadingScore {
  const owner = lines.map((line) => {
    let best = -1;
    let bestShare = 0.5;
    truth.forEach((t, k) => {
      const share = inside(line.box, t);
      if (share >= bestShare) [best, bestShare] = [k, share];
    });
    return best;
  });
  const score: ReadingScore = { characters: 0, errors: 0, charactersNoSpace: 0, errorsNoSpace: 0, lines: truth.length, exactLines: 0, spurious: 0, pairs: [] };
  score.spurious = owner.filter((k) => k < 0).length;
  truth.forEach((t, k) => {
    const mine = lines.filter((_, i) => owner[i] === k);
    const read = normalizeSpaces(readingOrder(mine.map((l) => l.box)).flat().map((i) => mine[i]!.text).join(' '));
    const expected = normalizeSpaces(t.text);
    const errors = editDistance(read, expected);
    const bare = (s: string) => s.replace(/\s+/g, '').toLowerCase();
    score.characters += expected.length;
    score.errors += errors;
    score.charactersNoSpace += bare(expected).length;
    score.errorsNoSpace += editDistance(bare(read), bare(expected));
    if (errors === 0) score.exactLines++;
    score.pairs.push({ truth: expected, read, kind: t.kind });
  });
  return score;
}

/** Adds up scores of several posters. */
export function addScores(scores: readonly ReadingScore[]): ReadingScore {
  const total: ReadingScore = { characters: 0, errors: 0, charactersNoSpace: 0, errorsNoSpace: 0, lines: 0, exactLines: 0, spurious: 0, pairs: [] };
  for (const s of scores) {
    for (const key of ['characters', 'errors', 'charactersNoSpace', 'errorsNoSpace', 'lines', 'exactLines', 'spurious'] as const) total[key] += s[key];
    total.pairs.push(...s.pairs);
  }
  return total;
}

/** Lower case, letters and digits only, one space between words: how a title is compared with read text. */
export function comparable(text: string): string {
  return normalizeSpaces(
    text
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase()
      .replace(/&/g, ' and ')
      .replace(/[^a-z0-9]+/g, ' '),
  );
}

/**
 * The fewest edits turning `needle` into some substring of `haystack`
 * (approximate substring search: the first row of the edit table is all
 * zeros, so the match may start anywhere).
 *
 * @example
 *   substringDistance('garden', 'the gardfn of eden') // -> 1
 */
export function substringDistance(needle: string, haystack: string): number {
  let previous = new Array<number>(haystack.length + 1).fill(0);
  for (let i = 1; i <= needle.length; i++) {
    const row = [i];
    for (let j = 1; j <= haystack.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (needle[i - 1] === haystack[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return Math.min(...previous);
}

/**
 * Whether a title appears in read text, ignoring case, punctuation, accents
 * and spaces, with at most one wrong character in five (titles of up to four
 * characters must match exactly).
 *
 * @example
 *   titleFound('The Joy Luck Club', 'THE JOYLUCK CLUB\nA WAYNE WANG FILM') // -> true
 *   titleFound('Heat', 'HEAR') // -> false
 */
export function titleFound(title: string, read: string): boolean {
  const needle = comparable(title).replace(/ /g, '');
  if (needle === '') return false;
  const haystack = comparable(read).replace(/ /g, '');
  return substringDistance(needle, haystack) <= Math.floor(needle.length / 5);
}
