/**
 * A labelled data set checked before anyone trains on it: every poster is
 * decoded and hashed, then the rows, files, hashes and (optionally) a
 * train / validation / test split are cross-checked.
 *
 * Findings, each a condition `--fail-on` can name:
 * - malformed: rows the data file could not read.
 * - unreadable: posters that do not decode (truncated, not an image, empty...).
 * - missing: labelled rows with no image; unlabelled: image files whose id no row names.
 * - duplicates: ids on several rows, and different files with identical bytes.
 * - conflicts: those duplicates whose genres disagree.
 * - near-duplicates: different files whose perceptual hashes are at most `nearDistance` bits apart.
 * - leakage: one id, identical images or near-duplicates in different splits.
 * - tiny: posters whose shorter side is under `minSide` pixels.
 * - rare: genres on fewer than `rare` posters.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import pMap from 'p-map';
import sharp from 'sharp';
import { type ErrorCode, PosterscopeError, checkInteger, excerpt, invalidParameterError } from '../errors.js';
import { type DecodeOptions, decodePoster } from '../image/poster.js';
import { printable } from '../printable.js';
import { type Progress, silentProgress } from '../progress.js';
import { type TextReport, formatTextReport } from './metadata.js';
import { DATASET_FORMATS, type DatasetOptions, type DatasetReport, type GenreCount, readDataset } from './dataset.js';
import { walkImageFiles } from './files.js';
import { nearPairs, perceptualHash } from './phash.js';
import { COLUMN_NAMES, cellText, findColumn, parseTable } from './table.js';

export const AUDIT_CONDITIONS = [
  'malformed',
  'unreadable',
  'missing',
  'unlabelled',
  'duplicates',
  'conflicts',
  'near-duplicates',
  'leakage',
  'tiny',
  'rare',
] as const;

export type AuditCondition = (typeof AUDIT_CONDITIONS)[number];

/** One id's place in a split. `hash` is the poster's sha256 when the split was made, if known. */
export interface SplitMember {
  id: string;
  split: string;
  hash?: string;
}

export interface AuditOptions extends Pick<DatasetOptions, 'data' | 'images' | 'idColumn' | 'genresColumn' | 'pathColumn' | 'extensions' | 'strict' | 'titleColumn' | 'plotColumn' | 'metadata'> {
  /**
   * A split to check for leakage: a file (a posterscope bundle's `split.json` or
   * its folder, a JSON object `{ id: split }`, a JSON object of id lists, or a CSV
   * with id and split columns) or the members themselves. Default: none.
   */
  splits?: string | SplitMember[];
  /** Largest perceptual-hash distance (bits of 64) counted as a near-duplicate. Default 4. */
  nearDistance?: number;
  /** Posters whose shorter side is below this many pixels are tiny. Default 64. */
  minSide?: number;
  /** Genres on fewer posters than this are rare. Default 10. */
  rare?: number;
  /** Posters decoded at once. Default 4. */
  concurrency?: number;
  /** One tick per poster. Default: silent. */
  progress?: Progress;
  /** Limits on the poster files (pixels, bytes); default DEFAULT_DECODE_OPTIONS. */
  decode?: DecodeOptions;
}

export interface GenrePair {
  genres: [string, string];
  count: number;
  /** count / expected count if the two genres were independent. */
  lift: number;
}

export interface Leak {
  kind: 'id' | 'identical' | 'near-duplicate';
  ids: string[];
  splits: string[];
  /** Perceptual-hash distance, for near-duplicates. */
  distance?: number;
}

