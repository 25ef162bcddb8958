/**
 * Downloading the posters a table lists by URL into one folder, safely and
 * resumably: each body must decode as an image (an HTML error page saved as
 * .jpg is refused), files appear only complete (temp file + rename), and a
 * re-run skips every poster already there that decodes.
 *
 * Requests go through the shared client (src/net/http.ts): transient failures
 * (connection errors, timeouts, cut bodies, HTTP 5xx / 429 / 408) are retried
 * with exponential backoff, jitter and the server's Retry-After; others (404,
 * 403, a redirect from https to http, not an image, bad URL) fail the row at
 * once. One row never stops the others: each failure is returned with its reason.
 */
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { extname, join } from 'node:path';
import pMap from 'p-map';
import { removeStaleTemporaries, writeFileAtomic } from '../atomic-file.js';
import { checkInteger, excerpt, invalidParameterError } from '../errors.js';
import { DEFAULT_DECODE_OPTIONS, decodePoster } from '../image/poster.js';
import { type GetOptions, type HttpClient, createHttpClient, withRetries } from '../net/http.js';
import { type Progress, silentProgress } from '../progress.js';
import { IMAGE_EXTENSIONS } from './files.js';
import { type ColumnSpec, cellText, readTable, resolveColumn, toCsv } from './table.js';

export interface FetchOptions {
  /** CSV (with a header row) or JSON Lines (.jsonl / .ndjson) file listing the posters. */
  data: string;
  /** Column (name or 0-based index; a JSON Lines key) holding each poster's URL. */
  urlColumn: ColumnSpec;
  /** Column naming each file `<id><ext>`. Default: the row number (1 = first data row). */
  idColumn?: ColumnSpec;
  /** Folder the posters are written to (created if needed). */
  out: string;
  /** Downloads at once. Default 4. */
  concurrency?: number;
  /** Time allowed for one request, from connecting to the last byte (redirects included), in ms. Default 15000. */
  timeoutMs?: number;
  /** Retries of a transient failure. Default 3. */
  retries?: number;
  /** Delay before the first retry in ms, doubled for each further one, with jitter (×1–2), and at least a server's Retry-After. Default 500. */
  retryDelayMs?: number;
  /** Redirects followed per request (never from https to http). Default 5. */
  maxRedirects?: number;
  /** Largest body accepted, bytes. Default 50 MiB. */
  maxBytes?: number;
  /** Stops the run: requests in flight are cut and fetchPosters rejects with the signal's reason. */
  signal?: AbortSignal;
  /** One tick per row. Default: silent. */
  progress?: Progress;
  /** Called as each row finishes. */
  onPoster?: (result: FetchedPoster) => void;
}

export interface FetchedPoster {
  /** 1-based line of the data file the row starts on. */
  line: number;
  id: string;
  url: string;
  /** `skipped`: a valid file was already there (or an earlier row has the same id and URL). */
  status: 'downloaded' | 'skipped' | 'failed';
  /** The poster's path, unless failed. */
  file?: string;
  /** Bytes downloaded (0 when skipped or failed). */
  bytes: number;
  /** HTTP attempts made (0 when skipped or refused before any request). */
  attempts: number;
  /** Why it failed. */
  reason?: string;
}

export interface FetchFailure {
  line: number;
  id: string;
  url: string;
  reason: string;
  attempts: number;
}

export interface FetchReport {
  data: string;
  out: string;
  rows: number;
  downloaded: number;
  skipped: number;
  failed: number;
  /** Bytes downloaded. */
  bytes: number;
  /** By line. */
  failures: FetchFailure[];
  seconds: number;
}

/** A row to fetch, or one the table could not read. */
interface FetchRow {
  line: number;
  /** 1-based among data rows: the file name when no id column is given. */
  number: number;
  id: string;
  url: string;
  invalid?: string;
}

const SAFE_ID = /^[^/\\\u0000-\u001f]{1,200}$/;

/** The rows of the table (unreadable ones included, to be reported), in file order. */
async function readRows(file: string, urlSpec: ColumnSpec, idSpec: ColumnSpec | undefined): Promise<{ rows: FetchRow[]; urlName: string }> {
  const table = await readTable(file);
  const urlIndex = resolveColumn(table, 'urlColumn', urlSpec);
  const idIndex = idSpec === undefined ? undefined : resolveColumn(table, 'idColumn', idSpec);
  const idOf = (number: number, text: string | undefined) => (idIndex === undefined ? String(number) : (text ?? ''));
  const rows: FetchRow[] = [
    ...table.rows.map((row) => ({ line: row.line, number: row.number, id: idOf(row.number, idIndex === undefined ? undefined : cellText(row, idIndex)), url: cellText(row, urlIndex) ?? '' })),
    ...table.malformed.map((m) => ({ line: m.line, number: m.number, id: idOf(m.number, ''), url: '', invalid: m.reason })),
  ];
  return { rows: rows.sort((a, b) => a.line - b.line), urlName: table.columns[urlIndex]! };
}

