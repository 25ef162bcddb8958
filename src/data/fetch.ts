/**
 * Downloading the posters a table lists by URL into one folder, safely and
 * resumably: each body must decode as an image (an HTML error page saved as
 * .jpg is refused), files appear only complete (temp file + rename), and a
 * re-run skips every poster already there that decodes.
 *
 * Transient failures (connection errors, timeouts, cut bodies, HTTP 5xx / 429 /
 * 408) are retried with exponential backoff and jitter; others (404, 403, not an
 * image, bad URL) fail the row at once. One row never stops the others: each
 * failure is returned with its reason.
 */
import { mkdir, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic-file.js';
import http from 'node:http';
import https from 'node:https';
import { extname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PosterscopeError, checkInteger, invalidParameterError } from '../errors.js';
import { DEFAULT_DECODE_OPTIONS, decodePoster } from '../image/poster.js';
import { type Progress, silentProgress } from '../progress.js';
import { parseCsv } from './csv.js';

export interface FetchOptions {
  /** CSV (with a header row) or JSON Lines (.jsonl / .ndjson) file listing the posters. */
  data: string;
  /** Column (name or 0-based index; a JSON Lines key) holding each poster's URL. */
  urlColumn: string | number;
  /** Column naming each file `<id><ext>`. Default: the row number (1 = first data row). */
  idColumn?: string | number;
  /** Folder the posters are written to (created if needed). */
  out: string;
  /** Downloads at once. Default 4. */
  concurrency?: number;
  /** Time allowed for one request, from connecting to the last byte (redirects included), in ms. Default 15000. */
  timeoutMs?: number;
  /** Retries of a transient failure. Default 3. */
  retries?: number;
  /** Delay before the first retry in ms, doubled for each further one, with ±50% jitter. Default 500. */
  retryDelayMs?: number;
  /** Redirects followed per request. Default 5. */
  maxRedirects?: number;
  /** Largest body accepted, bytes. Default 50 MiB. */
  maxBytes?: number;
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

interface Row {
  line: number;
  /** 1-based among data rows. */
  number: number;
  get(column: number | string): string | undefined;
  /** Why the row could not be read at all (a JSON Lines line that is not an object). */
  invalid?: string;
}

interface Settings {
  timeoutMs: number;
  maxRedirects: number;
  maxBytes: number;
  agents: { http: http.Agent; https: https.Agent };
}

/** One failed attempt; only `transient` ones are retried. */
class AttemptFailure extends Error {
  constructor(
    message: string,
    readonly transient: boolean,
    readonly retryAfterMs = 0,
  ) {
    super(message);
  }
}

const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNABORTED', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const POSTER_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.avif', '.tif', '.tiff'];
const STALE_PART_MS = 24 * 60 * 60 * 1000;

function dataError(file: string, why: string, cause?: unknown): PosterscopeError {
  return new PosterscopeError('DATA_INVALID', `${file}: ${why}`, { subject: file, cause });
}

// ---------------------------------------------------------------- the table

async function readTable(file: string, urlSpec: string | number, idSpec: string | number | undefined) {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw dataError(file, code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, expected a CSV or JSON Lines file' : (error as Error).message, error);
  }
  if (text.trim() === '') throw dataError(file, 'the file is empty');
  const rows: Row[] = [];
  if (/\.(jsonl|ndjson)$/i.test(file)) {
    const key = (name: string, spec: string | number | undefined) => {
      if (spec !== undefined && (typeof spec !== 'string' || spec.trim() === '')) throw invalidParameterError(name, 'a key name for a JSON Lines file', spec);
      return spec;
    };
    const urlKey = key('urlColumn', urlSpec) as string;
    const idKey = key('idColumn', idSpec);
    text.split(/\r?\n/).forEach((lineText, i) => {
      if (lineText.trim() === '') return;
      let record: Record<string, unknown> = {};
      let invalid: string | undefined = 'not a JSON object';
      try {
        const parsed: unknown = JSON.parse(lineText);
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) [record, invalid] = [parsed as Record<string, unknown>, undefined];
      } catch {
        // the row fails with `invalid` as its reason
      }
      const value = (k: string | number) => (typeof record[k] === 'string' || typeof record[k] === 'number' ? String(record[k]) : undefined);
      rows.push({ line: i + 1, number: rows.length + 1, get: value, ...(invalid ? { invalid } : {}) });
    });
    return { rows, url: urlKey, id: idKey, urlName: urlKey };
  }
  const [header, ...body] = parseCsv(text);
  const headers = header!.fields.map((h) => h.trim());
  const resolve = (name: string, spec: string | number): number => {
    const text = String(spec).trim();
    let index = headers.indexOf(text);
    if (index < 0) index = headers.findIndex((h) => h.toLowerCase() === text.toLowerCase());
    if (index < 0 && /^\d+$/.test(text)) index = Number(text);
    if (index < 0 || index >= headers.length) throw invalidParameterError(name, `one of the columns ${headers.join(', ')} (or an index 0-${headers.length - 1})`, spec);
    return index;
  };
  const url = resolve('urlColumn', urlSpec);
  const id = idSpec === undefined ? undefined : resolve('idColumn', idSpec);
  body.forEach((row, i) => rows.push({ line: row.line, number: i + 1, get: (c) => row.fields[c as number] }));
  return { rows, url, id, urlName: headers[url]! };
}

