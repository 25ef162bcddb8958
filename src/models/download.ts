/**
 * Downloads one file over HTTP(S) so that `dest` only ever holds a complete,
 * verified file: bytes stream into a private temp file next to `dest`, are
 * hashed on the way, checked, fsynced, and only then renamed into place.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PosterscopeError, checkInteger, invalidParameterError } from '../errors.js';
import { type Progress, silentProgress } from '../progress.js';

export interface DownloadOptions {
  /** Expected lower-case hex sha256. Default: null (content not checked). */
  sha256?: string | null;
  /** Expected size in bytes. Default: null (any size accepted). */
  size?: number | null;
  /** Byte progress, restarted on each attempt; total from Content-Length. Default: `silentProgress`. */
  progress?: Progress;
  /** Progress label. Default: `basename(dest)`. */
  label?: string;
  /** Idle timeout per request: fail when no bytes arrive for this long, in ms. Default: 30000. */
  timeoutMs?: number;
  /** How many times a transient failure (cut connection, timeout, 5xx, 429) is retried. Default: 3. */
  retries?: number;
  /** Delay before the first retry in ms; doubles for each further retry. Default: 500. */
  retryDelayMs?: number;
  /** Redirects followed per request. Default: 5. */
  maxRedirects?: number;
}

export interface DownloadedFile {
  path: string;
  sha256: string;
  size: number;
}

interface Settings {
  url: string;
  sha256: string | null;
  size: number | null;
  progress: Progress;
  label: string;
  timeoutMs: number;
  maxRedirects: number;
  /** Whether `progress` was started, so a failure before any byte prints no summary. */
  started: boolean;
}

/** One failed attempt; only `transient` ones are worth retrying. */
class AttemptFailure extends Error {
  constructor(
    message: string,
    readonly transient: boolean,
  ) {
    super(message);
  }
}

// Network hiccups worth another try. ENOTFOUND / ENETUNREACH are left out on
// purpose: they usually mean "no network at all", and retrying only delays the
// error an offline user needs to see.
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNABORTED', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN']);

const STALE_PART_MS = 24 * 60 * 60 * 1000;

/**
 * Downloads `url` to `dest`, following up to 5 redirects and retrying transient
 * failures with exponential backoff. A failed or killed download never leaves a
 * file at `dest`; temp files (`<dest>.part-<pid>-<random>`) are removed on
 * failure, and ones older than a day (left by killed processes) are swept.
 *
 * Throws `PosterscopeError` 'MODEL_CHECKSUM_MISMATCH' (not retried) when size
 * or sha256 differ, 'DOWNLOAD_FAILED' otherwise, with the last reason.
 *
 * @example
 *   await downloadFile('https://example.org/m.onnx', '/tmp/m.onnx', { sha256: 'e3b0c442…', size: 0 });
 *   // -> { path: '/tmp/m.onnx', sha256: 'e3b0c442…', size: 0 }
 */
