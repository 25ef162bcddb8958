/**
 * Poster data sets: a table (CSV or JSON Lines, read by `readTable`) naming
 * each poster, and the folders the posters live in. `readPosterList` reads
 * the posters a table names (embed, predict with --data); `readDataset` also
 * reads their genres (train, evaluate, audit). Both resolve columns and find
 * images the same way, so a poster one command finds, every command finds.
 *
 * Columns, when not given (names compared in any case):
 * - id: id / imdb_id / imdbId; else the image path when there is a path
 *   column; else (CSV) column 0.
 * - image path: image / path; when a row's path is empty, `<id><ext>` is
 *   looked up instead (extension in any case, folders in order).
 *
 * How the genres are found (first match wins):
 * 1. `genresColumn` given: a list in that column.
 * 2. Two or more columns holding only 0/1 (other than the id and path
 *    columns): one-hot, the genre names are those headers. A list column beside
 *    them (like `Genre` in the reference posters' labels.csv) is then ignored.
 * 3. A column named genres / genre: a list.
 * Otherwise the file is refused with the columns it has.
 *
 * A list cell may be Python-style "['Action', 'Drama']", JSON '["Action"]' (or
 * a JSON Lines array), or separated by "|", ";" or "," ("Action|Drama",
 * "Action,Drama" quoted).
 */
import { stat } from 'node:fs/promises';
import { PosterscopeError, excerpt, invalidParameterError } from '../errors.js';
import { ID_EXTENSIONS, ImageFolders } from './files.js';
import { type RowText, type TextColumnOptions, type TextReport, formatTextReport, readRowText } from './metadata.js';
import { COLUMN_NAMES, type ColumnSpec, type Table, cellText, findColumn, readTable, resolveColumn } from './table.js';
import { printable } from '../printable.js';

export interface PosterListOptions extends TextColumnOptions {
  /** CSV or JSON Lines (.jsonl/.ndjson) file. */
  data: string;
  /** Folders searched, in order, for each row's image. */
  images: string[];
  /**
   * Column holding the poster id (name or 0-based index; a JSON Lines key).
   * Default: a column named id/Id/ID/imdb_id/imdbId; else the image path, when
   * there is a path column; else (CSV) column 0.
   */
  idColumn?: ColumnSpec;
  /** Column holding an image path (relative to the images folders, or absolute). Default: a column named image/path, if any. */
  pathColumn?: ColumnSpec;
  /** Extensions tried, in any case, for `<id><ext>`. Default ['.jpg', '.jpeg', '.png', '.webp']. */
  extensions?: string[];
  /** Malformed rows are fatal instead of reported. Default false. */
  strict?: boolean;
}

export interface DatasetOptions extends PosterListOptions {
  /**
   * Column holding genres as a list ("['A', 'B']" Python-style, '["A"]' JSON-style,
   * "A|B", "A,B", "A; B"). Default: auto, see the module comment.
   */
  genresColumn?: ColumnSpec;
  /** Drop genres with fewer than this many posters. Default 1, or 0 when `genres` is given. */
  minCount?: number;
  /** Fix the vocabulary (and its order); rows' other genres are dropped. Names not in the file are an error. */
  genres?: string[];
}

export interface PosterRow {
  /** 1-based line the row starts on. */
  line: number;
  id: string;
  /** Path of the poster, null when no file was found. */
  image: string | null;
  /** The movie's title and plot, where the table or the metadata table has them. */
  title?: string;
  plot?: string;
}

export interface DatasetRow extends PosterRow {
  /** In vocabulary order. */
  genres: string[];
}

export interface GenreCount {
  genre: string;
  count: number;
}

export interface PosterListReport {
  file: string;
  /** Well-formed rows. */
  rows: number;
  imagesFound: number;
  imagesMissing: number;
  /** Up to 5, like 'tt0000001 (line 7)'. */
  missingExamples: string[];
  /** Rows skipped, with their 1-based line number. */
  malformed: Array<{ line: number; reason: string }>;
  /** Rows whose id was already seen (they are kept; the split groups them). */
  duplicateIds: number;
  /** Titles and plots found (absent when the table has no text columns and no metadata was given). */
  text?: TextReport;
}

