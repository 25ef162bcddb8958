/**
 * The one HTTP(S) client and the one retry policy: model downloads and poster
 * fetches both go through here, so they follow redirects, time out, classify
 * failures and back off the same way.
 *
 * - GET only, redirects followed (up to `maxRedirects`); a redirect from
 *   https to http is refused (without a known checksum TLS is all that
 *   vouches for the bytes), as is one to any other scheme.
 * - An attempt fails as *transient* (worth another try) on connection errors
 *   (reset, refused, timed out, DNS try-again), timeouts, a body cut short,
 *   and HTTP 5xx / 429 / 408; anything else (404, 403, host not found, no
 *   network, too large, too many redirects) fails at once.
 * - `withRetries`: exponential backoff from `retryDelayMs`, doubled for each
 *   retry with jitter (×1–2), and never sooner than the server's Retry-After
 *   (seconds or a date, capped at a minute).
 */
import http from 'node:http';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import pRetry from 'p-retry';

/** One failed attempt; only `transient` ones are retried. */
export class HttpFailure extends Error {
  override name = 'HttpFailure';
  constructor(
    message: string,
    readonly transient: boolean,
    /** How long the server asked us to wait (Retry-After), in ms; 0 when it did not say. */
    readonly retryAfterMs = 0,
  ) {
    super(message);
  }
}

// Network hiccups worth another try. ENOTFOUND / ENETUNREACH / EHOSTUNREACH
// are left out on purpose: they usually mean "no network" or "no such host",
// and retrying only delays the error an offline user needs to see.
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNABORTED', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN']);
const MAX_RETRY_AFTER_MS = 60_000;

export interface HttpClientOptions {
  /** Keep connections open between requests to the same host (a batch of posters). Default false. */
  keepAlive?: boolean;
  /** Connections per host when `keepAlive`. Default 4. */
  maxSockets?: number;
}

export interface GetOptions {
  /** Fail the attempt when no bytes arrive for this long, from connecting to the last byte ("no data for N ms"). Default 30000. */
  idleTimeoutMs?: number;
  /** Fail the attempt when it takes longer than this, redirects and body included ("timed out after N ms"). Default: no limit. */
  timeoutMs?: number;
  /** Redirects followed. Default 5. */
  maxRedirects?: number;
  /** Largest body accepted, in bytes (declared or received). Default: no limit. */
  maxBytes?: number;
  /** The Accept header. Default any. */
  accept?: string;
  /** Stops the attempt at once; the attempt rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** A 200 response whose body has not been read yet. */
export interface HttpResponse {
  /** The URL answered, after redirects. */
  url: URL;
  /** Content-Length, when the server sent a valid one. */
  declaredBytes: number | undefined;
  /** The body as it arrives; rejects with a transient HttpFailure when cut short or stalled. */
  chunks(): AsyncIterable<Buffer>;
  /** The whole body. */
  bytes(): Promise<Buffer>;
  /** Releases the connection and timers; call it when done, read or not. */
  close(): void;
}

function classify(error: unknown): unknown {
  if (error instanceof HttpFailure) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ABORT_ERR') return error;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ENOTFOUND') return new HttpFailure(`host not found (${message})`, false);
  return new HttpFailure(message, code !== undefined && TRANSIENT_CODES.has(code));
}

/** Retry-After in ms: delta-seconds or an HTTP date; 0 when absent or unreadable. */
function retryAfterMs(response: http.IncomingMessage): number {
  const value = response.headers['retry-after'];
  if (value === undefined) return 0;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - Date.now();
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, MAX_RETRY_AFTER_MS) : 0;
}

/**
 * The client: keep-alive agents when asked, released by `close()`.
 *
 * @example
 *   const client = createHttpClient({ keepAlive: true, maxSockets: 4 });
 *   try {
 *     const response = await client.get('https://example.org/poster.jpg', { timeoutMs: 15000, maxBytes: 50 * 2 ** 20 });
 *     const bytes = await response.bytes(); // -> <Buffer ff d8 ff e0 …>
 *   } finally {
 *     client.close();
 *   }
 */
export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  return new Client(options);
}

export interface HttpClient {
  /** GETs `url`, following redirects, and resolves with the 200 response; rejects with an HttpFailure (or the signal's reason). */
  get(url: URL | string, options?: GetOptions): Promise<HttpResponse>;
  /** Closes kept-alive connections. */
  close(): void;
}

class Client implements HttpClient {
  private readonly agents: { http: http.Agent | false; https: https.Agent | false };

  constructor(options: HttpClientOptions) {
    const keep = { keepAlive: true, maxSockets: options.maxSockets ?? 4 };
    // agent: false => no socket outlives a one-off download.
    this.agents = options.keepAlive ? { http: new http.Agent(keep), https: new https.Agent(keep) } : { http: false, https: false };
  }

  close(): void {
    if (this.agents.http) this.agents.http.destroy();
    if (this.agents.https) this.agents.https.destroy();
  }