function sniffExtension(bytes: Buffer): string {
  const head = bytes.toString('latin1', 0, 12);
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return '.jpg';
  if (head.startsWith('\x89PNG')) return '.png';
  if (head.startsWith('GIF8')) return '.gif';
  if (head.startsWith('RIFF') && head.slice(8) === 'WEBP') return '.webp';
  if (head.slice(4, 8) === 'ftyp') return '.avif';
  return '.tif';
}

// ---------------------------------------------------------------- one row

/** The existing poster files of the output folder by id, listed once. */
async function listOutput(out: string): Promise<Map<string, string[]>> {
  const byId = new Map<string, string[]>();
  for (const name of await readdir(out)) {
    const ext = extname(name);
    if (name.startsWith('.') || !IMAGE_EXTENSIONS.has(ext.toLowerCase())) continue;
    const id = name.slice(0, -ext.length);
    byId.set(id, [...(byId.get(id) ?? []), name]);
  }
  return byId;
}

function reasonOf(error: unknown, source: string): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.startsWith(`${source}: `) ? message.slice(source.length + 2) : message;
}

/**
 * Downloads the posters a CSV or JSON Lines file lists by URL.
 *
 * @example
 *   const report = await fetchPosters({ data: 'list.csv', urlColumn: 'Poster', idColumn: 'imdbId', out: 'posters/' });
 *   // list.csv rows: 1 -> a poster, 2 -> a 404, 3 -> an HTML login page
 *   // -> { rows: 3, downloaded: 1, skipped: 0, failed: 2, failures: [
 *   //      { line: 3, id: '2', url: 'http://…/gone.jpg', reason: 'HTTP 404 Not Found', attempts: 1 },
 *   //      { line: 4, id: '3', url: 'http://…/page', reason: 'not an image (file starts with "<html>login</htm")', attempts: 1 }], ... }
 *   // posters/1.jpg is written; a second run requests nothing for it.
 */
