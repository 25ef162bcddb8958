/**
 * Train / validation / test splits that keep every genre's share in each
 * split and never let one poster leak across splits.
 */
import { invalidParameterError } from '../errors.js';
import { Random } from '../random.js';

export interface SplitOptions {
  /** Train, validation and test shares of the rows, summing to 1. Default [0.8, 0.1, 0.1]. */
  fractions?: [number, number, number];
  /** Seed of the shuffle and of tie-breaking. Default 0. */
  seed?: number;
}

export interface SplitResult {
  /** Row indices, ascending. */
  train: number[];
  validation: number[];
  test: number[];
  /** Rows merged into a group with another (same id or same content hash): rows minus groups. */
  duplicates: number;
  groups: number;
}

const SPLITS = 3;
const EPSILON = 1e-9;


/** Rows sharing an id or a content hash, by union-find. */
function groupRows(rows: number, ids: string[], hashes: (string | undefined)[] | undefined): number[][] {
  const parent = Int32Array.from({ length: rows }, (_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]!]!;
      i = parent[i]!;
    }
    return i;
  };
  const join = (keys: (string | undefined)[]) => {
    const first = new Map<string, number>();
    keys.forEach((key, row) => {
      if (key === undefined || key === '') return;
      const other = first.get(key);
      if (other === undefined) first.set(key, row);
      else parent[find(row)] = find(other);
    });
  };
  join(ids);
  if (hashes) join(hashes);
  const byRoot = new Map<number, number[]>();
  for (let row = 0; row < rows; row++) {
    const root = find(row);
    const members = byRoot.get(root);
    if (members) members.push(row);
    else byRoot.set(root, [row]);
  }
  return [...byRoot.values()];
}

function checkArguments(labels: Uint8Array, rows: number, genres: number, keys: { ids: string[]; hashes?: (string | undefined)[] }, options: SplitOptions) {
  if (!Number.isInteger(rows) || rows < 0) throw invalidParameterError('rows', 'non-negative integer', rows);
  if (!Number.isInteger(genres) || genres < 0) throw invalidParameterError('genres', 'non-negative integer', genres);
  if (!(labels instanceof Uint8Array) || labels.length !== rows * genres) {
    throw invalidParameterError('labels', `Uint8Array of length ${rows * genres} (rows x genres)`, labels instanceof Uint8Array ? `length ${labels.length}` : labels);
  }
  if (typeof keys !== 'object' || keys === null || !Array.isArray(keys.ids) || keys.ids.length !== rows) {
    throw invalidParameterError('keys.ids', `array of ${rows} ids`, keys?.ids);
  }
  if (keys.hashes !== undefined && (!Array.isArray(keys.hashes) || keys.hashes.length !== rows)) {
    throw invalidParameterError('keys.hashes', `array of ${rows} content hashes (or undefined)`, keys.hashes);
  }
  const fractions = options.fractions ?? [0.8, 0.1, 0.1];
  const expected = 'three non-negative numbers summing to 1 (train, validation, test)';
  if (!Array.isArray(fractions) || fractions.length !== SPLITS || !fractions.every((f) => typeof f === 'number' && Number.isFinite(f) && f >= 0)) {
    throw invalidParameterError('fractions', expected, fractions);
  }
  if (Math.abs(fractions[0] + fractions[1] + fractions[2] - 1) > 1e-6) throw invalidParameterError('fractions', expected, fractions);
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) throw invalidParameterError('seed', 'integer', seed);
  return { fractions, seed };
}

/**
 * Iterative stratification for multi-label data (Sechidis, Tsoumakas & Vlahavas 2011) over *groups*:
 * rows sharing an id or a content hash form one group and always land in the same split.
 *
 * Each split desires `fraction x rows` rows overall and `fraction x positives` of
 * every genre. The genre with the fewest unassigned rows goes first: each of its
 * groups goes to the split that still wants that genre most (ties: the split
 * wanting more rows overall, then the seeded coin). A genre with at least one
 * group per split first gives each split one, so rare genres are seen in all
 * three. Groups without genres fill the splits wanting the most rows.
 *
 * @example
 *   // labels: row-major 0/1 [rows x genres], e.g. from Dataset.labels()
 *   const split = stratifiedSplit(ds.labels(), ds.rows.length, ds.genres.length, { ids: ds.rows.map((r) => r.id) });
 *   // -> { train: [0, 1, 3, ...], validation: [5, ...], test: [2, ...], duplicates: 0, groups: 5988 }
 */