export interface DatasetReport extends PosterListReport {
  /** How the genres were read: one-hot columns, list cells, or a JSON Lines file. */
  format: 'one-hot' | 'list' | 'jsonl';
  /** Vocabulary genres, most frequent first. */
  genreCounts: GenreCount[];
  /** Genres below `minCount` or outside the fixed `genres`, most frequent first. */
  droppedGenres: GenreCount[];
  /** Rows left with no genre of the vocabulary. */
  rowsWithoutGenres: number;
}

export interface PosterList {
  /** Every well-formed row (image null when not found). */
  rows: PosterRow[];
  report: PosterListReport;
}

export interface Dataset {
  /** Vocabulary after `minCount` / `genres` filtering: sorted by name unless `genres` was given. */
  genres: string[];
  /** Every well-formed row (image null when not found). */
  rows: DatasetRow[];
  /** Row-major 0/1 matrix [rows x genres] for `rows` (default: all rows). */
  labels(rows?: DatasetRow[]): Uint8Array;
  report: DatasetReport;
}

const BINARY = /^[01](\.0+)?$/;
const MISSING_EXAMPLES = 5;

function dataError(message: string, file: string, cause?: unknown): PosterscopeError {
  return new PosterscopeError('DATA_INVALID', message, { subject: file, cause });
}

// ---------------------------------------------------------------- genre lists

function stripQuotes(name: string): string {
  const s = name.trim();
  if (s.length >= 2 && (s[0] === '"' || s[0] === "'") && s[s.length - 1] === s[0]) return s.slice(1, -1).trim();
  return s;
}

/** The items of "[...]" (brackets removed), Python or JSON quoting; null when unparsable. */
function parseBracketItems(inner: string): string[] | null {
  const items: string[] = [];
  const n = inner.length;
  let i = 0;
  const skipSpace = () => {
    while (i < n && /\s/.test(inner[i]!)) i++;
  };
  skipSpace();
  while (i < n) {
    const ch = inner[i]!;
    if (ch === '"' || ch === "'") {
      let item = '';
      for (i++; i < n && inner[i] !== ch; i++) {
        if (inner[i] === '\\' && i + 1 < n) i++;
        item += inner[i];
      }
      if (i >= n) return null; // unterminated quote
      i++;
      items.push(item);
    } else {
      const start = i;
      while (i < n && inner[i] !== ',') {
        if ('"\'[]'.includes(inner[i]!)) return null;
        i++;
      }
      items.push(inner.slice(start, i));
    }
    skipSpace();
    if (i < n && inner[i] !== ',') return null; // text after a quoted item
    i++;
    skipSpace();
  }
  return items;
}

/**
 * Genre names from one list cell, trimmed, unquoted, de-duplicated; null when
 * the cell looks like a list but cannot be read.
 *
 * @example
 *   parseGenreList("['Adventure', 'Drama']") // -> ['Adventure', 'Drama']
 *   parseGenreList('Action|Sci-Fi')           // -> ['Action', 'Sci-Fi']
 *   parseGenreList("['Drama'")                // -> null
 */
export function parseGenreList(cell: string): string[] | null {
  const text = cell.trim();
  let items: string[] | null;
  if (text.startsWith('[')) {
    if (!text.endsWith(']')) return null;
    try {
      const json: unknown = JSON.parse(text);
      items = Array.isArray(json) && json.every((x) => typeof x === 'string') ? (json as string[]) : null;
    } catch {
      items = parseBracketItems(text.slice(1, -1));
    }
    if (items === null) return null;
  } else {
    const separator = text.includes('|') ? '|' : text.includes(';') ? ';' : ',';
    items = text.split(separator);
  }
  const names = items.map(stripQuotes).filter((name) => name !== '');
  return [...new Set(names)];
}

// ---------------------------------------------------------------- rows

/** A well-formed row's key: its id and, when the table has one, its image path. */
interface KeyedRow {
  line: number;
  id: string;
  path: string | null;
  cells: readonly unknown[];
}

interface KeyedTable {
  table: Table;
  idIndex: number;
  pathIndex: number;
  rows: KeyedRow[];
  malformed: Array<{ line: number; reason: string }>;
}

