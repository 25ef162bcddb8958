/**
 * The threshold policy: how genre probabilities become a set of genres. This
 * is the one implementation of that rule. The library (`predict`, the
 * server, evaluation, threshold tuning) calls it, and the web page runs it
 * too: `npm run build` bundles this file for the browser as
 * `dist/web/decide.js`, which the server serves at `/decide.js`, so moving the
 * page's slider re-marks genres exactly as the server would.
 *
 * The rule: a genre passes when `score >= threshold`, compared in float32
 * like the scores themselves (so a score stored as 0.3 passes the threshold
 * 0.3); per-genre thresholds replace the global one where set; `topK` keeps
 * the highest passing scores (ties to the lower genre index); `atLeastOne`
 * adds the top genre to a row left empty.
 *
 * Data layout: `scores: Float32Array` and `labels: Uint8Array` (0/1),
 * row-major [rows x genres].
 */
import { checkInteger, invalidParameterError } from '../errors.js';

export interface ThresholdPolicy {
  /** Global threshold used for every genre without its own. */
  global: number;
  /**
   * Optional per-genre thresholds (same order and length as genres); NaN or
   * absent entry = use global. `null` is accepted too: it is what
   * `JSON.stringify` writes for NaN.
   */
  perGenre?: Array<number | null>;
  /** Keep at most k genres per poster (highest scores that pass their threshold). */
  topK?: number;
  /** Always predict at least the top genre, even if below threshold. */
  atLeastOne?: boolean;
}

/** Per-call changes to a policy (CLI flags, query parameters, the page's controls). */
export interface PolicyOverrides {
  /** One global threshold; per-genre thresholds are then dropped. */
  threshold?: number;
  /** At most k genres; `null` removes the policy's own limit. */
  topK?: number | null;
  atLeastOne?: boolean;
}

export interface GenreScore {
  genre: string;
  score: number;
}

/**
 * Throws `invalidParameterError` unless `data` is a [rows x genres] matrix of
 * the right type: finite scores (NaN would break ranking) or 0/1 labels.
 */
export function checkMatrix(name: string, data: unknown, rows: number, genres: number, kind: 'scores' | 'binary'): void {
  checkInteger('rows', rows, 0, Number.MAX_SAFE_INTEGER);
  checkInteger('genres', genres, 1, Number.MAX_SAFE_INTEGER);
  const type = kind === 'scores' ? Float32Array : Uint8Array;
  if (!(data instanceof type)) throw invalidParameterError(name, type.name, data);
  const array = data as Float32Array | Uint8Array;
  if (array.length !== rows * genres) {
    throw invalidParameterError(`${name}.length`, `${rows * genres} (${rows} rows x ${genres} genres)`, array.length);
  }
  for (let i = 0; i < array.length; i++) {
    const v = array[i]!;
    if (kind === 'scores' ? !Number.isFinite(v) : v > 1) {
      throw invalidParameterError(`${name}[${i}]`, kind === 'scores' ? 'a finite number' : '0 or 1', v);
    }
  }
}

/** Throws `invalidParameterError` unless `value` is a number in [0, 1] (or (0, 1] when `lowOpen`): thresholds, rates, precisions. */
export function checkUnit(name: string, value: unknown, lowOpen = false): number {
  if (typeof value !== 'number' || !(lowOpen ? value > 0 : value >= 0) || !(value <= 1)) {
    throw invalidParameterError(name, lowOpen ? 'number in (0, 1]' : 'number between 0 and 1', value);
  }
  return value;
}

/**
 * Checks a policy against `genres` and returns every genre's threshold, in
 * float32 as `decide` compares them.
 *
 * @example
 *   genreThresholds({ global: 0.5, perGenre: [0.3, null, 0.15] }, 3) // -> Float32Array [0.3, 0.5, 0.15]
 */
export function genreThresholds(policy: ThresholdPolicy, genres: number): Float32Array {
  if (typeof policy !== 'object' || policy === null) throw invalidParameterError('policy', 'a threshold policy object', policy);
  const thresholds = new Float32Array(genres).fill(checkUnit('global', policy.global));
  if (policy.perGenre !== undefined) {
    if (!Array.isArray(policy.perGenre) || policy.perGenre.length !== genres) {
      throw invalidParameterError('perGenre', `an array of ${genres} thresholds`, policy.perGenre);
    }
    policy.perGenre.forEach((t: number | null | undefined, g) => {
      if (t !== null && t !== undefined && !Number.isNaN(t)) thresholds[g] = checkUnit(`perGenre[${g}]`, t);
    });
  }
  if (policy.topK !== undefined) checkInteger('topK', policy.topK, 1, genres);
  if (policy.atLeastOne !== undefined && typeof policy.atLeastOne !== 'boolean') {
    throw invalidParameterError('atLeastOne', 'boolean', policy.atLeastOne);
  }
  return thresholds;
}