  get(url: URL | string, options: GetOptions = {}): Promise<HttpResponse> {
    const idleMs = options.idleTimeoutMs ?? 30_000;
    const maxRedirects = options.maxRedirects ?? 5;
    const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    let active: { destroy(error?: Error): void } | undefined;
    let idle: NodeJS.Timeout | undefined;
    let deadline: NodeJS.Timeout | undefined;
    let failure: unknown;
    const fail = (error: unknown) => {
      failure ??= error;
      active?.destroy(error instanceof Error ? error : undefined);
    };
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => fail(new HttpFailure(`no data for ${idleMs} ms`, true)), idleMs);
    };
    const onAbort = () => fail(options.signal!.reason);
    const release = () => {
      clearTimeout(idle);
      clearTimeout(deadline);
      options.signal?.removeEventListener('abort', onAbort);
      active?.destroy();
    };
    if (options.timeoutMs !== undefined) {
      const ms = options.timeoutMs;
      deadline = setTimeout(() => fail(new HttpFailure(`timed out after ${ms} ms`, true)), ms);
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const request = (current: URL) =>
      new Promise<http.IncomingMessage>((resolve, reject) => {
        if (failure !== undefined) return reject(failure);
        const secure = current.protocol === 'https:';
        const headers = { accept: options.accept ?? '*/*', 'accept-encoding': 'identity', 'user-agent': 'posterscope' };
        const req = (secure ? https : http).get(current, { agent: secure ? this.agents.https : this.agents.http, headers });
        active = req;
        touch();
        req.on('response', (response) => {
          active = response;
          touch();
          resolve(response);
        });
        req.on('error', (error) => reject(failure ?? classify(error)));
      });

    const open = async (): Promise<HttpResponse> => {
      let current = typeof url === 'string' ? new URL(url) : url;
      for (let followed = 0; ; followed++) {
        const response = await request(current);
        const status = response.statusCode ?? 0;
        if (status === 200) return body(current, response);
        response.resume();
        const location = response.headers.location;
        if (status >= 300 && status < 400 && location !== undefined) {
          if (followed >= maxRedirects) throw new HttpFailure(`more than ${maxRedirects} redirects`, false);
          let next: URL;
          try {
            next = new URL(location, current);
          } catch {
            throw new HttpFailure(`redirect to an invalid URL "${location}"`, false);
          }
          if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new HttpFailure(`redirect to unsupported URL ${next.href}`, false);
          if (current.protocol === 'https:' && next.protocol === 'http:') throw new HttpFailure(`refused redirect from https to ${next.href}`, false);
          current = next;
          continue;
        }
        const transient = status >= 500 || status === 429 || status === 408;
        throw new HttpFailure(`HTTP ${status} ${response.statusMessage ?? ''}`.trim(), transient, transient ? retryAfterMs(response) : 0);
      }
    };

    const body = (answered: URL, response: http.IncomingMessage): HttpResponse => {
      const header = Number(response.headers['content-length'] ?? NaN);
      const declared = Number.isSafeInteger(header) && header >= 0 ? header : undefined;
      const tooLarge = () => new HttpFailure(`larger than the limit of ${maxBytes} bytes`, false);
      if (declared !== undefined && declared > maxBytes) throw tooLarge();
      async function* chunks(): AsyncGenerator<Buffer> {
        let received = 0;
        const cut = () => new HttpFailure(`connection cut after ${received} of ${declared ?? '?'} bytes`, true);
        try {
          for await (const chunk of response as AsyncIterable<Buffer>) {
            touch();
            received += chunk.length;
            if (received > maxBytes) throw tooLarge();
            yield chunk;
          }
        } catch (error) {
          if (failure !== undefined) throw failure;
          if (error instanceof HttpFailure) throw error;
          throw cut();
        }
        if (failure !== undefined) throw failure;
        if ((declared !== undefined && received < declared) || !response.complete) throw cut();
      }
      return {
        url: answered,
        declaredBytes: declared,
        chunks,
        async bytes() {
          const parts: Buffer[] = [];
          for await (const chunk of chunks()) parts.push(chunk);
          return Buffer.concat(parts);
        },
        close: release,
      };
    };

    return open().catch((error: unknown) => {
      release();
      throw failure ?? classify(error);
    });
  }
}

export interface RetryOptions {
  /** Retries after the first attempt. */
  retries: number;
  /** Delay before the first retry, in ms; doubled for each further one, times a random 1–2. */
  retryDelayMs: number;
  /** Stops waiting and retrying; rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Runs `attempt` (given its 1-based number) until it resolves, throws
 * anything but a transient HttpFailure, or `retries` retries are used up;
 * rejects with the last error.
 *
 * @example
 *   let attempts = 0;
 *   const bytes = await withRetries(async (n) => {
 *     attempts = n;
 *     const response = await client.get(url);
 *     try { return await response.bytes(); } finally { response.close(); }
 *   }, { retries: 3, retryDelayMs: 500 });
 *   // a 503 with Retry-After: 2, then a 200 -> resolves after about 2 s; attempts === 2
 */
export function withRetries<T>(attempt: (attemptNumber: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { retries, retryDelayMs, signal } = options;
  return pRetry(attempt, {
    retries,
    minTimeout: retryDelayMs,
    factor: 2,
    randomize: true,
    ...(signal ? { signal } : {}),
    shouldRetry: async ({ error, retriesConsumed }) => {
      if (!(error instanceof HttpFailure) || !error.transient) return false;
      // p-retry then waits its own backoff, at least retryDelayMs * 2^retriesConsumed: make the total reach Retry-After.
      const more = error.retryAfterMs - retryDelayMs * 2 ** retriesConsumed;
      if (more > 0) await sleep(more, undefined, signal ? { signal } : {});
      return true;
    },
  });
}
