/**
 * A labelled poster data set: a CSV or JSON Lines file naming each poster and
 * its genres, plus the folders the posters live in.
 *
 * How the genres are found (first match wins):
 * 1. `.jsonl` / `.ndjson` file: JSON Lines, one `{ "image": "a/b.jpg", "genres": ["Drama"] }`
 *    per line (`id` instead of `image` means `<id><ext>` in the images folders;
 *    `genres` may also be a list string like the CSV columns).
 * 2. CSV with `genresColumn` given: list format, read from that column.
 * 3. CSV with two or more columns holding only 0/1 (other than the id and path
 *    columns): one-hot, the genre names are those headers. A list column beside
 *    them (like `Genre` in the reference posters' labels.csv) is then ignored.
 * 4. CSV with a column named genre / genres (any case): list format.
 * Otherwise the file is refused with the columns it has.
 *
 * A list cell may be Python-style "['Action', 'Drama']", JSON '["Action"]',
 * or separated by "|", ";" or "," ("Action|Drama", "Action,Drama" quoted).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join } from 'node:path';
import { PosterscopeError, invalidParameterError } from '../errors.js';
import { printable } from '../printable.js';
import { parseCsv } from './csv.js';
import { IMAGE_EXTENSIONS } from './files.js';

export interface DatasetOptions {
  /** CSV or JSON Lines (.jsonl/.ndjson) file. */
  data: string;
  /** Folders searched, in order, for each row's image. */
  images: string[];
  /**
   * Column holding the poster id (name or 0-based index; a JSON Lines key).
   * Default: a column named id/Id/ID/imdb_id/imdbId, else column 0.
   */
  idColumn?: string | number;
  /**
   * Column holding genres as a list ("['A', 'B']" Python-style, '["A"]' JSON-style,
   * "A|B", "A,B", "A; B"). Default: auto, see the module comment.
   */
  genresColumn?: string | number;
  /** Column holding an image path (relative to the images folders, or absolute) instead of id + extension. */
  pathColumn?: string | number;
  /** Extensions tried for `<id><ext>`. Default ['.jpg', '.jpeg', '.png', '.webp']. */
  extensions?: string[];
  /** Drop genres with fewer than this many posters. Default 1, or 0 when `genres` is given. */
  minCount?: number;
  /** Fix the vocabulary (and its order); rows' other genres are dropped. Names not in the file are an error. */
  genres?: string[];
  /** Malformed rows are fatal instead of reported. Default false. */
  strict?: boolean;
}

export interface DatasetRow {
  /** 1-based line the row starts on. */
  line: number;
  id: string;
  /** Path of the poster, null when no file was found. */
  image: string | null;
  /** In vocabulary order. */
  genres: string[];
}

export interface GenreCount {
  genre: string;
  count: number;
}

