/**
 * The one reader of data tables: a CSV file with a header row (RFC 4180, read
 * by csv-parse) or JSON Lines, as rows that keep the line they start on. One
 * way to name a column (by name in any case, or by 0-based index), one list of
 * the names each column is recognised by, and one CSV writer.
 *
 * Every command that reads a table (train, evaluate, audit, fetch, embed and
 * predict with --data, split files) goes through here, so a column found by
 * one is found by all.
 */
import { readFile } from 'node:fs/promises';
import { type InfoRecord, parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { PosterscopeError, excerpt, invalidParameterError } from '../errors.js';

export type TableFormat = 'csv' | 'jsonl';

/** A column by name (any case) or 0-based index; digits given as a string are an index too (a CLI passes strings). */
export type ColumnSpec = string | number;

export interface TableRow {
  /** 1-based line of the file the row starts on. */
  line: number;
  /** 1-based among the data rows (malformed ones counted). */
  number: number;
  /** By column index: strings for CSV, any JSON value for JSON Lines (undefined where a line lacks the key). */
  cells: readonly unknown[];
}

export interface MalformedRow {
  line: number;
  number: number;
  reason: string;
}

export interface Table {
  file: string;
  format: TableFormat;
  /** CSV: the header row, trimmed. JSON Lines: every key seen, in order of first appearance. */
  columns: string[];
  rows: TableRow[];
  /** Rows that could not be read: a wrong number of fields, a quote never closed, a line that is not a JSON object. */
  malformed: MalformedRow[];
}

/**
 * Names (compared in any case) a column is recognised by when the caller
 * names none, in order of preference.
 */
export const COLUMN_NAMES = {
  id: ['id', 'imdb_id', 'imdbid'],
  path: ['image', 'path'],
  genres: ['genres', 'genre'],
  split: ['split', 'set', 'subset', 'fold'],
  title: ['title', 'name'],
  plot: ['plot', 'overview', 'description', 'summary', 'synopsis'],
  year: ['year'],
} as const satisfies Record<string, readonly string[]>;

function dataError(file: string, why: string, cause?: unknown): PosterscopeError {
  return new PosterscopeError('DATA_INVALID', `${file}: ${why}`, { subject: file, cause });
}

/** Newlines inside a row's quoted fields: the row started that many lines before csv-parse's count. */
function newlines(fields: readonly string[]): number {
  let n = 0;
  for (const field of fields) for (let i = field.indexOf('\n'); i >= 0; i = field.indexOf('\n', i + 1)) n++;
  return n;
}

function parseCsvTable(text: string, file: string): Table {
  const records: Array<{ line: number; fields: string[] }> = [];
  const skipped: Array<{ line: number; reason: string }> = [];
  let lastLine = 0;
  try {
    parse(text, {
      bom: true,
      // Lenient like spreadsheets: a quote inside an unquoted field is a character; rows of the wrong width are reported below.
      relax_quotes: true,
      relax_column_count: true,
      // Files edited on several systems mix line endings (the reference labels.csv does).
      record_delimiter: ['\r\n', '\n', '\r'],
      skip_empty_lines: true,
      skip_records_with_error: true,
      on_record: (record: string[], context: InfoRecord) => {
        records.push({ line: context.lines - newlines(record), fields: record });
        lastLine = context.lines;
        return null; // kept here, not in parse()'s result
      },
      on_skip: (error) => {
        const reason = (error?.message ?? 'unreadable row').replace(/ at line \d+/, '');
        skipped.push({ line: lastLine + 1, reason: `cannot read the row: ${reason}` });
      },
    });
  } catch (error) {
    throw dataError(file, `not a CSV file (${(error as Error).message})`, error);
  }
  const [header, ...body] = records;
  if (!header) throw dataError(file, 'the file is empty');
  const columns = header.fields.map((h) => h.trim());
  const seen = new Map<string, number>();
  columns.forEach((name, c) => {
    const first = seen.get(name);
    // Two "Drama" columns would silently merge into one genre.
    if (first !== undefined && name !== '') throw dataError(file, `columns ${first} and ${c} are both named "${excerpt(name)}": rename one`);
    seen.set(name, c);
  });
  if (body.length === 0 && skipped.length === 0) throw dataError(file, 'has a header but no rows');
  const rows: TableRow[] = [];
  const malformed: MalformedRow[] = [];
  const all = [...body.map((r) => ({ ...r, reason: undefined as string | undefined })), ...skipped.map((s) => ({ line: s.line, fields: [], reason: s.reason }))];
  all.sort((a, b) => a.line - b.line);
  all.forEach((row, i) => {
    const number = i + 1;
    if (row.reason !== undefined) malformed.push({ line: row.line, number, reason: row.reason });
    else if (row.fields.length !== columns.length) malformed.push({ line: row.line, number, reason: `has ${row.fields.length} fields, expected ${columns.length}` });
    else rows.push({ line: row.line, number, cells: row.fields });
  });
  return { file, format: 'csv', columns, rows, malformed };
}

function parseJsonlTable(text: string, file: string): Table {
  const columns: string[] = [];
  const index = new Map<string, number>();
  const objects: Array<{ line: number; number: number; record: Record<string, unknown> }> = [];
  const malformed: MalformedRow[] = [];
  let number = 0;
  text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .forEach((lineText, i) => {
      if (lineText.trim() === '') return;
      const line = i + 1;
      number++;
      let record: unknown;
      try {
        record = JSON.parse(lineText);
      } catch (error) {
        malformed.push({ line, number, reason: `not valid JSON (${(error as Error).message.split('\n')[0]})` });
        return;
      }
      if (typeof record !== 'object' || record === null || Array.isArray(record)) {
        malformed.push({ line, number, reason: 'not a JSON object' });
        return;
      }
      for (const key of Object.keys(record)) {
        if (!index.has(key)) {
          index.set(key, columns.length);
          columns.push(key);
        }
      }
      objects.push({ line, number, record: record as Record<string, unknown> });
    });
  if (number === 0) throw dataError(file, 'the file is empty');
  const rows = objects.map(({ line, number, record }) => ({ line, number, cells: columns.map((key) => record[key]) }));
  return { file, format: 'jsonl', columns, rows, malformed };
}

/**
 * Parses table text; JSON Lines when `format` says so, else CSV.
 *
 * @example
 *   parseTable('id,genre\ntt1,"Action, Drama"\n', 'x.csv', 'csv')
 *   // -> { file: 'x.csv', format: 'csv', columns: ['id', 'genre'],
 *   //      rows: [{ line: 2, number: 1, cells: ['tt1', 'Action, Drama'] }], malformed: [] }
 */
export function parseTable(text: string, file: string, format: TableFormat): Table {
  if (text.trim() === '') throw dataError(file, 'the file is empty');
  return format === 'jsonl' ? parseJsonlTable(text, file) : parseCsvTable(text, file);
}

/** JSON Lines for `.jsonl` / `.ndjson`, else CSV. */
export function tableFormatOf(file: string): TableFormat {
  return /\.(jsonl|ndjson)$/i.test(file) ? 'jsonl' : 'csv';
}

/**
 * Reads a CSV (with a header row) or JSON Lines (`.jsonl` / `.ndjson`) file.
 * Throws PosterscopeError DATA_INVALID naming the file when it is missing,
 * empty, a directory, or has two columns of the same name.
 *
 * @example
 *   const table = await readTable('labels.csv');
 *   table.columns.slice(0, 3); // -> ['Id', 'Genre', 'Action']
 *   table.rows[0];             // -> { line: 2, number: 1, cells: ['tt0151137', "['Adventure', 'Biography', 'Drama']", '0', ...] }
 */
export async function readTable(file: string): Promise<Table> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, expected a CSV or JSON Lines file' : (error as Error).message;
    throw dataError(file, why, error);
  }
  return parseTable(text, file, tableFormatOf(file));
}

