/**
 * One error type for everything posterscope refuses, with a stable `code`.
 * Each code is mapped once, in {@link ERROR_CODES}, to the CLI's exit status
 * and the server's HTTP status, so a new code without both does not compile.
 *
 * @example
 *   try { await decodePoster('missing.jpg'); }
 *   catch (e) { if (e instanceof PosterscopeError) console.log(e.code, e.message); }
 *   // -> IMAGE_NOT_FOUND missing.jpg: no such file
 */
import { printable } from './printable.js';

export type ErrorCode =
  // The caller asked wrongly.
  | 'USAGE'
  | 'INVALID_ARGUMENT'
  | 'BAD_REQUEST'
  | 'NOT_FOUND'
  | 'TOO_LARGE'
  | 'TOO_MANY_FILES'
  | 'UNSUPPORTED_MEDIA_TYPE'
  // A poster could not be used.
  | 'IMAGE_NOT_FOUND'
  | 'IMAGE_IS_DIRECTORY'
  | 'IMAGE_EMPTY'
  | 'IMAGE_UNSUPPORTED'
  | 'IMAGE_CORRUPT'
  | 'IMAGE_TOO_LARGE'
  // A model file, the data or the cache is not right.
  | 'MODEL_NOT_FOUND'
  | 'MODEL_CHECKSUM_MISMATCH'
  | 'MODEL_INVALID'
  | 'DOWNLOAD_FAILED'
  | 'OFFLINE'
  | 'DATA_INVALID'
  | 'CACHE_CORRUPT'
  | 'WRITE_FAILED'
  // The server could not answer.
  | 'SERVER_BUSY'
  | 'TIMEOUT'
  // The job queue's Redis could not be reached.
  | 'QUEUE_UNAVAILABLE'
  | 'INTERNAL';

/** Process exit codes: 0 success, 1 some input or step failed, 2 the command line was wrong. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export interface ErrorOutcome {
  /** The CLI's exit code. */
  exit: (typeof EXIT)[keyof typeof EXIT];
  /** The server's HTTP status. */
  http: 400 | 404 | 413 | 415 | 422 | 500 | 503 | 504;
}

/**
 * What each code means to a shell and to an HTTP client. Server-side faults
 * (a model file missing on the server, a corrupt cache) are 500: the caller
 * cannot fix them.
 *
 * @example
 *   ERROR_CODES.IMAGE_CORRUPT // -> { exit: 1, http: 422 }
 */
export const ERROR_CODES = {
  USAGE: { exit: EXIT.usage, http: 400 },
  INVALID_ARGUMENT: { exit: EXIT.usage, http: 400 },
  BAD_REQUEST: { exit: EXIT.usage, http: 400 },
  NOT_FOUND: { exit: EXIT.failed, http: 404 },
  TOO_LARGE: { exit: EXIT.failed, http: 413 },
  TOO_MANY_FILES: { exit: EXIT.failed, http: 413 },
  UNSUPPORTED_MEDIA_TYPE: { exit: EXIT.failed, http: 415 },
  IMAGE_NOT_FOUND: { exit: EXIT.failed, http: 400 },
  IMAGE_IS_DIRECTORY: { exit: EXIT.failed, http: 400 },
  IMAGE_EMPTY: { exit: EXIT.failed, http: 422 },
  IMAGE_UNSUPPORTED: { exit: EXIT.failed, http: 415 },
  IMAGE_CORRUPT: { exit: EXIT.failed, http: 422 },
  IMAGE_TOO_LARGE: { exit: EXIT.failed, http: 422 },
  MODEL_NOT_FOUND: { exit: EXIT.failed, http: 500 },
  MODEL_CHECKSUM_MISMATCH: { exit: EXIT.failed, http: 500 },
  MODEL_INVALID: { exit: EXIT.failed, http: 500 },
  DOWNLOAD_FAILED: { exit: EXIT.failed, http: 500 },
  OFFLINE: { exit: EXIT.failed, http: 500 },
  DATA_INVALID: { exit: EXIT.failed, http: 422 },
  CACHE_CORRUPT: { exit: EXIT.failed, http: 500 },
  WRITE_FAILED: { exit: EXIT.failed, http: 500 },
  SERVER_BUSY: { exit: EXIT.failed, http: 503 },
  TIMEOUT: { exit: EXIT.failed, http: 504 },
  QUEUE_UNAVAILABLE: { exit: EXIT.failed, http: 503 },
  INTERNAL: { exit: EXIT.failed, http: 500 },
} as const satisfies Record<ErrorCode, ErrorOutcome>;

export class PosterscopeError extends Error {
  readonly code: ErrorCode;
  /** The file, URL or parameter the error is about, when there is one. */
  readonly subject: string | undefined;