/** The id and path columns (given, else by name), and each row's id and path. */
function keyRows(table: Table, options: PosterListOptions): KeyedTable {
  const given = (option: 'idColumn' | 'pathColumn') => (options[option] === undefined ? undefined : resolveColumn(table, option, options[option]));
  let idIndex = given('idColumn') ?? findColumn(table, COLUMN_NAMES.id);
  const pathIndex = given('pathColumn') ?? findColumn(table, COLUMN_NAMES.path, [idIndex]);
  // No id column: a CSV's first column, unless the rows name their images (then the path is the id, as in JSON Lines).
  if (idIndex < 0 && pathIndex < 0 && table.format === 'csv') idIndex = 0;
  const malformed: KeyedTable['malformed'] = table.malformed.map(({ line, reason }) => ({ line, reason }));
  const rows: KeyedRow[] = [];
  const column = (index: number) => `column "${excerpt(table.columns[index]!)}"`;
  for (const row of table.rows) {
    const id = idIndex >= 0 ? cellText(row, idIndex) : '';
    const path = pathIndex >= 0 ? cellText(row, pathIndex) : '';
    if (id === undefined) malformed.push({ line: row.line, reason: `the id (${column(idIndex)}) must be text or a number` });
    else if (path === undefined) malformed.push({ line: row.line, reason: `the image path (${column(pathIndex)}) must be text` });
    else if (id === '' && path === '') {
      const named = [idIndex, pathIndex].filter((c) => c >= 0).map((c) => `"${excerpt(table.columns[c]!)}"`);
      const what = idIndex < 0 ? 'empty image path' : pathIndex < 0 ? 'empty id' : 'empty id and image path';
      malformed.push({ line: row.line, reason: named.length === 0 ? 'has neither an id nor an image path' : `${what} (column${named.length > 1 ? 's' : ''} ${named.join(', ')})` });
    } else rows.push({ line: row.line, id: id || path, path: path || null, cells: row.cells });
  }
  return { table, idIndex, pathIndex, rows, malformed };
}

function checkPosterListOptions(options: PosterListOptions): string[] {
  if (typeof options !== 'object' || options === null) throw invalidParameterError('options', 'object', options);
  if (typeof options.data !== 'string' || options.data === '') throw invalidParameterError('data', 'path of a CSV or JSON Lines file', options.data);
  if (!Array.isArray(options.images) || !options.images.every((f) => typeof f === 'string' && f !== '')) {
    throw invalidParameterError('images', 'array of folder paths', options.images);
  }
  if (options.strict !== undefined && typeof options.strict !== 'boolean') throw invalidParameterError('strict', 'boolean', options.strict);
  if (options.extensions === undefined) return [...ID_EXTENSIONS];
  const valid = (e: unknown) => typeof e === 'string' && e.replace(/^\./, '') !== '';
  if (!Array.isArray(options.extensions) || options.extensions.length === 0 || !options.extensions.every(valid)) {
    throw invalidParameterError('extensions', 'non-empty array of extensions like ".jpg"', options.extensions);
  }
  return options.extensions;
}

async function checkFolders(folders: string[]): Promise<void> {
  for (const folder of folders) {
    const info = await stat(folder).catch(() => null);
    if (!info?.isDirectory()) throw invalidParameterError('images', 'an existing folder', folder);
  }
}

/** Reads the table, keys its rows, and refuses it when no row is usable (or, strict, any is malformed). */
async function openTable(options: PosterListOptions) {
  const extensions = checkPosterListOptions(options);
  const table = await readTable(options.data);
  await checkFolders(options.images);
  return { keyed: keyRows(table, options), extensions };
}

function refuseBadRows(options: PosterListOptions, malformed: Array<{ line: number; reason: string }>, usable: number): void {
  const first = malformed[0];
  if (first && (options.strict || usable === 0)) {
    const more = options.strict ? '' : ` (no well-formed rows; ${malformed.length} malformed)`;
    throw dataError(`${options.data} line ${first.line}: ${first.reason}${more}`, options.data);
  }
}