export interface AuditReport {
  data: string;
  format: DatasetReport['format'];
  images: string[];
  settings: { nearDistance: number; minSide: number; rare: number };
  rows: number;
  /** Distinct files, labelled or not, that decoded. */
  checked: number;
  malformed: Array<{ line: number; reason: string }>;
  unreadable: Array<{ id: string; file: string; code: ErrorCode; reason: string }>;
  missing: Array<{ id: string; line: number }>;
  /** Image files in the folders that no row uses and whose name is no row's id (also decoded and hashed, under that name). */
  unlabelled: string[];
  duplicateIds: Array<{ id: string; lines: number[]; conflicting: boolean }>;
  /** Different files with the same bytes (sha256). */
  identical: Array<{ hash: string; ids: string[]; files: string[]; conflicting: boolean }>;
  nearDuplicates: Array<{ ids: [string, string]; files: [string, string]; distance: number; conflicting: boolean }>;
  tiny: Array<{ id: string; file: string; width: number; height: number }>;
  /** Most frequent first. */
  genres: GenreCount[];
  rare: GenreCount[];
  rowsWithoutGenres: number;
  /** Titles and plots found (text columns or --metadata), when there are any. */
  text?: TextReport;
  /** Genre pairs seen together, most frequent first. */
  cooccurrence: GenrePair[];
  splits: null | {
    source: string;
    /** Ids per split, in the order the file gives them. */
    sizes: Record<string, number>;
    /** Data rows whose id is in no split. */
    unassigned: number;
    /** Split ids that are not in the data. */
    unknown: number;
    /** Ids whose poster bytes differ from the hash the split recorded. */
    changed: number;
  };
  leakage: Leak[];
  /** Number of findings per condition. */
  findings: Record<AuditCondition, number>;
  seconds: number;
}

interface PosterFile {
  file: string;
  ids: string[];
  genreKeys: Set<string>;
  sha256?: string;
  phash?: string;
}

function splitError(file: string, why: string, cause?: unknown): PosterscopeError {
  return new PosterscopeError('DATA_INVALID', `${file}: ${why}`, { subject: file, cause });
}

const SPLIT_FORMATS = 'a posterscope split.json ({"train": [{"id", "hash"}], ...}), a JSON object {"<id>": "<split>"}, or a CSV with id and split columns';

/**
 * Reads a split file: a posterscope bundle's `split.json` (or the bundle
 * folder), a JSON object of id lists or of id → split, or a CSV with an id
 * column (id / imdb_id / column 0) and a split column (split / set / column 1).
 *
 * @example
 *   await readSplits('models/default/split.json')
 *   // -> [{ id: 'tt0151137', split: 'train', hash: '4dda6847…2f15' }, ...]  (5,988 members)
 */
