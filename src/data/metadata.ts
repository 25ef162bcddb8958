/**
 * The text side of a data table: a title and a plot per row, from columns of
 * the table itself and/or a second table (`metadata`: CSV or JSON Lines
 * `{ id, title, plot }`) joined on the id. A missing title or plot is the
 * normal case, never an error.
 *
 * Columns, when not given (names compared in any case): title: title / name;
 * plot: plot / overview / description / summary / synopsis; year: year (joined
 * to the title as "Title (1999)", so the text normalisation keeps it as its
 * own feature).
 */
import { invalidParameterError } from '../errors.js';
import { COLUMN_NAMES, type ColumnSpec, type Table, type TableRow, cellText, findColumn, readTable, resolveColumn } from './table.js';

export interface TextColumnOptions {
  /** Column with the movie title (name or 0-based index). Default: a column named title, if any. */
  titleColumn?: ColumnSpec;
  /** Column with the plot summary. Default: a column named plot / overview / description, if any. */
  plotColumn?: ColumnSpec;
  /** A second table, CSV or JSON Lines, with an id column and title / plot / year columns, joined on the id. */
  metadata?: string;
}

export interface RowText {
  title?: string;
  plot?: string;
}

export interface TextReport {
  /** Where the text came from: 'Title, Description of movies.csv', 'metadata.csv'. */
  sources: string[];
  withTitle: number;
  withPlot: number;
  withBoth: number;
  withNeither: number;
  /** Rows of the metadata table whose id names no row of the data table. */
  metadataUnmatched?: number;
  metadataRows?: number;
}

interface TextColumns {
  title: number;
  plot: number;
  year: number;
}

function textColumns(table: Table, options: Pick<TextColumnOptions, 'titleColumn' | 'plotColumn'>, except: number[]): TextColumns {
  const title = options.titleColumn !== undefined ? resolveColumn(table, 'titleColumn', options.titleColumn) : findColumn(table, COLUMN_NAMES.title, except);
  const plot = options.plotColumn !== undefined ? resolveColumn(table, 'plotColumn', options.plotColumn) : findColumn(table, COLUMN_NAMES.plot, [...except, title]);
  const year = findColumn(table, COLUMN_NAMES.year, [...except, title, plot]);
  return { title, plot, year };
}

function textOf(row: TableRow, columns: TextColumns): RowText {
  const value = (c: number) => (c >= 0 ? (cellText(row, c) ?? '') : '');
  let title = value(columns.title);
  const year = value(columns.year);
  // The year rides on the title the way users type it ("Alien (1979)"); normalisation takes it off again as a feature.
  if (title !== '' && /^(18|19|20)\d\d$/.test(year) && !/\(\d{4}\)\s*$/.test(title)) title = `${title} (${year})`;
  const plot = value(columns.plot);
  return { ...(title ? { title } : {}), ...(plot ? { plot } : {}) };
}

/**
 * Title and plot of each row of `table` (rows given with their ids), from
 * its own columns and the metadata table; the table's own text wins where
 * both have one.
 *
 * @example
 *   // labels.csv has Id and genres; metadata.csv has Id,Title,Year,Plot
 *   const { texts, report } = await readRowText(table, rows, [0], { metadata: 'metadata.csv' });
 *   texts[0]  // -> { title: 'The Messenger: The Story of Joan of Arc (1999)', plot: 'In 1429 a teenage girl ...' }
 *   report    // -> { sources: ['metadata.csv'], withTitle: 5988, withPlot: 4195, withBoth: 4195, withNeither: 0, metadataRows: 6613, metadataUnmatched: 625 }
 */
export async function readRowText(
  table: Table,
  rows: ReadonlyArray<{ id: string; cells: TableRow['cells']; line: number }>,
  except: number[],
  options: TextColumnOptions,
): Promise<{ texts: RowText[]; report: TextReport | undefined }> {
  const own = textColumns(table, options, except);
  const sources: string[] = [];
  const named = [own.title, own.plot].filter((c) => c >= 0).map((c) => table.columns[c]!);
  if (named.length > 0) sources.push(`${named.join(', ')} of ${table.file}`);
  const texts: RowText[] = rows.map((row) => textOf({ line: row.line, number: 0, cells: row.cells }, own));
  let metadataRows: number | undefined;
  let metadataUnmatched: number | undefined;
  if (options.metadata !== undefined) {
    if (typeof options.metadata !== 'string' || options.metadata === '') throw invalidParameterError('metadata', 'path of a CSV or JSON Lines file', options.metadata);
    const meta = await readTable(options.metadata);
    let idColumn = findColumn(meta, COLUMN_NAMES.id);
    if (idColumn < 0 && meta.format === 'csv') idColumn = 0;
    if (idColumn < 0) throw invalidParameterError('metadata', `a table with an id column (${COLUMN_NAMES.id.join(' / ')})`, meta.columns.join(', '));
    const columns = textColumns(meta, {}, [idColumn]);
    const byId = new Map<string, RowText>();
    for (const row of meta.rows) {
      const id = cellText(row, idColumn);
      if (id) byId.set(id, textOf(row, columns));
    }
    const ids = new Set(rows.map((r) => r.id));
    metadataRows = byId.size;
    metadataUnmatched = [...byId.keys()].filter((id) => !ids.has(id)).length;
    rows.forEach((row, i) => {
      const joined = byId.get(row.id);
      if (joined) texts[i] = { ...joined, ...texts[i] };
    });
    sources.push(options.metadata);
  }
  if (sources.length === 0) return { texts, report: undefined };
  const withTitle = texts.filter((t) => t.title).length;
  const withPlot = texts.filter((t) => t.plot).length;
  const withBoth = texts.filter((t) => t.title && t.plot).length;
  return {
    texts,
    report: {
      sources,
      withTitle,
      withPlot,
      withBoth,
      withNeither: texts.length - withTitle - withPlot + withBoth,
      ...(metadataRows !== undefined ? { metadataRows, metadataUnmatched: metadataUnmatched! } : {}),
    },
  };
}

/**
 * @example
 *   formatTextReport(report)
 *   // -> 'text (metadata.csv): 5,988 with a title, 4,195 with a plot, 4,195 both, 0 neither; 625 of 6,613 metadata ids match no row'
 */
export function formatTextReport(report: TextReport): string {
  const num = (n: number) => n.toLocaleString('en-US');
  let line = `text (${report.sources.join('; ')}): ${num(report.withTitle)} with a title, ${num(report.withPlot)} with a plot, ${num(report.withBoth)} both, ${num(report.withNeither)} neither`;
  if (report.metadataRows !== undefined) line += `; ${num(report.metadataUnmatched!)} of ${num(report.metadataRows)} metadata ids match no row`;
  return line;
}
