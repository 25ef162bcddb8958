/**
 * One error type for everything posterscope refuses, with a stable `code` the
 * CLI maps to an exit status and the server to an HTTP status.
 *
 * @example
 *   try { await decodePoster('missing.jpg'); }
 *   catch (e) { if (e instanceof PosterscopeError) console.log(e.code, e.message); }
 *   // -> IMAGE_NOT_FOUND missing.jpg: no such file
 */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'IMAGE_NOT_FOUND'
  | 'IMAGE_IS_DIRECTORY'
  | 'IMAGE_EMPTY'
  | 'IMAGE_UNSUPPORTED'
  | 'IMAGE_CORRUPT'
  | 'IMAGE_TOO_LARGE'
  | 'MODEL_NOT_FOUND'
  | 'MODEL_CHECKSUM_MISMATCH'
  | 'MODEL_INVALID'
  | 'DOWNLOAD_FAILED'
  | 'OFFLINE'
  | 'DATA_INVALID'
  | 'CACHE_CORRUPT'
  | 'SERVER_BUSY'
  | 'TIMEOUT';

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
  if (typeof value === 'string') return `string "${value}"`;
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return `array of length ${value.length}`;
  if (typeof value === 'object') return 'object';
  return `${typeof value} ${String(value)}`;
}

/**
 * The one message shape for bad parameters.
 *
 * @example
 *   invalidParameterError('batchSize', 'integer between 1 and 256', 0).message
 *   // -> 'Expected integer between 1 and 256 for batchSize but received number 0'
 */
export function invalidParameterError(name: string, expected: string, actual: unknown): PosterscopeError {
  return new PosterscopeError('INVALID_ARGUMENT', `Expected ${expected} for ${name} but received ${describe(actual)}`, {
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
  return new PosterscopeError('IMAGE_CORRUPT', `${source}: ${message.split('\n')[0]}`, { subject: source, cause: error });
}

/**
 * A value from a data file cut for a message: a 50 MB cell must not become a
 * 50 MB error line.
 *
 * @example
 *   excerpt('tt0000001') // -> 'tt0000001'
 *   excerpt('x'.repeat(50_000_000)) // -> 'xxxxxxxx…xxxx… (50,000,000 characters)' (80 characters kept)
 */
export function excerpt(text: string, max = 80): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length.toLocaleString('en-US')} characters)`;
}