/** Finds each row's image and counts what the two readers report alike. */
async function locate(rows: readonly KeyedRow[], options: PosterListOptions, extensions: string[], malformed: PosterListReport['malformed']) {
  const folders = new ImageFolders(options.images, extensions);
  const images = await Promise.all(rows.map((row) => folders.find(row)));
  const seen = new Set<string>();
  let duplicateIds = 0;
  const missingExamples: string[] = [];
  rows.forEach((row, i) => {
    if (seen.has(row.id)) duplicateIds++;
    seen.add(row.id);
    if (images[i] === null && missingExamples.length < MISSING_EXAMPLES) missingExamples.push(`${excerpt(row.path ?? row.id)} (line ${row.line})`);
  });
  const imagesFound = images.filter((p) => p !== null).length;
  const report: PosterListReport = {
    file: options.data,
    rows: rows.length,
    imagesFound,
    imagesMissing: rows.length - imagesFound,
    missingExamples,
    malformed: [...malformed].sort((a, b) => a.line - b.line),
    duplicateIds,
  };
  return { images, report };
}

/**
 * Reads the posters a table names, without genres: ids (or paths) and their
 * files, found exactly as `readDataset` finds them.
 *
 * @example
 *   // ids.csv: title,imdbId  /  Alien,tt0000001   (posters/tt0000001.JPG exists)
 *   const list = await readPosterList({ data: 'ids.csv', images: ['posters/'] });
 *   list.rows;   // -> [{ line: 2, id: 'tt0000001', image: 'posters/tt0000001.JPG' }]
 */
export async function readPosterList(options: PosterListOptions): Promise<PosterList> {
  const { keyed, extensions } = await openTable(options);
  refuseBadRows(options, keyed.malformed, keyed.rows.length);
  const { images, report } = await locate(keyed.rows, options, extensions, keyed.malformed);
  const text = await readRowText(keyed.table, keyed.rows, [keyed.idIndex, keyed.pathIndex], options);
  return {
    rows: keyed.rows.map((row, i) => ({ line: row.line, id: row.id, image: images[i]!, ...text.texts[i] })),
    report: { ...report, ...(text.report ? { text: text.report } : {}) },
  };
}

// ---------------------------------------------------------------- genres

/** Genre names from a list cell (text or a JSON Lines array); null when unreadable. */
function genresOf(value: unknown): string[] | null {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return parseGenreList(value);
  if (Array.isArray(value) && value.every((g) => typeof g === 'string')) return [...new Set(value.map(stripQuotes).filter((g) => g !== ''))];
  return null;
}

const shown = (value: unknown) => excerpt(typeof value === 'string' ? value : JSON.stringify(value) ?? String(value));

/** How the genres are stored (see the module comment) and each keyed row's genres. */
function readGenres(keyed: KeyedTable, options: DatasetOptions) {
  const { table, idIndex, pathIndex } = keyed;
  const { columns } = table;
  const malformed: Array<{ line: number; reason: string }> = [];
  let listIndex = -1;
  let oneHot: number[] = [];
  if (options.genresColumn !== undefined) listIndex = resolveColumn(table, 'genresColumn', options.genresColumn);
  else {
    // A stray typo must not hide a one-hot column: allow 1% (at least one) non-0/1 cells.
    const tolerance = Math.max(1, Math.floor(keyed.rows.length / 100));
    for (let c = 0; c < columns.length; c++) {
      if (c === idIndex || c === pathIndex) continue;
      let odd = 0;
      for (const row of keyed.rows) if (!BINARY.test(String(row.cells[c] ?? '').trim()) && ++odd > tolerance) break;
      if (odd <= tolerance && odd < keyed.rows.length) oneHot.push(c);
    }
    if (oneHot.length < 2) {
      oneHot = [];
      listIndex = findColumn(table, COLUMN_NAMES.genres, [idIndex, pathIndex]);
      if (listIndex < 0) {
        throw dataError(`${table.file}: cannot find the genres: give --genres-column (columns: ${columns.join(', ')})`, table.file);
      }
    }
  }
  const format: DatasetReport['format'] = table.format === 'jsonl' ? 'jsonl' : oneHot.length > 0 ? 'one-hot' : 'list';
  const oneHotNames = oneHot.map((c) => stripQuotes(columns[c]!));
  const rows: Array<KeyedRow & { genres: string[] }> = [];
  for (const row of keyed.rows) {
    let genres: string[] = [];
    let reason: string | null = null;
    if (oneHot.length > 0) {
      oneHot.forEach((c, k) => {
        const value = String(row.cells[c] ?? '').trim();
        if (!BINARY.test(value)) reason ??= `column "${excerpt(columns[c]!)}" holds "${excerpt(value)}", expected 0 or 1`;
        else if (value[0] === '1') genres.push(oneHotNames[k]!);
      });
    } else {
      const list = genresOf(row.cells[listIndex]);
      if (list === null) reason = `cannot read the genre list ${shown(row.cells[listIndex])} (column "${excerpt(columns[listIndex]!)}")`;
      else genres = list;
    }
    if (reason !== null) malformed.push({ line: row.line, reason });
    else rows.push({ ...row, genres: [...new Set(genres)] });
  }
  return { format, rows, malformed, columns: listIndex >= 0 ? [listIndex] : oneHot };
}