// ---------------------------------------------------------------- one request

function sniffExtension(bytes: Buffer): string {
  const head = bytes.toString('latin1', 0, 12);
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return '.jpg';
  if (head.startsWith('\x89PNG')) return '.png';
  if (head.startsWith('GIF8')) return '.gif';
  if (head.startsWith('RIFF') && head.slice(8) === 'WEBP') return '.webp';
  if (head.slice(4, 8) === 'ftyp') return '.avif';
  return '.tif';
}

function classify(error: unknown): AttemptFailure {
  if (error instanceof AttemptFailure) return error;
  const code = (error as NodeJS.ErrnoException).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ENOTFOUND') return new AttemptFailure(`host not found (${message})`, false);
  return new AttemptFailure(message, code !== undefined && TRANSIENT_CODES.has(code));
}

/** Retry-After in seconds (dates are ignored), capped at a minute. */
function retryAfter(response: http.IncomingMessage): number {
  const value = Number(response.headers['retry-after']);
  return Number.isFinite(value) && value > 0 ? Math.min(value, 60) * 1000 : 0;
}

/** One attempt: follows redirects and returns the whole 200 body, or rejects with an `AttemptFailure`. */
function attempt(url: URL, settings: Settings): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let active: { destroy(): void } | undefined;
    let finished = false;
    const finish = (error: AttemptFailure | null, body?: Buffer) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (error) {
        active?.destroy();
        reject(error);
      } else resolve(body!);
    };
    const timer = setTimeout(() => finish(new AttemptFailure(`timed out after ${settings.timeoutMs} ms`, true)), settings.timeoutMs);
    const get = (current: URL, redirects: number) => {
      const client = current.protocol === 'https:' ? https : http;
      const agent = current.protocol === 'https:' ? settings.agents.https : settings.agents.http;
      const req = client.get(current, { agent, headers: { accept: 'image/*', 'accept-encoding': 'identity', 'user-agent': 'posterscope' } });
      active = req;
      req.on('error', (error) => finish(classify(error)));
      req.on('response', (response) => {
        active = response;
        const status = response.statusCode ?? 0;
        const location = response.headers.location;
        if (status >= 300 && status < 400 && location !== undefined) {
          response.resume();
          if (redirects >= settings.maxRedirects) return finish(new AttemptFailure(`more than ${settings.maxRedirects} redirects`, false));
          let next: URL;
          try {
            next = new URL(location, current);
          } catch {
            return finish(new AttemptFailure(`redirect to an invalid URL "${location}"`, false));
          }
          if (next.protocol !== 'http:' && next.protocol !== 'https:') return finish(new AttemptFailure(`redirect to unsupported URL ${next.href}`, false));
          return get(next, redirects + 1);
        }
        if (status !== 200) {
          response.resume();
          const transient = status >= 500 || status === 429 || status === 408;
          return finish(new AttemptFailure(`HTTP ${status} ${response.statusMessage ?? ''}`.trim(), transient, transient ? retryAfter(response) : 0));
        }
        const header = Number(response.headers['content-length'] ?? NaN);
        const declared = Number.isSafeInteger(header) && header >= 0 ? header : undefined;
        const tooLarge = () => new AttemptFailure(`larger than the limit of ${settings.maxBytes} bytes`, false);
        if (declared !== undefined && declared > settings.maxBytes) return finish(tooLarge());
        const chunks: Buffer[] = [];
        let received = 0;
        const cut = () => new AttemptFailure(`connection cut after ${received} of ${declared ?? '?'} bytes`, true);
        response.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > settings.maxBytes) finish(tooLarge());
          else chunks.push(chunk);
        });
        response.on('end', () => (declared !== undefined && received < declared ? finish(cut()) : finish(null, Buffer.concat(chunks))));
        response.on('error', () => finish(cut()));
        response.on('close', () => finish(cut())); // closed without 'end'
      });
    };
    get(url, 0);
  });
}