function expectedColumns(table: Table): string {
  if (table.format === 'jsonl') return `a key of ${table.file} (${table.columns.join(', ')})`;
  return `one of the columns ${table.columns.join(', ')} (or an index 0-${table.columns.length - 1})`;
}

/**
 * The index of the column `spec` names: the exact name, else the name in any
 * case, else (CSV only) a 0-based index. Throws `invalidParameterError`
 * naming `option` and listing the columns.
 *
 * @example
 *   resolveColumn(table, 'idColumn', 'imdbid') // -> 1   (columns title, imdbId, Genre)
 *   resolveColumn(table, 'idColumn', '2')      // -> 2
 *   resolveColumn(table, 'idColumn', 'nope')
 *   // throws 'Expected one of the columns title, imdbId, Genre (or an index 0-2) for idColumn but received string "nope"'
 */
export function resolveColumn(table: Table, option: string, spec: ColumnSpec): number {
  const { columns } = table;
  if (table.format === 'jsonl' && typeof spec !== 'string') throw invalidParameterError(option, 'a key name for a JSON Lines file', spec);
  if (typeof spec === 'number') {
    if (Number.isInteger(spec) && spec >= 0 && spec < columns.length) return spec;
    throw invalidParameterError(option, expectedColumns(table), spec);
  }
  if (typeof spec !== 'string' || spec.trim() === '') throw invalidParameterError(option, expectedColumns(table), spec);
  const name = spec.trim();
  let index = columns.indexOf(name);
  if (index < 0) index = columns.findIndex((c) => c.toLowerCase() === name.toLowerCase());
  if (index < 0 && table.format === 'csv' && /^\d+$/.test(name) && Number(name) < columns.length) index = Number(name);
  if (index < 0) throw invalidParameterError(option, expectedColumns(table), spec);
  return index;
}

/**
 * The first column (in the order of `names`, compared in any case) not in
 * `except`, or -1.
 *
 * @example
 *   findColumn(table, COLUMN_NAMES.id) // -> 1   (columns title, imdbId, Genre)
 */
export function findColumn(table: Table, names: readonly string[], except: readonly number[] = []): number {
  for (const name of names) {
    const index = table.columns.findIndex((c, i) => !except.includes(i) && c.toLowerCase() === name);
    if (index >= 0) return index;
  }
  return -1;
}

/**
 * A cell as trimmed text: strings and numbers; '' for an empty or absent
 * cell; undefined for anything else (a JSON list or object).
 *
 * @example
 *   cellText(row, 0) // -> 'tt0000001'
 */
export function cellText(row: TableRow, column: number): string | undefined {
  const value = row.cells[column];
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value.trim();
  if (typeof value === 'number') return String(value);
  return undefined;
}

/**
 * CSV text (RFC 4180, quoted where needed, one line per record, a final newline).
 *
 * @example
 *   toCsv([['line', 'url'], [3, 'http://h/a,b.jpg']]) // -> 'line,url\n3,"http://h/a,b.jpg"\n'
 */
export function toCsv(records: ReadonlyArray<ReadonlyArray<string | number>>): string {
  return stringify(records as Array<Array<string | number>>);
}