function checkGenreOptions(options: DatasetOptions): { minCount: number; fixed: string[] | undefined } {
  let fixed: string[] | undefined;
  if (options.genres !== undefined) {
    const names = Array.isArray(options.genres) ? options.genres.map((g) => (typeof g === 'string' ? g.trim() : '')) : [];
    if (names.length === 0 || names.includes('') || new Set(names).size !== names.length) {
      throw invalidParameterError('genres', 'non-empty array of distinct genre names', options.genres);
    }
    fixed = names;
  }
  const minCount = options.minCount ?? (fixed ? 0 : 1);
  if (!Number.isInteger(minCount) || minCount < 0) throw invalidParameterError('minCount', 'non-negative integer', options.minCount);
  return { minCount, fixed };
}

const byCount = (a: GenreCount, b: GenreCount) => b.count - a.count || (a.genre < b.genre ? -1 : a.genre > b.genre ? 1 : 0);

/**
 * Reads a labelled data set and finds each row's poster.
 *
 * @example
 *   const ds = await readDataset({ data: 'labels.csv', images: ['posters/'] });
 *   ds.report.rows;          // -> 5988
 *   ds.genres.slice(0, 3);   // -> ['Action', 'Adventure', 'Animation']
 *   ds.rows[0];              // -> { line: 2, id: 'tt0151137', image: 'posters/tt0151137.jpg', genres: ['Adventure', 'Biography', 'Drama'] }
 *   ds.labels().length;      // -> 5988 * 25
 *
 *   // id in column 0, a list of genres in column 3, posters in two folders:
 *   await readDataset({ data: 'movies.csv', idColumn: 0, genresColumn: 3, images: ['a/', 'b/'] });
 */
export async function readDataset(options: DatasetOptions): Promise<Dataset> {
  if (typeof options !== 'object' || options === null) throw invalidParameterError('options', 'object', options);
  const { minCount, fixed } = checkGenreOptions(options);
  const { keyed, extensions } = await openTable(options);
  const parsed = readGenres(keyed, options);
  const malformed = [...keyed.malformed, ...parsed.malformed].sort((a, b) => a.line - b.line);
  refuseBadRows(options, malformed, parsed.rows.length);
  const file = options.data;

  // Vocabulary.
  const counts = new Map<string, number>();
  for (const row of parsed.rows) for (const g of row.genres) counts.set(g, (counts.get(g) ?? 0) + 1);
  const found = [...counts.keys()].sort();
  if (fixed) {
    const unknown = fixed.find((g) => !counts.has(g));
    if (unknown !== undefined) throw invalidParameterError('genres', `genres found in ${file} (${found.join(', ')})`, unknown);
  }
  const genres = (fixed ?? found).filter((g) => (counts.get(g) ?? 0) >= minCount);
  const vocabulary = new Map(genres.map((g, i) => [g, i]));
  const droppedGenres = found.filter((g) => !vocabulary.has(g)).map((genre) => ({ genre, count: counts.get(genre)! }));

  const { images, report: base } = await locate(parsed.rows, options, extensions, malformed);
  const text = await readRowText(keyed.table, parsed.rows, [keyed.idIndex, keyed.pathIndex, ...parsed.columns], options);
  let rowsWithoutGenres = 0;
  const rows: DatasetRow[] = parsed.rows.map((raw, i) => {
    const kept = raw.genres.filter((g) => vocabulary.has(g)).sort((a, b) => vocabulary.get(a)! - vocabulary.get(b)!);
    if (kept.length === 0) rowsWithoutGenres++;
    return { line: raw.line, id: raw.id, image: images[i]!, ...(text.texts[i] as RowText), genres: kept };
  });
  const report: DatasetReport = {
    ...base,
    ...(text.report ? { text: text.report } : {}),
    format: parsed.format,
    genreCounts: genres.map((genre) => ({ genre, count: counts.get(genre) ?? 0 })).sort(byCount),
    droppedGenres: droppedGenres.sort(byCount),
    rowsWithoutGenres,
  };
  return {
    genres,
    rows,
    report,
    labels(subset: DatasetRow[] = rows): Uint8Array {
      const matrix = new Uint8Array(subset.length * genres.length);
      subset.forEach((row, r) => {
        for (const g of row.genres) {
          const c = vocabulary.get(g);
          if (c !== undefined) matrix[r * genres.length + c] = 1;
        }
      });
      return matrix;
    },
  };
}