export interface DatasetReport {
  file: string;
  format: 'one-hot' | 'list' | 'jsonl';
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
  /** Vocabulary genres, most frequent first. */
  genreCounts: GenreCount[];
  /** Genres below `minCount` or outside the fixed `genres`, most frequent first. */
  droppedGenres: GenreCount[];
  /** Rows left with no genre of the vocabulary. */
  rowsWithoutGenres: number;
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

const DEFAULT_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'];
const ID_NAMES = new Set(['id', 'imdb_id', 'imdbid']);
const GENRE_NAMES = new Set(['genre', 'genres']);
const BINARY = /^[01](\.0+)?$/;
const MISSING_EXAMPLES = 5;

interface RawRow {
  line: number;
  id: string;
  /** Path from a path column or `image` key, else null (look up `<id><ext>`). */
  path: string | null;
  genres: string[];
}

interface Parsed {
  format: DatasetReport['format'];
  rows: RawRow[];
  malformed: Array<{ line: number; reason: string }>;
}

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

// ---------------------------------------------------------------- columns

function resolveColumn(option: string, spec: string | number, headers: string[]): number {
  const expected = () => `one of the columns ${headers.join(', ')} (or an index 0-${headers.length - 1})`;
  if (typeof spec === 'number') {
    if (Number.isInteger(spec) && spec >= 0 && spec < headers.length) return spec;
    throw invalidParameterError(option, expected(), spec);
  }
  if (typeof spec !== 'string' || spec.trim() === '') throw invalidParameterError(option, expected(), spec);
  const name = spec.trim();
  let index = headers.findIndex((h) => h.trim() === name);
  if (index < 0) index = headers.findIndex((h) => h.trim().toLowerCase() === name.toLowerCase());
  if (index < 0 && /^\d+$/.test(name) && Number(name) < headers.length) index = Number(name); // a CLI passes strings
  if (index < 0) throw invalidParameterError(option, expected(), spec);
  return index;
}

function parseCsvDataset(text: string, file: string, options: DatasetOptions): Parsed {
  const table = parseCsv(text);
  const header = table[0];
  if (!header) throw dataError(`${file}: the file is empty`, file);
  if (table.length < 2) throw dataError(`${file}: has a header but no rows`, file);
  const headers = header.fields;
  const width = headers.length;

  const idIndex =
    options.idColumn !== undefined
      ? resolveColumn('idColumn', options.idColumn, headers)
      : Math.max(0, headers.findIndex((h) => ID_NAMES.has(h.trim().toLowerCase())));
  const pathIndex = options.pathColumn !== undefined ? resolveColumn('pathColumn', options.pathColumn, headers) : -1;
  const body = table.slice(1);
  const malformed: Parsed['malformed'] = [];
  const wellFormed = body.filter((row) => {
    if (row.fields.length === width) return true;
    malformed.push({ line: row.line, reason: `has ${row.fields.length} fields, expected ${width}` });
    return false;
  });

  let format: Parsed['format'];
  let genreIndex = -1;
  let oneHot: number[] = [];
  if (options.genresColumn !== undefined) {
    format = 'list';
    genreIndex = resolveColumn('genresColumn', options.genresColumn, headers);
  } else {
    // A stray typo must not hide a one-hot column: allow 1% (at least one) non-0/1 cells.
    const tolerance = Math.max(1, Math.floor(wellFormed.length / 100));
    for (let c = 0; c < width; c++) {
      if (c === idIndex || c === pathIndex) continue;
      let odd = 0;
      for (const row of wellFormed) if (!BINARY.test(row.fields[c]!.trim()) && ++odd > tolerance) break;
      if (odd <= tolerance && odd < wellFormed.length) oneHot.push(c);
    }
    if (oneHot.length >= 2) format = 'one-hot';
    else {
      oneHot = [];
      format = 'list';
      genreIndex = headers.findIndex((h, c) => c !== idIndex && GENRE_NAMES.has(h.trim().toLowerCase()));
      if (genreIndex < 0) {
        throw dataError(`${file}: cannot find the genres: give --genres-column (columns: ${headers.join(', ')})`, file);
      }
    }
  }

  const oneHotNames = oneHot.map((c) => stripQuotes(headers[c]!));
  const rows: RawRow[] = [];
  for (const { line, fields } of wellFormed) {
    const id = fields[idIndex]!.trim();
    if (id === '') {
      malformed.push({ line, reason: `empty id (column "${headers[idIndex]}")` });
      continue;
    }
    let path: string | null = null;
    if (pathIndex >= 0) {
      path = fields[pathIndex]!.trim();
      if (path === '') {
        malformed.push({ line, reason: `empty image path (column "${headers[pathIndex]}")` });
        continue;
      }
    }
    let genres: string[] = [];
    let reason: string | null = null;
    if (format === 'one-hot') {
      oneHot.forEach((c, k) => {
        const value = fields[c]!.trim();
        if (!BINARY.test(value)) reason ??= `column "${headers[c]}" holds "${value}", expected 0 or 1`;
        else if (value[0] === '1') genres.push(oneHotNames[k]!);
      });
    } else {
      const cell = fields[genreIndex]!;
      const list = parseGenreList(cell);
      if (list === null) reason = `cannot read the genre list "${cell}" (column "${headers[genreIndex]}")`;
      else genres = list;
    }
    if (reason !== null) {
      malformed.push({ line, reason });
      continue;
    }
    rows.push({ line, id, path, genres: [...new Set(genres)] });
  }
  malformed.sort((a, b) => a.line - b.line);
  return { format, rows, malformed };
}

function jsonlKey(option: string, spec: string | number | undefined): string | undefined {
  if (spec === undefined) return undefined;
  if (typeof spec !== 'string' || spec.trim() === '') throw invalidParameterError(option, 'a key name for a JSON Lines file', spec);
  return spec.trim();
}

function parseJsonlDataset(text: string, file: string, options: DatasetOptions): Parsed {
  const idKey = jsonlKey('idColumn', options.idColumn);
  const pathKey = jsonlKey('pathColumn', options.pathColumn);
  const genresKey = jsonlKey('genresColumn', options.genresColumn);
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (lines.every((l) => l.trim() === '')) throw dataError(`${file}: the file is empty`, file);
  const rows: RawRow[] = [];
  const malformed: Parsed['malformed'] = [];
  lines.forEach((text, i) => {
    const line = i + 1;
    if (text.trim() === '') return;
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch (error) {
      malformed.push({ line, reason: `not valid JSON (${(error as Error).message.split('\n')[0]})` });
      return;
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      malformed.push({ line, reason: 'expected a JSON object like {"image": "a.jpg", "genres": ["Drama"]}' });
      return;
    }
    const obj = record as Record<string, unknown>;
    const pick = (keys: string[]) => keys.find((k) => obj[k] !== undefined);
    const pathField = pathKey ?? pick(['image', 'path']);
    const idField = idKey ?? pick(['id', 'Id', 'ID', 'imdb_id', 'imdbId']);
    const genresField = genresKey ?? pick(['genres', 'genre']) ?? 'genres';
    const path = pathField === undefined ? undefined : obj[pathField];
    const rawId = idField === undefined ? undefined : obj[idField];
    if (path !== undefined && (typeof path !== 'string' || path.trim() === '')) {
      malformed.push({ line, reason: `"${pathField}" must be a non-empty string` });
      return;
    }
    if (rawId !== undefined && ((typeof rawId !== 'string' && typeof rawId !== 'number') || String(rawId).trim() === '')) {
      malformed.push({ line, reason: `"${idField}" must be a non-empty string` });
      return;
    }
    if (path === undefined && rawId === undefined) {
      malformed.push({ line, reason: 'has neither "image" nor "id"' });
      return;
    }
    const value = obj[genresField];
    let genres: string[] | null = null;
    if (typeof value === 'string') genres = parseGenreList(value);
    else if (Array.isArray(value) && value.every((g) => typeof g === 'string')) {
      genres = [...new Set(value.map(stripQuotes).filter((g) => g !== ''))];
    }
    if (genres === null) {
      malformed.push({ line, reason: `"${genresField}" must be a list of genre names` });
      return;
    }
    const id = rawId !== undefined ? String(rawId).trim() : (path as string).trim();
    rows.push({ line, id, path: typeof path === 'string' ? path.trim() : null, genres });
  });
  if (rows.length === 0 && malformed.length === 0) throw dataError(`${file}: has no rows`, file);
  return { format: 'jsonl', rows, malformed };
}

// ---------------------------------------------------------------- images

/** Existence checks with one readdir per folder, however many rows ask. */
class FolderListings {
  private readonly listings = new Map<string, Promise<Set<string>>>();