export async function fetchPosters(options: FetchOptions): Promise<FetchReport> {
  const started = performance.now();
  if (typeof options !== 'object' || options === null) throw invalidParameterError('options', 'object', options);
  if (typeof options.data !== 'string' || options.data === '') throw invalidParameterError('data', 'path of a CSV or JSON Lines file', options.data);
  if (typeof options.out !== 'string' || options.out === '') throw invalidParameterError('out', 'folder path', options.out);
  const concurrency = checkInteger('concurrency', options.concurrency ?? 4, 1, 256);
  const retries = checkInteger('retries', options.retries ?? 3, 0, 100);
  const retryDelayMs = checkInteger('retryDelayMs', options.retryDelayMs ?? 500, 0, 3_600_000);
  const timeoutMs = checkInteger('timeoutMs', options.timeoutMs ?? 15_000, 1, 2 ** 31 - 1);
  const maxBytes = checkInteger('maxBytes', options.maxBytes ?? DEFAULT_DECODE_OPTIONS.maxBytes, 1, Number.MAX_SAFE_INTEGER);
  const request: GetOptions = {
    // One limit for the whole request: the idle timer never fires first.
    timeoutMs,
    idleTimeoutMs: timeoutMs,
    maxRedirects: checkInteger('maxRedirects', options.maxRedirects ?? 5, 0, 100),
    maxBytes,
    accept: 'image/*',
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const progress = options.progress ?? silentProgress;
  const { rows, urlName } = await readRows(options.data, options.urlColumn, options.idColumn);
  const out = options.out;
  try {
    await mkdir(out, { recursive: true });
  } catch (error) {
    throw invalidParameterError('out', `a folder that can be created (${(error as NodeJS.ErrnoException).code})`, out);
  }
  await removeStaleTemporaries(out);
  const existing = await listOutput(out);

  const results: FetchedPoster[] = [];
  const firstRowOf = new Map<string, { line: number; url: string }>();
  const finish = (result: FetchedPoster) => {
    results.push(result);
    options.onPoster?.(result);
    progress.tick();
  };

  const fetchRow = async (client: HttpClient, row: FetchRow): Promise<void> => {
    const { id, url } = row;
    const base = { line: row.line, id, url, bytes: 0, attempts: 0 };
    const fail = (reason: string, attempts = 0) => finish({ ...base, status: 'failed', reason, attempts });
    if (row.invalid) return fail(row.invalid);
    if (id === '') return fail('empty id');
    if (!SAFE_ID.test(id) || id === '.' || id === '..' || id.startsWith('.')) return fail(`id "${excerpt(id)}" cannot be a file name`);
    if (url === '') return fail(`no URL (column "${urlName}" is empty)`);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return fail('not a URL');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return fail(`unsupported URL scheme "${parsed.protocol}" (only http and https)`);
    const first = firstRowOf.get(id);
    if (first) {
      if (first.url === url) return finish({ ...base, status: 'skipped' });
      return fail(`duplicate id: line ${first.line} has the same id with another URL`);
    }
    firstRowOf.set(id, { line: row.line, url });

    // Resume: a file that decodes is kept; a partial or invalid one is replaced.
    const stale: string[] = [];
    for (const name of existing.get(id) ?? []) {
      const path = join(out, name);
      try {
        await decodePoster(path, { maxSide: 64, maxBytes });
        return finish({ ...base, status: 'skipped', file: path });
      } catch {
        stale.push(path);
      }
    }

    let bytes: Buffer;
    let attempts = 0;
    try {
      bytes = await withRetries(
        async (n) => {
          attempts = n;
          const response = await client.get(parsed, request);
          try {
            return await response.bytes();
          } finally {
            response.close();
          }
        },
        { retries, retryDelayMs, ...(options.signal ? { signal: options.signal } : {}) },
      );
    } catch (error) {
      if (options.signal?.aborted) throw error;
      const message = error instanceof Error ? error.message : String(error);
      return fail(attempts > 1 ? `${message} (${attempts} attempts)` : message, attempts);
    }
    try {
      await decodePoster({ bytes, source: id }, { maxSide: 64, maxBytes });
    } catch (error) {
      return fail(reasonOf(error, id), attempts);
    }
    const file = join(out, id + sniffExtension(bytes));
    // No fsync: a poster torn by a crash fails validation on the next run and is fetched again.
    try {
      await writeFileAtomic(file, bytes);
    } catch (error) {
      return fail(`cannot write ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, attempts);
    }
    for (const path of stale) if (path !== file) await unlink(path).catch(() => {});
    return finish({ ...base, status: 'downloaded', file, bytes: bytes.length, attempts });
  };

  progress.start('fetching posters', rows.length);
  const client = createHttpClient({ keepAlive: true, maxSockets: concurrency });
  try {
    await pMap(rows, (row) => fetchRow(client, row), { concurrency });
  } finally {
    client.close();
  }
  const count = (status: FetchedPoster['status']) => results.filter((r) => r.status === status).length;
  const failures = results
    .filter((r) => r.status === 'failed')
    .map(({ line, id, url, reason, attempts }) => ({ line, id, url, reason: reason!, attempts }))
    .sort((a, b) => a.line - b.line);
  const report: FetchReport = {
    data: options.data,
    out,
    rows: rows.length,
    downloaded: count('downloaded'),
    skipped: count('skipped'),
    failed: failures.length,
    bytes: results.reduce((n, r) => n + r.bytes, 0),
    failures,
    seconds: Math.round((performance.now() - started) / 100) / 10,
  };
  progress.done(`fetched ${report.downloaded} posters, ${report.skipped} already there, ${report.failed} failed`);
  return report;
}

/**
 * The failures as a CSV (`line,id,url,reason,attempts`) or JSON array, by the
 * file's extension, written to `path`.
 *
 * @example
 *   await writeFetchFailures('posters/fetch-failures.csv', report.failures);
 *   // line,id,url,reason,attempts
 *   // 3,2,http://…/gone.jpg,HTTP 404 Not Found,1
 */
export async function writeFetchFailures(path: string, failures: readonly FetchFailure[]): Promise<void> {
  const text = /\.json$/i.test(path)
    ? `${JSON.stringify(failures, null, 2)}\n`
    : toCsv([['line', 'id', 'url', 'reason', 'attempts'], ...failures.map((f) => [f.line, f.id, f.url, f.reason, f.attempts])]);
  // Whole or not at all; a full disk is one WRITE_FAILED line naming the report.
  await writeFileAtomic(path, text);
}