export function stratifiedSplit(
  labels: Uint8Array,
  rows: number,
  genres: number,
  keys: { ids: string[]; hashes?: (string | undefined)[] },
  options: SplitOptions = {},
): SplitResult {
  const { fractions, seed } = checkArguments(labels, rows, genres, keys, options);
  const rng = new Random(seed);
  const random = () => rng.next();
  const groups = groupRows(rows, keys.ids, keys.hashes);
  for (let i = groups.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [groups[i], groups[j]] = [groups[j]!, groups[i]!];
  }

  // Per group: how many of its rows carry each genre (sparse).
  const groupGenres: Array<Array<[genre: number, rows: number]>> = groups.map((members) => {
    const counts = new Map<number, number>();
    for (const row of members) {
      for (let g = 0; g < genres; g++) if (labels[row * genres + g]) counts.set(g, (counts.get(g) ?? 0) + 1);
    }
    return [...counts.entries()];
  });
  const positives = new Float64Array(genres);
  const groupsOf: number[][] = Array.from({ length: genres }, () => []);
  groupGenres.forEach((list, group) => {
    for (const [g, n] of list) {
      positives[g]! += n;
      groupsOf[g]!.push(group);
    }
  });

  const open = fractions.map((f) => f > 0);
  const openSplits = open.filter(Boolean).length;
  const wantRows = fractions.map((f) => f * rows);
  const wantGenre = fractions.map((f) => Float64Array.from(positives, (p) => f * p));
  const has = Array.from({ length: SPLITS }, () => new Uint32Array(genres));
  const remaining = Float64Array.from(positives);
  const assigned = new Int8Array(groups.length).fill(-1);

  const assign = (group: number, split: number) => {
    assigned[group] = split;
    wantRows[split]! -= groups[group]!.length;
    for (const [g, n] of groupGenres[group]!) {
      wantGenre[split]![g]! -= n;
      has[split]![g]! += 1;
      remaining[g]! -= n;
    }
  };
  /** Best open split by the keys given, most important first; exact ties go to the seeded coin. */
  const best = (...scores: Array<(s: number) => number>): number => {
    let candidates = [0, 1, 2].filter((s) => open[s]);
    for (const score of scores) {
      const top = Math.max(...candidates.map(score));
      candidates = candidates.filter((s) => score(s) >= top - EPSILON);
      if (candidates.length === 1) return candidates[0]!;
    }
    return candidates[Math.floor(random() * candidates.length)]!;
  };

  const done = new Uint8Array(genres);
  for (;;) {
    let genre = -1;
    for (let g = 0; g < genres; g++) {
      if (!done[g] && remaining[g]! > 0 && (genre < 0 || remaining[g]! < remaining[genre]!)) genre = g;
    }
    if (genre < 0) break;
    done[genre] = 1;
    const pending = groupsOf[genre]!.filter((group) => assigned[group] === -1);
    // Rare genres: one group to each split before the proportions take over.
    const cover = groupsOf[genre]!.length >= openSplits;
    for (const group of pending) {
      const split = best(
        (s) => (cover && has[s]![genre] === 0 ? 1 : 0),
        (s) => wantGenre[s]![genre]!,
        (s) => wantRows[s]!,
      );
      assign(group, split);
    }
  }
  for (let group = 0; group < groups.length; group++) {
    if (assigned[group] === -1) assign(group, best((s) => wantRows[s]!));
  }

  const out: [number[], number[], number[]] = [[], [], []];
  groups.forEach((members, group) => out[assigned[group]!]!.push(...members));
  for (const list of out) list.sort((a, b) => a - b);
  return { train: out[0], validation: out[1], test: out[2], duplicates: rows - groups.length, groups: groups.length };
}
