/**
 * Downloads one file over HTTP(S) so that `dest` only ever holds a complete,
 * verified file: bytes stream into a private temp file next to `dest`, are
 * hashed on the way, checked, fsynced, and only then renamed into place.
 * Requests, redirects, timeouts and retries are the shared client's
 * (src/net/http.ts).
 */
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { openAtomicFile, removeStaleTemporaries } from '../atomic-file.js';
import { PosterscopeError, checkInteger, invalidParameterError } from '../errors.js';
import { type HttpClient, createHttpClient, withRetries } from '../net/http.js';
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
  /** How many times a transient failure (cut connection, timeout, 5xx, 429, 408) is retried. Default: 3. */
  retries?: number;
  /** Delay before the first retry in ms; doubles for each further retry, with jitter, and waits at least a server's Retry-After. Default: 500. */
  retryDelayMs?: number;
  /** Redirects followed per request (never from https to http). Default: 5. */
  maxRedirects?: number;
  /** Stops the download; it rejects with the signal's reason and leaves no file. */
  signal?: AbortSignal;
}

export interface DownloadedFile {
  path: string;
  sha256: string;
  size: number;
}

interface Settings {
  url: string;
  dest: string;
  sha256: string | null;
  size: number | null;
  progress: Progress;
  label: string;
  timeoutMs: number;
  maxRedirects: number;
  signal: AbortSignal | undefined;
  /** Whether `progress` was started, so a failure before any byte prints no summary. */
  started: boolean;
}

/**
 * Downloads `url` to `dest`, following up to 5 redirects and retrying transient
 * failures with exponential backoff. A failed or killed download never leaves a
 * file at `dest`; temp files (`.<name>.<pid>-<random>.tmp` beside it) are
 * removed on failure, and ones older than a day (left by killed processes) are swept.
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
    dest,
    sha256: options.sha256 ?? null,
    size: options.size ?? null,
    progress: options.progress ?? silentProgress,
    label: options.label ?? basename(dest),
    timeoutMs: checkInteger('timeoutMs', options.timeoutMs ?? 30_000, 1, 2 ** 31 - 1),
    maxRedirects: checkInteger('maxRedirects', options.maxRedirects ?? 5, 0, 100),
    signal: options.signal,
    started: false,
  };

  await removeStaleTemporaries(dirname(dest), basename(dest));
  const client = createHttpClient();
  let attempts = 0;
  try {
    const got = await withRetries(
      (n) => {
        attempts = n;
        return fetchToFile(client, parsed, settings);
      },
      { retries, retryDelayMs, ...(settings.signal ? { signal: settings.signal } : {}) },
    );
    settings.progress.done();
    return { path: dest, ...got };
  } catch (error) {
    if (settings.started) settings.progress.done(`${settings.label}: download failed`);
    if (error instanceof PosterscopeError || settings.signal?.aborted) throw error;
    const message = error instanceof Error ? error.message : String(error);
    const tries = attempts > 1 ? ` (${attempts} attempts)` : '';
    throw new PosterscopeError('DOWNLOAD_FAILED', `download of ${url} failed: ${message}${tries}`, { subject: url, cause: error });
  } finally {
    client.close();
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

function mismatch(settings: Settings, detail: string): PosterscopeError {
  return new PosterscopeError('MODEL_CHECKSUM_MISMATCH', `download of ${settings.url} failed: ${detail}`, {
    subject: settings.url,
  });
}

/** One attempt: streams the response body into a temp file, hashing as it goes, and renames it into place once verified. */
async function fetchToFile(client: HttpClient, url: URL, settings: Settings): Promise<{ sha256: string; size: number }> {
  // Inside the attempt so an unwritable cache becomes a DOWNLOAD_FAILED naming the reason.
  await mkdir(dirname(settings.dest), { recursive: true });
  const response = await client.get(url, {
    idleTimeoutMs: settings.timeoutMs,
    maxRedirects: settings.maxRedirects,
    ...(settings.signal ? { signal: settings.signal } : {}),
  });
  try {
    const declared = response.declaredBytes;
    // Fail before fetching 100 MB of the wrong file.
    if (settings.size !== null && declared !== undefined && declared !== settings.size) {
      throw mismatch(settings, `size mismatch: expected ${settings.size} bytes, server sends ${declared}`);
    }
    settings.progress.start(settings.label, declared ?? settings.size ?? undefined, 'B');
    settings.started = true;
    const file = await openAtomicFile(settings.dest);
    try {
      const hash = createHash('sha256');
      let received = 0;
      for await (const chunk of response.chunks()) {
        received += chunk.length;
        if (settings.size !== null && received > settings.size) {
          throw mismatch(settings, `size mismatch: expected ${settings.size} bytes, server sent more`);
        }
        hash.update(chunk);
        await file.write(chunk);
        settings.progress.tick(chunk.length);
      }
      const sha256 = hash.digest('hex');
      if (settings.size !== null && received !== settings.size) {
        throw mismatch(settings, `size mismatch: expected ${settings.size} bytes, got ${received} (sha256 ${sha256})`);
      }
      if (settings.sha256 !== null && sha256 !== settings.sha256) {
        throw mismatch(settings, `sha256 mismatch: expected ${settings.sha256}, got ${sha256}`);
      }
      await file.commit();
      return { sha256, size: received };
    } finally {
      await file.abort();
    }
  } finally {
    response.close();
  }
}