  constructor(code: ErrorCode, message: string, options: { subject?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PosterscopeError';
    this.code = code;
    this.subject = options.subject;
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `string "${printable(excerpt(value))}"`;
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return `array of length ${value.length}`;
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return `${value.constructor.name} of length ${(value as Uint8Array).length}`;
  if (typeof value === 'object') return 'object';
  return `${typeof value} ${String(value)}`;
}

/**
 * Levenshtein distance: the fewest single-character insertions, deletions and
 * substitutions turning `a` into `b` (UTF-16 code units). For "did you mean",
 * and for scoring what text recognition read.
 *
 * @example
 *   editDistance('kitten', 'sitting') // -> 3
 */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/**
 * The candidate closest to a mistyped `value`, if one is close enough to be
 * what was meant (a third of its letters wrong at most, or two).
 *
 * @example
 *   closestMatch('embdd', ['predict', 'embed', 'train']) // -> 'embed'
 *   closestMatch('zzz', ['predict', 'embed']) // -> undefined
 */
export function closestMatch(value: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(value.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return bestDistance <= Math.max(2, Math.floor(value.length / 3)) && bestDistance < value.length ? best : undefined;
}

/**
 * The one message shape for bad parameters: "Expected X for Y but received Z".
 * Long strings are cut and control characters escaped, so the message stays
 * one readable line whatever was passed.
 *
 * @example
 *   invalidParameterError('batchSize', 'integer between 1 and 256', 0).message
 *   // -> 'Expected integer between 1 and 256 for batchSize but received number 0'
 *   invalidParameterError('--format', 'one of json, csv', 'jsn', 'json').message
 *   // -> 'Expected one of json, csv for --format but received string "jsn"; did you mean "json"?'
 */
export function invalidParameterError(name: string, expected: string, actual: unknown, suggestion?: string): PosterscopeError {
  const hint = suggestion === undefined ? '' : `; did you mean "${suggestion}"?`;
  return new PosterscopeError('INVALID_ARGUMENT', `Expected ${expected} for ${name} but received ${describe(actual)}${hint}`, {
    subject: name,
  });
}

/** Throws `invalidParameterError` unless `value` is an integer in [min, max]. */
export function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidParameterError(name, `integer between ${min} and ${max}`, value);
  }
  return value;
}

/**
 * `value` when it is one of `allowed`, else `invalidParameterError` listing
 * them, with the closest as a suggestion.
 *
 * @example
 *   checkOneOf('--split', ['test', 'validation', 'all'], 'tset')
 *   // throws 'Expected one of test, validation, all for --split but received string "tset"; did you mean "test"?'
 */
export function checkOneOf<T extends string>(name: string, allowed: readonly T[], value: unknown): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw invalidParameterError(name, `one of ${allowed.join(', ')}`, value, typeof value === 'string' ? closestMatch(value, allowed) : undefined);
}

/**
 * A failure while handling one poster as a PosterscopeError naming it: kept
 * as it is when it already is one, else IMAGE_CORRUPT with the first line of
 * the cause (libvips messages run over several lines).
 *
 * @example
 *   asPosterError('a.jpg', new Error('VipsJpeg: Premature end of input file\n...'))
 *   // -> PosterscopeError IMAGE_CORRUPT 'a.jpg: VipsJpeg: Premature end of input file'
 */
export function asPosterError(source: string, error: unknown): PosterscopeError {
  if (error instanceof PosterscopeError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new PosterscopeError('IMAGE_CORRUPT', `${posterLabel(source)}: ${printable(message.split('\n')[0]!)}`, { subject: source, cause: error });
}

/**
 * A poster's name as messages show it: control characters escaped, and cut
 * when absurdly long (an upload's file name is whatever the client sent).
 *
 * @example
 *   posterLabel('a\nb.jpg') // -> 'a\\nb.jpg'
 */
export function posterLabel(source: string): string {
  return printable(excerpt(source, 300));
}

/** Longest value quoted whole in a message; longer ones are cut and their length given. */
const SHOWN_CHARACTERS = 80;

/**
 * A value from a data file or a request cut for a message: a 50 MB cell must not become a
 * 50 MB error line.
 *
 * @example
 *   excerpt('tt0000001') // -> 'tt0000001'
 *   excerpt('x'.repeat(50_000_000)) // -> 'xxxxxxxx…xxxx… (50,000,000 characters)' (80 characters kept)
 */
export function excerpt(text: string, max = SHOWN_CHARACTERS): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length.toLocaleString('en-US')} characters)`;
}

const WRITE_REASONS: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'the file system is read-only',
  EIO: 'input/output error',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EFBIG: 'file too large for the file system',
};

/**
 * A failed write (full disk, quota, read-only file system...) as one
 * WRITE_FAILED line naming the file, so a command stops with a message
 * instead of a stack trace. Anything else is returned as it is.
 *
 * @example
 *   asWriteError('/cache/x.pse', Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })).message
 *   // -> '/cache/x.pse: cannot write: no space left on the device (ENOSPC); what was written before is kept'
 */
export function asWriteError(path: string, error: unknown): unknown {
  if (error instanceof PosterscopeError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason = code === undefined ? undefined : WRITE_REASONS[code];
  if (reason === undefined) return error;
  return new PosterscopeError('WRITE_FAILED', `${printable(excerpt(path, 300))}: cannot write: ${reason} (${code}); what was written before is kept`, {
    subject: path,
    cause: error,
  });
}