export async function readSplits(path: string): Promise<SplitMember[]> {
  if (typeof path !== 'string' || path === '') throw invalidParameterError('splits', 'path of a split file', path);
  let file = path;
  let text: string;
  try {
    if ((await stat(file)).isDirectory()) file = join(file, 'split.json');
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw splitError(file, code === 'ENOENT' ? 'no such file' : (error as Error).message, error);
  }
  const members: SplitMember[] = [];
  if (/^\s*[{[]/.test(text)) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw splitError(file, `not valid JSON (${(error as Error).message})`, error);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw splitError(file, `expected ${SPLIT_FORMATS}`);
    // Lists of ids per split, or else an { id: split } map (a bundle's "data" string is not a member).
    const lists = Object.values(json).some(Array.isArray);
    for (const [key, value] of Object.entries(json)) {
      if (typeof value === 'string' && !lists) members.push({ id: key, split: value });
      else if (Array.isArray(value)) {
        for (const item of value) {
          if (typeof item === 'string') members.push({ id: item, split: key });
          else if (typeof item === 'object' && item !== null && typeof (item as SplitMember).id === 'string') {
            const { id, hash } = item as SplitMember;
            members.push({ id, split: key, ...(typeof hash === 'string' ? { hash } : {}) });
          }
          // Other arrays (a bundle's "fractions") are not splits.
        }
      }
    }
  } else {
    const table = parseTable(text, file, 'csv');
    if (table.columns.length < 2) throw splitError(file, `expected ${SPLIT_FORMATS}`);
    const idColumn = Math.max(0, findColumn(table, COLUMN_NAMES.id));
    let splitColumn = findColumn(table, COLUMN_NAMES.split, [idColumn]);
    if (splitColumn < 0) splitColumn = idColumn === 0 ? 1 : 0;
    for (const row of table.rows) {
      const id = cellText(row, idColumn);
      const split = cellText(row, splitColumn);
      if (id && split) members.push({ id, split });
    }
  }
  if (members.length === 0) throw splitError(file, `no split members found; expected ${SPLIT_FORMATS}`);
  return members;
}

const genreKey = (genres: readonly string[]) => [...genres].sort().join('|');
const stem = (file: string) => basename(file, extname(file));

/**
 * Audits a labelled data set (and optionally its split) before training.
 *
 * @example
 *   const report = await auditDataset({ data: 'labels.csv', images: ['posters/'], splits: 'models/default/split.json' });
 *   report.rows;                   // -> 5988
 *   report.findings;
 *   // -> { malformed: 0, unreadable: 0, missing: 0, unlabelled: 0, duplicates: 0, conflicts: 0,
 *   //      'near-duplicates': 0, leakage: 0, tiny: 0, rare: 2 }
 *   report.rare;                   // -> [{ genre: 'Reality-TV', count: 1 }, { genre: 'N/A', count: 6 }]
 *   report.cooccurrence[0];        // -> { genres: ['Comedy', 'Drama'], count: 878, lift: 0.72 }
 */
export async function auditDataset(options: AuditOptions): Promise<AuditReport> {
  const started = performance.now();
  if (typeof options !== 'object' || options === null) throw invalidParameterError('options', 'object', options);
  const nearDistance = checkInteger('nearDistance', options.nearDistance ?? 4, 0, 64);
  const minSide = checkInteger('minSide', options.minSide ?? 64, 0, 1_000_000);
  const rare = checkInteger('rare', options.rare ?? 10, 0, Number.MAX_SAFE_INTEGER);
  const concurrency = checkInteger('concurrency', options.concurrency ?? 4, 1, 256);
  const progress = options.progress ?? silentProgress;
  const splitsOption = options.splits;
  if (splitsOption !== undefined && typeof splitsOption !== 'string' && !Array.isArray(splitsOption)) {
    throw invalidParameterError('splits', 'split file path or array of { id, split }', splitsOption);
  }
  // Read the split first: a bad split file should fail before minutes of decoding.
  const members = typeof splitsOption === 'string' ? await readSplits(splitsOption) : splitsOption;
  const { data, images, idColumn, genresColumn, pathColumn, extensions, strict, titleColumn, plotColumn, metadata } = options;
  const dataset = await readDataset({ data, images, idColumn, genresColumn, pathColumn, extensions, strict, titleColumn, plotColumn, metadata });
  const { rows } = dataset;

  // Rows by id, and the distinct poster files they use.
  const linesById = new Map<string, number[]>();
  const genresById = new Map<string, Set<string>>();
  const files = new Map<string, PosterFile>();
  for (const row of rows) {
    linesById.set(row.id, [...(linesById.get(row.id) ?? []), row.line]);
    const keys = genresById.get(row.id) ?? new Set<string>();
    keys.add(genreKey(row.genres));
    genresById.set(row.id, keys);
    if (row.image === null) continue;
    const file = files.get(row.image) ?? { file: row.image, ids: [], genreKeys: new Set<string>() };
    if (!file.ids.includes(row.id)) file.ids.push(row.id);
    file.genreKeys.add(genreKey(row.genres));
    files.set(row.image, file);
  }
  const missing = rows.filter((r) => r.image === null).map((r) => ({ id: r.id, line: r.line }));
  const duplicateIds = [...linesById]
    .filter(([, lines]) => lines.length > 1)
    .map(([id, lines]) => ({ id, lines, conflicting: genresById.get(id)!.size > 1 }));

  // Image files nobody labelled.
  const used = new Set([...files.keys()].map((f) => resolve(f)));
  const found: string[] = [];
  for (const dir of options.images) found.push(...(await walkImageFiles(dir)));
  const unlabelled = found.filter((f) => !used.has(resolve(f)) && !linesById.has(stem(f))).sort();

  // Decode and hash every poster.
  // Unlabelled files are hashed too: a copy of a labelled poster among them is worth knowing about.
  const posters: PosterFile[] = [...files.values(), ...unlabelled.map((file) => ({ file, ids: [stem(file)], genreKeys: new Set<string>() }))];
  const unreadable: AuditReport['unreadable'] = [];
  const tiny: AuditReport['tiny'] = [];
  progress.start('auditing posters', posters.length);
  await pMap(posters, async (poster) => {
    try {
      const decoded = await decodePoster(poster.file, { ...options.decode, maxSide: 512 });
      poster.sha256 = decoded.contentHash;
      poster.phash = await perceptualHash(decoded);
      let { width, height } = decoded;
      if (Math.min(width, height) < minSide && Math.max(width, height) >= 512) {
        // Shrunk on decode: the file itself may be larger than it looks.
        const meta = await sharp(poster.file).metadata();
        ({ width, height } = meta);
      }
      if (Math.min(width, height) < minSide) tiny.push({ id: poster.ids[0]!, file: poster.file, width, height });
    } catch (error) {
      if (!(error instanceof PosterscopeError)) throw error;
      const prefix = `${printable(poster.file)}: `;
      const reason = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
      unreadable.push({ id: poster.ids[0]!, file: poster.file, code: error.code, reason });
    }
    progress.tick();
  }, { concurrency });
  const hashed = posters.filter((p) => p.sha256 !== undefined);
  progress.done(`audited ${hashed.length} posters (${unreadable.length} unreadable)`);
  const byFile = (a: { file: string }, b: { file: string }) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);
  unreadable.sort(byFile);
  tiny.sort(byFile);

  // Identical bytes.
  const bySha = new Map<string, PosterFile[]>();
  for (const p of hashed) bySha.set(p.sha256!, [...(bySha.get(p.sha256!) ?? []), p]);
  const conflicting = (group: PosterFile[]) => new Set(group.flatMap((p) => [...p.genreKeys])).size > 1;
  const identical = [...bySha]
    .filter(([, group]) => group.length > 1)
    .map(([hash, group]) => ({ hash, ids: group.flatMap((p) => p.ids), files: group.map((p) => p.file), conflicting: conflicting(group) }));

  // Near-duplicates (identical bytes are already reported above).
  const near = nearPairs(hashed.map((p) => p.phash!), nearDistance)
    .map(({ a, b, distance }) => [hashed[a]!, hashed[b]!, distance] as const)
    .filter(([a, b]) => a.sha256 !== b.sha256);
  const nearDuplicates = near
    .map(([a, b, distance]) => ({
      ids: [a.ids[0]!, b.ids[0]!] as [string, string],
      files: [a.file, b.file] as [string, string],
      distance,
      conflicting: conflicting([a, b]),
    }))
    .sort((x, y) => x.distance - y.distance || (x.files[0] < y.files[0] ? -1 : 1));

  // Leakage across splits.
  let splits: AuditReport['splits'] = null;
  const leakage: Leak[] = [];
  if (members) {
    const splitsOf = new Map<string, Set<string>>();
    const sizes: Record<string, number> = {};
    let changed = 0;
    const shaById = new Map<string, string>();
    for (const p of hashed) for (const id of p.ids) shaById.set(id, p.sha256!);
    for (const m of members) {
      splitsOf.set(m.id, (splitsOf.get(m.id) ?? new Set()).add(m.split));
      sizes[m.split] = (sizes[m.split] ?? 0) + 1;
      if (m.hash !== undefined && shaById.has(m.id) && shaById.get(m.id) !== m.hash) changed++;
    }
    for (const [id, set] of splitsOf) if (set.size > 1) leakage.push({ kind: 'id', ids: [id], splits: [...set] });
    const leak = (kind: Leak['kind'], ids: string[], distance?: number) => {
      const set = new Set(ids.flatMap((id) => [...(splitsOf.get(id) ?? [])]));
      if (set.size > 1) leakage.push({ kind, ids, splits: [...set], ...(distance === undefined ? {} : { distance }) });
    };
    for (const group of identical) leak('identical', group.ids);
    for (const [a, b, distance] of near) leak('near-duplicate', [...a.ids, ...b.ids], distance);
    splits = {
      source: typeof splitsOption === 'string' ? splitsOption : '<members>',
      sizes,
      unassigned: [...linesById.keys()].filter((id) => !splitsOf.has(id)).length,
      unknown: [...splitsOf.keys()].filter((id) => !linesById.has(id)).length,
      changed,
    };
  }

  // Genres: counts, rare ones, co-occurrence with lift.
  const genres = dataset.report.genreCounts;
  const count = new Map(genres.map((g) => [g.genre, g.count]));
  const pairCounts = new Map<string, number>();
  for (const row of rows) {
    for (let i = 0; i < row.genres.length; i++) {
      for (let j = i + 1; j < row.genres.length; j++) {
        const key = [row.genres[i]!, row.genres[j]!].sort().join('\u0000');
        pairCounts.set(key, (pairCounts.get(key) ?? 0) + 1);
      }
    }
  }
  const cooccurrence: GenrePair[] = [...pairCounts]
    .map(([key, n]) => {
      const [a, b] = key.split('\u0000') as [string, string];
      return { genres: [a, b] as [string, string], count: n, lift: Math.round(((n * rows.length) / (count.get(a)! * count.get(b)!)) * 100) / 100 };
    })
    .sort((x, y) => y.count - x.count || y.lift - x.lift);

  const report: AuditReport = {
    data: options.data,
    format: dataset.report.format,
    images: options.images,
    settings: { nearDistance, minSide, rare },
    rows: rows.length,
    checked: hashed.length,
    malformed: dataset.report.malformed,
    unreadable,
    missing,
    unlabelled,
    duplicateIds,
    identical,
    nearDuplicates,
    tiny,
    genres,
    rare: genres.filter((g) => g.count < rare).sort((a, b) => a.count - b.count || (a.genre < b.genre ? -1 : 1)),
    rowsWithoutGenres: dataset.report.rowsWithoutGenres,
    ...(dataset.report.text ? { text: dataset.report.text } : {}),
    cooccurrence,
    splits,
    leakage,
    findings: {} as Record<AuditCondition, number>,
    seconds: 0,
  };
  report.findings = {
    malformed: report.malformed.length,
    unreadable: unreadable.length,
    missing: missing.length,
    unlabelled: unlabelled.length,
    duplicates: duplicateIds.length + identical.length,
    conflicts: [...duplicateIds, ...identical].filter((d) => d.conflicting).length,
    'near-duplicates': nearDuplicates.length,
    leakage: leakage.length,
    tiny: tiny.length,
    rare: report.rare.length,
  };
  report.seconds = Math.round((performance.now() - started) / 100) / 10;
  return report;
}