  private list(dir: string): Promise<Set<string>> {
    let listing = this.listings.get(dir);
    if (!listing) {
      listing = readdir(dir).then(
        (names) => new Set(names),
        () => new Set<string>(),
      );
      this.listings.set(dir, listing);
    }
    return listing;
  }

  async exists(path: string): Promise<boolean> {
    return (await this.list(dirname(path))).has(basename(path));
  }
}

async function findImage(row: RawRow, folders: string[], extensions: string[], listings: FolderListings): Promise<string | null> {
  const candidates: string[] = [];
  if (row.path !== null) {
    if (isAbsolute(row.path)) candidates.push(row.path);
    else for (const folder of folders) candidates.push(join(folder, row.path));
  } else {
    for (const folder of folders) {
      // An id that already names an image file ("tt1.jpg") is tried as is first.
      if (IMAGE_EXTENSIONS.has(extname(row.id).toLowerCase())) candidates.push(join(folder, row.id));
      for (const ext of extensions) {
        candidates.push(join(folder, row.id + ext));
        if (ext !== ext.toUpperCase()) candidates.push(join(folder, row.id + ext.toUpperCase()));
      }
    }
  }
  for (const candidate of candidates) if (await listings.exists(candidate)) return candidate;
  return null;
}

async function checkFolders(folders: string[]): Promise<void> {
  for (const folder of folders) {
    const info = await stat(folder).catch(() => null);
    if (!info?.isDirectory()) throw invalidParameterError('images', 'an existing folder', folder);
  }
}

// ---------------------------------------------------------------- options

function checkOptions(options: DatasetOptions): { extensions: string[]; minCount: number; fixed: string[] | undefined } {
  if (typeof options !== 'object' || options === null) throw invalidParameterError('options', 'object', options);
  if (typeof options.data !== 'string' || options.data === '') throw invalidParameterError('data', 'path of a CSV or JSON Lines file', options.data);
  if (!Array.isArray(options.images) || !options.images.every((f) => typeof f === 'string' && f !== '')) {
    throw invalidParameterError('images', 'array of folder paths', options.images);
  }
  let extensions = DEFAULT_EXTENSIONS;
  if (options.extensions !== undefined) {
    const valid = (e: unknown) => typeof e === 'string' && e.replace(/^\./, '') !== '';
    if (!Array.isArray(options.extensions) || options.extensions.length === 0 || !options.extensions.every(valid)) {
      throw invalidParameterError('extensions', 'non-empty array of extensions like ".jpg"', options.extensions);
    }
    extensions = options.extensions.map((e) => (e.startsWith('.') ? e : `.${e}`));
  }
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
  if (options.strict !== undefined && typeof options.strict !== 'boolean') throw invalidParameterError('strict', 'boolean', options.strict);
  return { extensions, minCount, fixed };
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
  const { extensions, minCount, fixed } = checkOptions(options);
  const file = options.data;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, expected a CSV or JSON Lines file' : (error as Error).message;
    throw dataError(`${file}: ${why}`, file, error);
  }
  if (text.trim() === '') throw dataError(`${file}: the file is empty`, file);
  await checkFolders(options.images);