// ---------------------------------------------------------------- one row

const SAFE_ID = /^[^/\\\u0000-\u001f]{1,200}$/;

/** The existing files of the output folder by id, listed once. */
async function listOutput(out: string): Promise<Map<string, string[]>> {
  const byId = new Map<string, string[]>();
  for (const name of await readdir(out)) {
    if (name.startsWith('.') && name.includes('.part-')) {
      // Left by a killed run; a recent one may be another process's download.
      const path = join(out, name);
      const info = await stat(path).catch(() => undefined);
      if (info && Date.now() - info.mtimeMs > STALE_PART_MS) await unlink(path).catch(() => {});
      continue;
    }
    const ext = extname(name);
    if (!POSTER_EXTENSIONS.includes(ext.toLowerCase())) continue;
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
  const settings: Settings = {
    timeoutMs: checkInteger('timeoutMs', options.timeoutMs ?? 15_000, 1, 2 ** 31 - 1),
    maxRedirects: checkInteger('maxRedirects', options.maxRedirects ?? 5, 0, 100),
    maxBytes: checkInteger('maxBytes', options.maxBytes ?? DEFAULT_DECODE_OPTIONS.maxBytes, 1, Number.MAX_SAFE_INTEGER),
    agents: { http: new http.Agent({ keepAlive: true, maxSockets: concurrency }), https: new https.Agent({ keepAlive: true, maxSockets: concurrency }) },
  };
  const progress = options.progress ?? silentProgress;
  const table = await readTable(options.data, options.urlColumn, options.idColumn);
  const out = options.out;
  try {
    await mkdir(out, { recursive: true });
  } catch (error) {
    throw invalidParameterError('out', `a folder that can be created (${(error as NodeJS.ErrnoException).code})`, out);
  }
  const existing = await listOutput(out);

  const results: FetchedPoster[] = [];
  const firstRowOf = new Map<string, { line: number; url: string }>();
  const finish = (result: FetchedPoster) => {
    results.push(result);
    options.onPoster?.(result);
    progress.tick();
  };

  const fetchRow = async (row: Row): Promise<void> => {
    const id = (table.id === undefined ? String(row.number) : (row.get(table.id) ?? '')).trim();
    const url = (row.get(table.url) ?? '').trim();
    const base = { line: row.line, id, url, bytes: 0, attempts: 0 };
    const fail = (reason: string, attempts = 0) => finish({ ...base, status: 'failed', reason, attempts });
    if (row.invalid) return fail(row.invalid);
    if (id === '') return fail('empty id');
    if (!SAFE_ID.test(id) || id === '.' || id === '..' || id.startsWith('.')) return fail(`id "${id}" cannot be a file name`);
    if (url === '') return fail(`no URL (column "${table.urlName}" is empty)`);
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
        await decodePoster(path, { maxSide: 64, maxBytes: settings.maxBytes });
        return finish({ ...base, status: 'skipped', file: path });
      } catch {
        stale.push(path);
      }
    }

    let bytes: Buffer;
    let attempts = 0;
    for (;;) {
      attempts++;
      try {
        bytes = await attempt(parsed, settings);
        break;
      } catch (error) {
        const failure = classify(error);
        if (!failure.transient || attempts > retries) return fail(attempts > 1 ? `${failure.message} (${attempts} attempts)` : failure.message, attempts);
        const backoff = retryDelayMs * 2 ** (attempts - 1) * (0.5 + Math.random());
        await sleep(Math.max(backoff, failure.retryAfterMs));
      }
    }
    try {
      await decodePoster({ bytes, source: id }, { maxSide: 64, maxBytes: settings.maxBytes });
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

  progress.start('fetching posters', table.rows.length);
  try {
    let next = 0;
    const worker = async () => {
      while (next < table.rows.length) await fetchRow(table.rows[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, table.rows.length) }, worker));
  } finally {
    settings.agents.http.destroy();
    settings.agents.https.destroy();
  }
  const count = (status: FetchedPoster['status']) => results.filter((r) => r.status === status).length;
  const failures = results
    .filter((r) => r.status === 'failed')
    .map(({ line, id, url, reason, attempts }) => ({ line, id, url, reason: reason!, attempts }))
    .sort((a, b) => a.line - b.line);
  const report: FetchReport = {
    data: options.data,
    out,
    rows: table.rows.length,
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

function csvField(value: string | number): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
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
    : ['line,id,url,reason,attempts', ...failures.map((f) => [f.line, f.id, f.url, f.reason, f.attempts].map(csvField).join(','))].join('\n') + '\n';
  await writeFile(path, text);
}