/**
 * A policy with per-call overrides applied (checked against `genres`).
 *
 * @example
 *   withOverrides({ global: 0.32, perGenre: [0.2, null] }, { threshold: 0.5, topK: 1 }, 2) // -> { global: 0.5, topK: 1 }
 */
export function withOverrides(policy: ThresholdPolicy, overrides: PolicyOverrides, genres: number): ThresholdPolicy {
  const out: ThresholdPolicy = { global: policy.global };
  if (policy.perGenre !== undefined) out.perGenre = policy.perGenre;
  if (policy.topK !== undefined) out.topK = policy.topK;
  if (policy.atLeastOne !== undefined) out.atLeastOne = policy.atLeastOne;
  if (overrides.threshold !== undefined) {
    out.global = checkUnit('threshold', overrides.threshold);
    delete out.perGenre;
  }
  if (overrides.topK === null) delete out.topK;
  else if (overrides.topK !== undefined) out.topK = checkInteger('topK', overrides.topK, 1, genres);
  if (overrides.atLeastOne !== undefined) out.atLeastOne = overrides.atLeastOne;
  return out;
}

/**
 * Turns scores into 0/1 decisions under a policy.
 *
 * @example
 *   decide(new Float32Array([0.7, 0.8, 0.6, 0.2, 0.1, 0.3]), 2, 3, { global: 0.5, topK: 2, atLeastOne: true })
 *   // -> Uint8Array [1, 1, 0, 0, 0, 1]
 */
export function decide(scores: Float32Array, rows: number, genres: number, policy: ThresholdPolicy): Uint8Array {
  checkMatrix('scores', scores, rows, genres, 'scores');
  const thresholds = genreThresholds(policy, genres);
  const out = new Uint8Array(rows * genres);
  const passing: number[] = [];
  for (let r = 0, o = 0; r < rows; r++, o += genres) {
    passing.length = 0;
    let top = 0;
    for (let g = 0; g < genres; g++) {
      if (scores[o + g]! >= thresholds[g]!) passing.push(g);
      if (scores[o + g]! > scores[o + top]!) top = g;
    }
    if (policy.topK !== undefined && passing.length > policy.topK) {
      passing.sort((a, b) => scores[o + b]! - scores[o + a]! || a - b);
      passing.length = policy.topK;
    }
    for (const g of passing) out[o + g] = 1;
    if (policy.atLeastOne && passing.length === 0) out[o + top] = 1;
  }
  return out;
}

/**
 * One poster's scores as `{ genre, score }`, highest first (ties in genre order).
 *
 * @example
 *   rankGenres(['Action', 'Drama'], new Float32Array([0.25, 0.5])) // -> [{ genre: 'Drama', score: 0.5 }, { genre: 'Action', score: 0.25 }]
 */
export function rankGenres(genres: readonly string[], scores: Float32Array): GenreScore[] {
  return genres.map((genre, g) => ({ genre, score: scores[g]!, g })).sort((a, b) => b.score - a.score || a.g - b.g).map(({ genre, score }) => ({ genre, score }));
}

/**
 * The genres a policy picks for one poster, highest score first. Genres
 * missing from `scores` score 0.
 *
 * @example
 *   decideGenres(['Action', 'Comedy', 'Drama'], [{ genre: 'Drama', score: 0.61 }, { genre: 'Comedy', score: 0.4 }], { global: 0.32 })
 *   // -> ['Drama', 'Comedy']
 */
export function decideGenres(genres: readonly string[], scores: readonly GenreScore[], policy: ThresholdPolicy): string[] {
  const row = new Float32Array(genres.length);
  for (const { genre, score } of scores) {
    const g = genres.indexOf(genre);
    if (g < 0) throw invalidParameterError('scores', `genres of this model (${genres.join(', ')})`, genre);
    row[g] = score;
  }
  const chosen = decide(row, 1, genres.length, policy);
  return rankGenres(genres, row).filter(({ genre }) => chosen[genres.indexOf(genre)] === 1).map(({ genre }) => genre);
}