/**
 * The conditions of `failOn` that have at least one finding.
 *
 * @example
 *   failedConditions(report, ['missing', 'leakage', 'rare']) // -> ['rare'] (on the shared posters)
 */
export function failedConditions(report: AuditReport, failOn: readonly AuditCondition[]): AuditCondition[] {
  for (const c of failOn) if (!AUDIT_CONDITIONS.includes(c)) throw invalidParameterError('failOn', `conditions among ${AUDIT_CONDITIONS.join(', ')}`, c);
  return failOn.filter((c) => report.findings[c] > 0);
}

const num = (n: number) => n.toLocaleString('en-US');
const EXAMPLES = 5;

function more(total: number): string {
  return total > EXAMPLES ? `  … and ${num(total - EXAMPLES)} more (--json lists all)` : '';
}

/**
 * The report as text for a terminal: one line per check, a few examples under
 * each finding.
 *
 * @example
 *   formatAudit(report)
 *   // -> 'labels.csv: 5,988 rows (one-hot genre columns), 5,988 posters decoded in 24.5 s\n' +
 *   //    'ok  malformed rows: 0\n' + 'ok  unreadable images: 0\n' + ... +
 *   //    '!!  rare genres (< 10 posters): 2\n' + '      Reality-TV 1, N/A 6\n' + ...
 */