// ---------------------------------------------------------------- report

/** How each genre storage is named in reports. */
export const DATASET_FORMATS = { 'one-hot': 'one-hot genre columns', list: 'genre lists', jsonl: 'JSON Lines' } as const satisfies Record<DatasetReport['format'], string>;

const num = (n: number) => n.toLocaleString('en-US');

function columns(cells: string[], perRow: number, indent: string): string[] {
  const rowsNeeded = Math.ceil(cells.length / perRow);
  const width = Math.max(...cells.map((c) => c.length));
  const lines: string[] = [];
  for (let r = 0; r < rowsNeeded; r++) {
    const parts: string[] = [];
    for (let c = 0; c < perRow; c++) {
      const cell = cells[c * rowsNeeded + r]; // column-major: read down, then across
      if (cell !== undefined) parts.push(cell.padEnd(width));
    }
    lines.push(indent + parts.join('   ').trimEnd());
  }
  return lines;
}

function genreCells(list: GenreCount[]): string[] {
  const nameWidth = Math.max(...list.map((g) => g.genre.length));
  const countWidth = Math.max(...list.map((g) => num(g.count).length));
  return list.map((g) => `${g.genre.padEnd(nameWidth)} ${num(g.count).padStart(countWidth)}`);
}

/**
 * The report as text for a terminal.
 *
 * @example
 *   formatDatasetReport(ds.report)
 *   // -> 'labels.csv: 5,988 rows (one-hot genre columns)\n' +
 *   //    'images: 5,988 found, 0 missing\n' +
 *   //    'genres (25, most frequent first):\n' +
 *   //    '  Drama       2,998   Sci-Fi        316\n' + ...
 */
export function formatDatasetReport(report: DatasetReport): string {
  const out = [`${report.file}: ${num(report.rows)} rows (${DATASET_FORMATS[report.format]})`];
  if (report.imagesFound === 0 && report.text) out.push('images: none (text only)');
  else out.push(`images: ${num(report.imagesFound)} found, ${num(report.imagesMissing)} missing`);
  if (report.imagesMissing > 0 && !(report.imagesFound === 0 && report.text)) {
    const more = report.imagesMissing > report.missingExamples.length ? ', …' : '';
    out.push(`  not found: ${report.missingExamples.join(', ')}${more}`);
  }
  if (report.malformed.length > 0) {
    out.push(`malformed rows skipped: ${num(report.malformed.length)}`);
    for (const m of report.malformed.slice(0, 10)) out.push(`  line ${m.line}: ${m.reason}`);
    if (report.malformed.length > 10) out.push(`  … and ${num(report.malformed.length - 10)} more`);
  }
  if (report.text) out.push(formatTextReport(report.text));
  if (report.duplicateIds > 0) out.push(`duplicate ids: ${num(report.duplicateIds)} rows (kept together when splitting)`);
  if (report.rowsWithoutGenres > 0) out.push(`rows without genres: ${num(report.rowsWithoutGenres)}`);
  out.push(`genres (${report.genreCounts.length}, most frequent first):`);
  if (report.genreCounts.length > 0) out.push(...columns(genreCells(report.genreCounts), 3, '  '));
  if (report.droppedGenres.length > 0) {
    out.push(`dropped genres (${report.droppedGenres.length}): ${report.droppedGenres.map((g) => `${g.genre} (${num(g.count)})`).join(', ')}`);
  }
  // File names and CSV fields may hold newlines or terminal escapes.
  return out.map(printable).join('\n');
}