export async function downloadFile(url: string, dest: string, options: DownloadOptions = {}): Promise<DownloadedFile> {
  const parsed = parseHttpUrl(url);
  const retries = checkInteger('retries', options.retries ?? 3, 0, 100);
  const retryDelayMs = checkInteger('retryDelayMs', options.retryDelayMs ?? 500, 0, 3_600_000);
  const settings: Settings = {
    url,
    sha256: options.sha256 ?? null,
    size: options.size ?? null,
    progress: options.progress ?? silentProgress,
    label: options.label ?? basename(dest),
    timeoutMs: checkInteger('timeoutMs', options.timeoutMs ?? 30_000, 1, 2 ** 31 - 1),
    maxRedirects: checkInteger('maxRedirects', options.maxRedirects ?? 5, 0, 100),
    started: false,
  };

  await removeStaleParts(dest);
  for (let attempt = 1; ; attempt++) {
    const part = `${dest}.part-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      // Inside the try so an unwritable cache becomes a DOWNLOAD_FAILED naming the reason.
      await mkdir(dirname(dest), { recursive: true });
      const { sha256, size } = await fetchToFile(parsed, part, settings);
      await rename(part, dest);
      await syncDirectory(dirname(dest));
      settings.progress.done();
      return { path: dest, sha256, size };
    } catch (error) {
      await unlink(part).catch(() => {});
      const failure = classify(error);
      const final = failure instanceof PosterscopeError || !failure.transient || attempt > retries;
      if (final && settings.started) settings.progress.done(`${settings.label}: download failed`);
      if (failure instanceof PosterscopeError) throw failure;
      if (final) {
        const tries = attempt > 1 ? ` (${attempt} attempts)` : '';
        throw new PosterscopeError('DOWNLOAD_FAILED', `download of ${url} failed: ${failure.message}${tries}`, {
          subject: url,
          cause: error,
        });
      }
      await sleep(retryDelayMs * 2 ** (attempt - 1));
    }
  }
}

function parseHttpUrl(url: string): URL {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // reported below with the one message shape for bad parameters
  }
  if (parsed?.protocol !== 'http:' && parsed?.protocol !== 'https:') {
    throw invalidParameterError('url', 'an http: or https: URL', url);
  }
  return parsed;
}

function classify(error: unknown): AttemptFailure | PosterscopeError {
  if (error instanceof AttemptFailure || error instanceof PosterscopeError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return new AttemptFailure(message, code !== undefined && TRANSIENT_CODES.has(code));
}

function mismatch(settings: Settings, detail: string): PosterscopeError {
  return new PosterscopeError('MODEL_CHECKSUM_MISMATCH', `download of ${settings.url} failed: ${detail}`, {
    subject: settings.url,
  });
}

/** Streams one response body into `part`, hashing as it goes. */
async function fetchToFile(url: URL, part: string, settings: Settings): Promise<{ sha256: string; size: number }> {
  const { response, idle } = await openResponse(url, settings);
  try {
    const header = Number(response.headers['content-length'] ?? NaN);
    const declared = Number.isSafeInteger(header) && header >= 0 ? header : undefined;
    // Fail before fetching 100 MB of the wrong file.
    if (settings.size !== null && declared !== undefined && declared !== settings.size) {
      throw mismatch(settings, `size mismatch: expected ${settings.size} bytes, server sends ${declared}`);
    }
    settings.progress.start(settings.label, declared ?? settings.size ?? undefined, 'B');
    settings.started = true;

    const hash = createHash('sha256');
    let received = 0;
    const file = await open(part, 'wx');
    try {
      for await (const chunk of response as AsyncIterable<Buffer>) {
        idle.touch();
        received += chunk.length;
        if (settings.size !== null && received > settings.size) {
          throw mismatch(settings, `size mismatch: expected ${settings.size} bytes, server sent more`);
        }
        hash.update(chunk);
        await file.write(chunk);
        settings.progress.tick(chunk.length);
      }
      await file.sync();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== undefined && TRANSIENT_CODES.has(code)) {
        throw new AttemptFailure(`connection cut after ${received} of ${declared ?? '?'} bytes`, true);
      }
      throw error;
    } finally {
      await file.close();
    }

    if (declared !== undefined && received < declared) {
      throw new AttemptFailure(`connection cut after ${received} of ${declared} bytes`, true);
    }
    const sha256 = hash.digest('hex');
    if (settings.size !== null && received !== settings.size) {
      throw mismatch(settings, `size mismatch: expected ${settings.size} bytes, got ${received} (sha256 ${sha256})`);
    }
    if (settings.sha256 !== null && sha256 !== settings.sha256) {
      throw mismatch(settings, `sha256 mismatch: expected ${settings.sha256}, got ${sha256}`);
    }
    return { sha256, size: received };
  } finally {
    idle.clear();
    response.destroy();
  }
}

/** Fails a request when no bytes arrive for `ms`, from connect to last chunk. */
class IdleTimer {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ms: number,
    private target: { destroy(error: Error): void },
  ) {
    this.touch();
  }

  /** Moves the timeout to the response once headers are in, so a stalled body aborts the body read. */
  watch(target: { destroy(error: Error): void }): void {
    this.target = target;
    this.touch();
  }

  touch(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.target.destroy(new AttemptFailure(`no data for ${this.ms} ms`, true)), this.ms);
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}

function request(url: URL, settings: Settings): Promise<{ response: http.IncomingMessage; idle: IdleTimer }> {
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    // agent: false => no keep-alive socket outlives the download.
    const req = client.get(url, { agent: false, headers: { 'accept-encoding': 'identity', 'user-agent': 'posterscope' } });
    const idle = new IdleTimer(settings.timeoutMs, req);
    req.on('response', (response) => {
      idle.watch(response);
      resolve({ response, idle });
    });
    req.on('error', (error) => {
      idle.clear();
      reject(error);
    });
  });
}

/** Sends the request, follows redirects, and returns a 200 response. */
async function openResponse(url: URL, settings: Settings): Promise<{ response: http.IncomingMessage; idle: IdleTimer }> {
  let current = url;
  for (let followed = 0; ; followed++) {
    const { response, idle } = await request(current, settings);
    const status = response.statusCode ?? 0;
    if (status === 200) return { response, idle };
    idle.clear();
    response.destroy();
    const location = response.headers.location;
    if (status >= 300 && status < 400 && location !== undefined) {
      if (followed >= settings.maxRedirects) throw new AttemptFailure(`more than ${settings.maxRedirects} redirects`, false);
      const next = new URL(location, current);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new AttemptFailure(`redirect to unsupported URL ${next.href}`, false);
      }
      // Without a known checksum, TLS is all that vouches for the bytes.
      if (current.protocol === 'https:' && next.protocol === 'http:') {
        throw new AttemptFailure(`refused redirect from https to ${next.href}`, false);
      }
      current = next;
      continue;
    }
    const transient = status >= 500 || status === 429 || status === 408;
    throw new AttemptFailure(`HTTP ${status} ${response.statusMessage ?? ''}`.trim(), transient);
  }
}

/** Removes `<dest>.part-*` files left by killed processes more than a day ago. */
async function removeStaleParts(dest: string): Promise<void> {
  const dir = dirname(dest);
  const prefix = `${basename(dest)}.part-`;
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const path = join(dir, name);
    const info = await stat(path).catch(() => undefined);
    // A recent part file may be another process's download in progress.
    if (info?.isFile() && Date.now() - info.mtimeMs > STALE_PART_MS) await unlink(path).catch(() => {});
  }
}

/** Makes the rename durable; best effort, as not every platform can fsync a directory. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // the file itself is already fsynced; losing the rename only costs a re-download
  }
}