export function formatAudit(report: AuditReport): string {
  const out = [`${report.data}: ${num(report.rows)} rows (${DATASET_FORMATS[report.format]}), ${num(report.checked)} posters decoded in ${report.seconds.toFixed(1)} s`];
  const check = (condition: AuditCondition, title: string, lines: string[], total: number) => {
    const n = report.findings[condition];
    out.push(`${n > 0 ? '!!' : 'ok'}  ${title}: ${num(n)}`);
    if (n > 0) {
      out.push(...lines.slice(0, EXAMPLES).map((l) => `      ${l}`));
      const tail = more(total);
      if (tail) out.push(`    ${tail}`);
    }
  };
  const { settings: s } = report;
  check('malformed', 'malformed rows', report.malformed.map((m) => `line ${m.line}: ${m.reason}`), report.malformed.length);
  check('unreadable', 'unreadable images', report.unreadable.map((u) => `${u.file}: ${u.reason}`), report.unreadable.length);
  check('missing', 'rows without an image', report.missing.map((m) => `${excerpt(m.id)} (line ${m.line})`), report.missing.length);
  check('unlabelled', 'images without a row', report.unlabelled, report.unlabelled.length);
  const duplicates = [
    ...report.duplicateIds.map((d) => ({ text: `id ${excerpt(d.id)} on lines ${d.lines.join(', ')}`, conflicting: d.conflicting })),
    ...report.identical.map((g) => ({ text: `identical images: ${g.ids.join(', ')}`, conflicting: g.conflicting })),
  ];
  const conflicts = duplicates.filter((d) => d.conflicting).map((d) => d.text);
  check('duplicates', 'duplicate ids and identical images', duplicates.map((d) => d.text + (d.conflicting ? ' (conflicting genres)' : '')), duplicates.length);
  check('conflicts', 'duplicates with conflicting genres', conflicts, conflicts.length);
  check(
    'near-duplicates',
    `near-duplicate images (hash distance ≤ ${s.nearDistance})`,
    report.nearDuplicates.map((p) => `${p.ids[0]} ~ ${p.ids[1]} (distance ${p.distance}${p.conflicting ? ', conflicting genres' : ''})`),
    report.nearDuplicates.length,
  );
  check('tiny', `tiny images (shorter side < ${s.minSide} px)`, report.tiny.map((t) => `${t.file} (${t.width}x${t.height})`), report.tiny.length);
  if (report.splits) {
    const sp = report.splits;
    const sizes = Object.entries(sp.sizes).map(([name, n]) => `${name} ${num(n)}`).join(', ');
    check('leakage', `leakage across splits (${sp.source}: ${sizes})`, report.leakage.map((l) => `${l.kind}: ${l.ids.join(', ')} in ${l.splits.join(' and ')}`), report.leakage.length);
    const notes = [
      sp.unassigned > 0 ? `${num(sp.unassigned)} data ids in no split` : '',
      sp.unknown > 0 ? `${num(sp.unknown)} split ids not in the data` : '',
      sp.changed > 0 ? `${num(sp.changed)} posters changed since the split was made` : '',
    ].filter(Boolean);
    if (notes.length > 0) out.push(`      note: ${notes.join('; ')}`);
  } else out.push('--  leakage across splits: not checked (give --splits FILE)');
  check('rare', `rare genres (< ${s.rare} posters)`, [report.rare.map((g) => `${g.genre} ${num(g.count)}`).join(', ')], 1);
  out.push(`genres (${report.genres.length}, most frequent first): ${report.genres.map((g) => `${g.genre} ${num(g.count)}`).join(', ')}`);
  if (report.rowsWithoutGenres > 0) out.push(`rows without genres: ${num(report.rowsWithoutGenres)}`);
  if (report.text) out.push(formatTextReport(report.text));
  if (report.cooccurrence.length > 0) {
    out.push('genres seen together most often (lift = count / count if independent):');
    out.push(...report.cooccurrence.slice(0, 8).map((p) => `      ${p.genres.join(' + ')}: ${num(p.count)} (lift ${p.lift.toFixed(2)})`));
  }
  // File names and CSV fields may hold newlines or terminal escapes.
  return `${out.map(printable).join('\n')}\n`;
}