  const jsonl = /\.(jsonl|ndjson)$/i.test(file);
  const parsed = jsonl ? parseJsonlDataset(text, file, options) : parseCsvDataset(text, file, options);
  const first = parsed.malformed[0];
  if (first && (options.strict || parsed.rows.length === 0)) {
    const more = options.strict ? '' : ` (no well-formed rows; ${parsed.malformed.length} malformed)`;
    throw dataError(`${file} line ${first.line}: ${first.reason}${more}`, file);
  }

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

  // Images, ids.
  const listings = new FolderListings();
  const images = await Promise.all(parsed.rows.map((row) => findImage(row, options.images, extensions, listings)));
  const seen = new Set<string>();
  let duplicateIds = 0;
  let rowsWithoutGenres = 0;
  const missingExamples: string[] = [];
  const rows: DatasetRow[] = parsed.rows.map((raw, i) => {
    if (seen.has(raw.id)) duplicateIds++;
    seen.add(raw.id);
    const image = images[i]!;
    if (image === null && missingExamples.length < MISSING_EXAMPLES) missingExamples.push(`${raw.path ?? raw.id} (line ${raw.line})`);
    const kept = raw.genres.filter((g) => vocabulary.has(g)).sort((a, b) => vocabulary.get(a)! - vocabulary.get(b)!);
    if (kept.length === 0) rowsWithoutGenres++;
    return { line: raw.line, id: raw.id, image, genres: kept };
  });
  const imagesFound = images.filter((p) => p !== null).length;

  const report: DatasetReport = {
    file,
    format: parsed.format,
    rows: rows.length,
    imagesFound,
    imagesMissing: rows.length - imagesFound,
    missingExamples,
    malformed: parsed.malformed,
    duplicateIds,
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
  const formats = { 'one-hot': 'one-hot genre columns', list: 'genre lists', jsonl: 'JSON Lines' } as const;
  const out = [`${report.file}: ${num(report.rows)} rows (${formats[report.format]})`];
  out.push(`images: ${num(report.imagesFound)} found, ${num(report.imagesMissing)} missing`);
  if (report.imagesMissing > 0) {
    const more = report.imagesMissing > report.missingExamples.length ? ', …' : '';
    out.push(`  not found: ${report.missingExamples.join(', ')}${more}`);
  }
  if (report.malformed.length > 0) {
    out.push(`malformed rows skipped: ${num(report.malformed.length)}`);
    for (const m of report.malformed.slice(0, 10)) out.push(`  line ${m.line}: ${m.reason}`);
    if (report.malformed.length > 10) out.push(`  … and ${num(report.malformed.length - 10)} more`);
  }
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
