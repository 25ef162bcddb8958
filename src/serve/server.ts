/**
 * `createServer`: the JSON API and the web page over one loaded model.
 *
 *   POST /v1/predict         one poster: multipart field `image` (and text fields `title`, `plot`), the raw
 *                            body with an image content type, or a JSON body `{ "title", "plot" }` (text only)
 *   POST /v1/predict/batch   several posters (multipart, per-file text in a JSON field `texts`), or text-only
 *                            items (JSON body `{ "items": [{ "title", "plot" }] }`); one result each
 *   GET  /v1/model           genres, backbone, views, thresholds, metrics, version
 *   GET  /healthz            liveness and queue depth
 *   GET  /openapi.json       generated from the route schemas below
 *   GET  /                   the web page (web/), no external resources
 *   GET  /report             the model's report page (report.html in its bundle), sandboxed
 *
 * Errors are `{ "error": { "code", "message" } }`, the status from the code's
 * row in ERROR_CODES: 400 malformed (text that is not UTF-8 too), 413 too large
 * (a title or plot over `maxTextBytes` too) or too many files, 415 not
 * an image (magic bytes, never the name or content type), 422 undecodable or
 * over the pixel limit, 503 busy or shutting down, 504 timed out. A request
 * costing more than `maxPasses` backbone passes (posters x views x tiles) is
 * 400; a request that times out or whose client hangs up stops costing
 * anything (see queue.ts). A request
 * whose headers and body take longer than `requestTimeoutMs` to arrive gets
 * Node's bare 408 and its connection closed. Every response carries the usual
 * security headers (helmet; the page's CSP allows only its own files). The
 * server never fetches URLs on a caller's behalf.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import helmet from '@fastify/helmet';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifySchema } from 'fastify';
import { ERROR_CODES, type ErrorCode, PosterscopeError, invalidParameterError, posterLabel } from '../errors.js';
import { looksLikePoster, posterSize } from '../image/poster.js';
import { type ViewSpec, parseViews, viewName, viewPasses } from '../image/views.js';
import type { GenreModel, PredictInput, Prediction } from '../model/model.js';
import { REPORT_FILE, reportContentSecurityPolicy, unavailablePage } from '../report/report.js';
import { VERSION } from '../version.js';
import { PredictionQueue, type QueueOptions } from './queue.js';

const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));
const WEB_FILES: Record<string, string> = {
  '/': 'index.html',
  '/app.js': 'app.js',
  '/style.css': 'style.css',
  // The page decides genres with the library's own rule: eval/decide.ts, bundled for the browser by `npm run build`.
  '/decide.js': '../dist/web/decide.js',
};
const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

export interface ServerOptions extends QueueOptions {
  model: GenreModel;
  /** Largest upload accepted, bytes. Default 10 MB. */
  maxBytes?: number;
  /** Most files in one batch request. Default 64. */
  maxFiles?: number;
  /**
   * Most backbone passes (input-size crops, summed over a request's posters
   * and views) one request may cost; beyond it the request gets 400 before
   * any work. Default 1024 (64 posters with the default model's 13 views cost 832).
   */
  maxPasses?: number;
  /**
   * Time allowed for a request's headers and body to arrive, ms; a slower
   * client gets 408 and its connection closed. Default 60000.
   */
  requestTimeoutMs?: number;
  /** Log requests (pino, as fastify does) to stdout. Default false. */
  logger?: boolean;
  /** Longest title or plot accepted, bytes of UTF-8; longer is 413. Default 20000. */
  maxTextBytes?: number;
}

/** Form fields (non-file parts) accepted in one request; the API reads `title`, `plot` and `texts`. */
const MAX_FIELDS = 16;
export const DEFAULT_MAX_TEXT_BYTES = 20_000;

/** A title and a plot, either or both. */
interface TextInput {
  title?: string;
  plot?: string;
}
const TEXT_FIELDS = ['title', 'plot'] as const;

const codeSchema = { type: 'string', enum: Object.keys(ERROR_CODES) } as const;
const errorSchema = {
  type: 'object',
  properties: { error: { type: 'object', properties: { code: codeSchema, message: { type: 'string' } }, required: ['code', 'message'] } },
} as const;

const predictionSchema = {
  type: 'object',
  properties: {
    input: { type: 'string', description: 'The poster\'s file name; for text only, the title (else "(plot)")' },
    inputs: { type: 'array', items: { type: 'string', enum: ['image', 'title', 'plot'] }, description: 'What the model used of what was sent' },
    genres: { type: 'array', items: { type: 'string' } },
    scores: {
      type: 'array',
      items: { type: 'object', properties: { genre: { type: 'string' }, score: { type: 'number' } }, required: ['genre', 'score'] },
    },
    error: { type: 'object', properties: { code: codeSchema, message: { type: 'string' } } },
  },
  required: ['input', 'inputs', 'genres', 'scores'],
} as const;

const textProperties = {
  title: { type: 'string', description: 'The movie\'s title, e.g. "Alien (1979)"; at most maxTextBytes (20,000 by default) bytes of UTF-8' },
  plot: { type: 'string', description: 'A plot summary; at most maxTextBytes bytes of UTF-8' },
} as const;
const textSchema = { type: 'object', properties: textProperties, additionalProperties: false } as const;
const batchTextSchema = {
  type: 'object',
  properties: { items: { type: 'array', items: textSchema, description: 'Text-only inputs, one result each' } },
  required: ['items'],
  additionalProperties: false,
} as const;

/**
 * Request bodies, documented in the OpenAPI document only (each route's
 * `swaggerTransform`) and checked by the handlers: Fastify would validate a
 * schema against multipart bodies it never parses, and its validator
 * coerces a JSON title of 5 into "5" where the handler says it wants a string.
 */
const documentedBodies = {
  single: {
    'application/json': { schema: textSchema },
    'multipart/form-data': {
      schema: { type: 'object', properties: { image: { type: 'string', format: 'binary', description: 'The poster' }, ...textProperties } },
    },
    'image/*': { schema: { type: 'string', format: 'binary', description: 'The poster as the raw body (its magic bytes decide what it is)' } },
  },
  batch: {
    'application/json': { schema: batchTextSchema },
    'multipart/form-data': {
      schema: {
        type: 'object',
        properties: {
          images: { type: 'array', items: { type: 'string', format: 'binary' }, description: 'The posters, any field name' },
          texts: { type: 'string', description: 'JSON array, one { "title", "plot" } or null per file, in file order' },
        },
      },
    },
  },
} as const;

/** A route's OpenAPI entry with the request bodies its handler reads. */
const documentBodies =
  (content: Record<string, unknown>) =>
  ({ schema, url }: { schema: FastifySchema; url: string }) => ({ schema: { ...schema, body: { content } }, url });


const querySchema = {
  type: 'object',
  properties: {
    threshold: { type: 'number', minimum: 0, maximum: 1, description: 'One global threshold instead of the model\'s policy' },
    topK: { type: 'integer', minimum: 1, description: 'At most K genres' },
    tta: { type: 'string', description: 'Comma-separated views or view sets averaged per poster (e.g. single, tiles)' },
  },
  additionalProperties: false,
} as const;

interface PredictQuery {
  threshold?: number;
  topK?: number;
  tta?: string;
}

function fail(code: ErrorCode, message: string): PosterscopeError {
  return new PosterscopeError(code, message);
}

/**
 * What the framework, the multipart parser or anything unexpected threw, as
 * the PosterscopeError the caller is told about. The multipart parser throws
 * plain errors for syntax it cannot read (no boundary, a cut body, a boundary
 * over 256 bytes): those are the caller's malformed request, not a server fault.
 */
function asRequestError(error: Error & { code?: string; statusCode?: number; validation?: unknown }, limits: { maxBytes: number; maxFiles: number }): PosterscopeError {
  if (error instanceof PosterscopeError) return error;
  const firstLine = error.message.split('\n')[0] ?? 'error';
  if (error.validation) return fail('INVALID_ARGUMENT', firstLine);
  switch (error.code) {
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return fail('TOO_LARGE', `upload larger than ${limits.maxBytes} bytes`);
    case 'FST_FILES_LIMIT':
      return fail('TOO_MANY_FILES', `more than ${limits.maxFiles} files in one request; send them in several`);
    case 'FST_FIELDS_LIMIT':
    case 'FST_PARTS_LIMIT':
      return fail('BAD_REQUEST', `more than ${MAX_FIELDS} form fields in one request; send image files and the fields title, plot or texts`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return fail('UNSUPPORTED_MEDIA_TYPE', 'send the poster as multipart/form-data field "image" or as a raw image body, or text as a JSON body');
  }
  if (error.statusCode === 413) return fail('TOO_LARGE', `upload larger than ${limits.maxBytes} bytes`);
  if (error.statusCode === 415) return fail('UNSUPPORTED_MEDIA_TYPE', 'send the poster as multipart/form-data field "image" or as a raw image body, or text as a JSON body');
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) return fail('BAD_REQUEST', firstLine);
  return new PosterscopeError('INTERNAL', firstLine, { cause: error });
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes as UTF-8 text, refusing malformed sequences instead of replacing them with U+FFFD. */
function utf8(bytes: Uint8Array, what: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw fail('INVALID_ARGUMENT', `${what} is not valid UTF-8`);
  }
}

/**
 * The multipart parser decodes fields itself (by the part's charset, UTF-8
 * by default) and turns malformed bytes into U+FFFD, so a field holding
 * U+FFFD is refused as not UTF-8. Reading fields as latin1 to decode them
 * strictly would misread parts that declare `charset=utf-8` (the parser
 * does not pass the charset on); a title really containing U+FFFD is the
 * mark of text already damaged upstream.
 */
function fieldText(value: string, what: string): string {
  if (value.includes('\uFFFD')) throw fail('INVALID_ARGUMENT', `${what} is not valid UTF-8`);
  return value;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A title or plot as sent: a string, well-formed, within the byte limit. */
function checkText(value: unknown, what: string, maxTextBytes: number): string {
  if (typeof value !== 'string') throw invalidParameterError(what, 'a string', value);
  if (LONE_SURROGATE.test(value)) throw fail('INVALID_ARGUMENT', `${what} is not valid Unicode (a lone surrogate)`);
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > maxTextBytes) throw fail('TOO_LARGE', `${what} is ${bytes} bytes of UTF-8; the limit is ${maxTextBytes}`);
  return value;
}

/** `{ title?, plot? }` from a JSON value, every other key refused. */
function textInput(value: unknown, what: string, maxTextBytes: number): TextInput {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value) || Buffer.isBuffer(value)) throw invalidParameterError(what, 'an object with "title" and / or "plot"', value);
  const text: TextInput = {};
  for (const [key, field] of Object.entries(value)) {
    if (!(TEXT_FIELDS as readonly string[]).includes(key)) throw invalidParameterError(`${what} key`, '"title" or "plot"', key);
    if (field === null || field === undefined) continue;
    text[key as 'title' | 'plot'] = checkText(typeof field === 'string' ? fieldText(field, `${what}.${key}`) : field, `${what}.${key}`, maxTextBytes);
  }
  return text;
}

const hasText = (text: TextInput): boolean => TEXT_FIELDS.some((key) => (text[key]?.trim() ?? '') !== '');

/** A poster and its text as one model input; the upload alone when there is no text (the old form). */
function predictInput(image: { source: string; bytes: Buffer } | undefined, text: TextInput): PredictInput {
  if (!hasText(text) && image) return image;
  return { ...(image ? { image } : {}), ...text };
}

/** application/json, application/<x>+json, with or without parameters (charset=utf-8). */
const JSON_TYPE = /^application\/([\w.-]+\+)?json\s*(;|$)/i;
const isJson = (request: FastifyRequest): boolean => JSON_TYPE.test(request.headers['content-type'] ?? '');

/**
 * @example
 *   const app = await createServer({ model: await loadModel() });
 *   await app.listen({ host: '127.0.0.1', port: 7860 });
 */
export async function createServer(options: ServerOptions): Promise<FastifyInstance> {
  const { model } = options;
  const maxBytes = options.maxBytes ?? 10 * 1024 * 1024;
  const maxFiles = options.maxFiles ?? 64;
  const maxPasses = options.maxPasses ?? 1024;
  const requestTimeout = options.requestTimeoutMs ?? 60_000;
  const maxTextBytes = options.maxTextBytes ?? DEFAULT_MAX_TEXT_BYTES;
  const queue = new PredictionQueue(model, options);
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: maxBytes,
    requestTimeout,
    // Node checks for expired requests on this interval: a tenth of the limit keeps the 408 close to it.
    http: { connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(requestTimeout / 10))), headersTimeout: requestTimeout },
    // Shutting down is answered below, as a JSON error like any other.
    return503OnClosing: false,
  });

  // Security headers on every response. The page loads only its own script
  // and stylesheet; previews are blob: URLs of the dropped files.
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:', 'blob:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    // Plain HTTP on loopback by default: whether to pin HTTPS is for the TLS proxy in front to decide.
    strictTransportSecurity: false,
  });

  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async () => {
    if (closing) throw fail('SERVER_BUSY', 'the server is shutting down; retry on another instance');
  });
  // Answers sent while shutting down close their connection, so keep-alive clients do not hold the process open.
  app.addHook('onSend', async (_request, reply) => {
    if (closing) void reply.header('connection', 'close');
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'posterscope', version: VERSION, description: 'Movie genres from posters.' },
    },
  });
  // Bodies are bytes whatever their declared type: the magic bytes decide (415 if not an image).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBytes }, (_req, body, done) => done(null, body));
  // Text as JSON: strict UTF-8 (malformed bytes are refused, never replaced), then parsed.
  app.addContentTypeParser(JSON_TYPE, { parseAs: 'buffer', bodyLimit: maxBytes }, (_req, body, done) => {
    try {
      const text = utf8(body as Buffer, 'the JSON body');
      try {
        done(null, JSON.parse(text));
      } catch (error) {
        done(fail('INVALID_ARGUMENT', `the JSON body is not JSON: ${(error as Error).message}`), undefined);
      }
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  await app.register(multipart, { limits: { fileSize: maxBytes, files: maxFiles, fields: MAX_FIELDS } });

  const sendError = (reply: FastifyReply, error: PosterscopeError) =>
    reply.status(ERROR_CODES[error.code].http).send({ error: { code: error.code, message: error.message.split('\n')[0] } });
  app.setErrorHandler((thrown: Error, _request, reply) => {
    const error = asRequestError(thrown, { maxBytes, maxFiles });
    if (error.code === 'INTERNAL') app.log.error(thrown);
    void sendError(reply, error);
  });
  app.setNotFoundHandler((request, reply) => {
    void sendError(reply, fail('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`));
  });

  const viewsOf = (query: PredictQuery): string[] | undefined => {
    if (!query.tta) return undefined;
    try {
      return parseViews(query.tta).map(viewName);
    } catch (error) {
      throw fail('INVALID_ARGUMENT', (error as Error).message);
    }
  };
  /**
   * Refuses a request whose posters and views would cost more than
   * `maxPasses` backbone passes, priced from the posters' headers before any
   * pixel is decoded (a poster whose header cannot be read costs nothing: it fails).
   */
  const checkCost = async (files: ReadonlyArray<{ bytes: Buffer }>, views: string[] | undefined): Promise<void> => {
    const backbone = model.backbone;
    if (!backbone) return; // a text-only model never runs a backbone
    const specs: ViewSpec[] = parseViews(views ?? model.manifest.views ?? []);
    let passes = 0;
    for (const file of files) {
      const size = await posterSize(file.bytes, options.decode);
      if (size) for (const view of specs) passes += viewPasses(view, size.width, size.height, backbone.viewInput);
    }
    if (passes > maxPasses) {
      throw fail(
        'INVALID_ARGUMENT',
        `Expected at most ${maxPasses} backbone passes for one request but received ${passes} (${files.length} poster${files.length === 1 ? '' : 's'} x ${specs.length} view${specs.length === 1 ? '' : 's'}); send fewer posters or views per request`,
      );
    }
  };
  /** Aborted when the client hangs up before its answer is sent: its queued work is dropped. */
  const hangUp = (reply: FastifyReply): AbortSignal => {
    const controller = new AbortController();
    // Already gone while its body was read: nothing to wait for ('close' has been and gone).
    if (reply.raw.destroyed || reply.raw.socket?.destroyed === true) controller.abort();
    else {
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) controller.abort();
      });
    }
    return controller.signal;
  };
  const finish = (prediction: Prediction, query: PredictQuery): Prediction => {
    if (prediction.error || (query.threshold === undefined && query.topK === undefined)) return prediction;
    const topK = query.topK === undefined ? undefined : Math.min(query.topK, model.genres.length);
    return { ...prediction, genres: model.decide(prediction.scores, { ...(query.threshold !== undefined ? { threshold: query.threshold } : {}), ...(topK ? { topK } : {}) }) };
  };

  interface Upload {
    files: Array<{ source: string; bytes: Buffer }>;
    /** The `title` and `plot` fields (single predictions). */
    text: TextInput;
    /** The `texts` field (batches): one entry per file, in file order. */
    texts: unknown;
  }

  /** The uploaded files and text fields of a request: multipart parts, or the raw body. */
  async function uploads(request: FastifyRequest, single: boolean): Promise<Upload> {
    if (request.isMultipart()) {
      const files: Array<{ source: string; bytes: Buffer }> = [];
      const text: TextInput = {};
      let total = 0;
      // --max-upload bounds the whole request, not each file: 64 files of 10 MB would be 640 MB held at once.
      const counted = (bytes: Buffer) => {
        total += bytes.length;
        if (total > maxBytes) throw fail('TOO_LARGE', `upload larger than ${maxBytes} bytes (all files together)`);
        return bytes;
      };
      let texts: unknown;
      try {
        for await (const part of request.parts({ limits: { fieldSize: Math.max(maxTextBytes * 4, maxBytes) } })) {
          if (part.type === 'field') {
            const name = part.fieldname;
            if (!(single ? ['title', 'plot'] : ['texts']).includes(name)) continue;
            if (part.valueTruncated) throw fail('TOO_LARGE', `field "${name}" is longer than the limit`);
            if (name === 'texts') {
              // A part sent as application/json arrives parsed; its strings are checked where they are read.
              texts = typeof part.value === 'string' ? parseJsonField(fieldText(part.value, 'field "texts"'), 'texts') : part.value;
            } else {
              text[name as 'title' | 'plot'] = checkText(fieldText(String(part.value), `field "${name}"`), name, maxTextBytes);
            }
            continue;
          }
          // Text sent as a file (curl -F plot=@plot.txt): its bytes, decoded strictly.
          if ((single && (part.fieldname === 'title' || part.fieldname === 'plot')) || (!single && part.fieldname === 'texts')) {
            const value = utf8(counted(await part.toBuffer()), `file "${part.fieldname}"`);
            if (part.fieldname === 'texts') texts = parseJsonField(value, 'texts');
            else text[part.fieldname as 'title' | 'plot'] = checkText(value, part.fieldname, maxTextBytes);
            continue;
          }
          const bytes = counted(await part.toBuffer());
          if (single && part.fieldname !== 'image') continue;
          files.push({ source: part.filename || part.fieldname, bytes });
        }
      } catch (error) {
        const { code, statusCode } = error as { code?: string; statusCode?: number };
        // The parser's own limits have codes (413, 400...); anything else it throws is unreadable syntax.
        if (error instanceof PosterscopeError || code !== undefined || statusCode !== undefined) throw error;
        throw fail('BAD_REQUEST', `malformed multipart body: ${(error as Error).message.split('\n')[0]}`);
      }
      return { files, text, texts };
    }
    if (Buffer.isBuffer(request.body) && request.body.length > 0) return { files: [{ source: 'upload', bytes: request.body }], text: {}, texts: undefined };
    throw fail(
      'INVALID_ARGUMENT',
      single ? 'expected a multipart field "image", a raw image body, or a JSON body { "title", "plot" }' : 'expected multipart/form-data with image files, or a JSON body { "items": [{ "title", "plot" }] }',
    );
  }

  function parseJsonField(value: string, name: string): unknown {
    try {
      return JSON.parse(value);
    } catch (error) {
      throw fail('INVALID_ARGUMENT', `field "${name}" is not JSON: ${(error as Error).message}`);
    }
  }

  /** Per-file text of a batch: `texts[i]` goes with file i; fewer entries leave the last files without text. */
  function batchTexts(texts: unknown, files: number): TextInput[] {
    if (texts === undefined) return [];
    if (!Array.isArray(texts)) throw invalidParameterError('field "texts"', 'a JSON array with one { "title", "plot" } per file', texts);
    if (texts.length > files) throw fail('INVALID_ARGUMENT', `field "texts" has ${texts.length} entries but the request has ${files} files; send text-only inputs as a JSON body { "items": [...] }`);
    return texts.map((entry, i) => textInput(entry, `texts[${i}]`, maxTextBytes));
  }

  app.post<{ Querystring: PredictQuery }>(
    '/v1/predict',
    {
      config: { swaggerTransform: documentBodies(documentedBodies.single) },
      schema: {
        summary: 'Genres of one poster, of a poster with its title and plot, or of text alone',
        description:
          'multipart/form-data field `image` with optional text fields `title` and `plot`; the raw image as the body with an image/* content type; ' +
          'or, without a poster, a JSON body `{ "title", "plot" }`. Text over maxTextBytes (20,000 bytes of UTF-8 by default) is 413, text that is not UTF-8 400. ' +
          'The result\'s `inputs` says what the model used: a poster-only model ignores text, and text alone for it is 400.',
        querystring: querySchema,
        response: { 200: predictionSchema, '4xx': errorSchema, '5xx': errorSchema },
      },
    },
    async (request, reply) => {
      const views = viewsOf(request.query);
      if (isJson(request)) {
        const text = textInput(request.body, 'the JSON body', maxTextBytes);
        if (!hasText(text)) throw fail('INVALID_ARGUMENT', 'no title or plot in the JSON body (send a poster as multipart field "image")');
        const [prediction] = await queue.submit([text], views, hangUp(reply));
        if (prediction!.error) throw fail(prediction!.error.code, prediction!.error.message);
        return finish(prediction!, request.query);
      }
      const { files: [file], text } = await uploads(request, true);
      if (!file && !hasText(text)) throw fail('INVALID_ARGUMENT', 'no poster, title or plot in the request (multipart fields "image", "title", "plot")');
      if (file && file.bytes.length === 0) throw fail('IMAGE_EMPTY', `${posterLabel(file.source)}: empty upload`);
      if (file && !looksLikePoster(file.bytes)) throw fail('IMAGE_UNSUPPORTED', `${posterLabel(file.source)}: not an image posterscope reads (JPEG, PNG, WebP, GIF, AVIF, TIFF)`);
      if (file) await checkCost([file], views);
      const [prediction] = await queue.submit([predictInput(file, text)], views, hangUp(reply));
      if (prediction!.error) throw fail(prediction!.error.code, prediction!.error.message);
      return finish(prediction!, request.query);
    },
  );

  app.post<{ Querystring: PredictQuery }>(
    '/v1/predict/batch',
    {
      config: { swaggerTransform: documentBodies(documentedBodies.batch) },
      schema: {
        summary: 'Genres of several posters (each with optional text), or of several texts',
        description:
          'multipart/form-data with any number of image files and an optional field `texts`: a JSON array with one `{ "title", "plot" }` (or null) per file, in file order. ' +
          'Or, without posters, a JSON body `{ "items": [{ "title", "plot" }, ...] }`. The result array follows the files\' (items\') order, and one that cannot be used gets its own `error`.',
        querystring: querySchema,
        response: { 200: { type: 'array', items: predictionSchema }, '4xx': errorSchema, '5xx': errorSchema },
      },
    },
    async (request, reply) => {
      const views = viewsOf(request.query);
      if (isJson(request)) {
        const body = request.body;
        if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidParameterError('the JSON body', 'an object { "items": [{ "title", "plot" }] }', body);
        const extra = Object.keys(body).find((key) => key !== 'items');
        if (extra !== undefined) throw invalidParameterError('the JSON body key', '"items"', extra);
        const { items } = body as { items?: unknown };
        if (!Array.isArray(items) || items.length === 0) throw fail('INVALID_ARGUMENT', 'no items in the JSON body { "items": [{ "title", "plot" }] }');
        if (items.length > maxFiles) throw fail('TOO_MANY_FILES', `more than ${maxFiles} items in one request; send them in several`);
        const texts = items.map((item, i) => textInput(item, `items[${i}]`, maxTextBytes));
        return (await queue.submit(texts, views, hangUp(reply))).map((prediction) => finish(prediction, request.query));
      }
      if (!request.isMultipart()) throw fail('INVALID_ARGUMENT', 'expected multipart/form-data with image files, or a JSON body { "items": [{ "title", "plot" }] }');
      const { files, texts: textsField } = await uploads(request, false);
      if (files.length === 0) throw fail('INVALID_ARGUMENT', 'no files in the request');
      const texts = batchTexts(textsField, files.length);
      const results: Prediction[] = files.map((f) => ({ input: f.source, inputs: [], genres: [], scores: [] }));
      const readable = files.flatMap((file, i) => {
        if (file.bytes.length > 0 && looksLikePoster(file.bytes)) return [i];
        results[i]!.error =
          file.bytes.length === 0
            ? { code: 'IMAGE_EMPTY', message: `${posterLabel(file.source)}: empty upload` }
            : { code: 'IMAGE_UNSUPPORTED', message: `${posterLabel(file.source)}: not an image posterscope reads (JPEG, PNG, WebP, GIF, AVIF, TIFF)` };
        return [];
      });
      if (readable.length > 0) {
        await checkCost(readable.map((i) => files[i]!), views);
        const predictions = await queue.submit(readable.map((i) => predictInput(files[i]!, texts[i] ?? {})), views, hangUp(reply));
        readable.forEach((i, k) => (results[i] = finish(predictions[k]!, request.query)));
      }
      return results;
    },
  );

  app.get('/v1/model', { schema: { summary: 'The loaded model' } }, async () => {
    const { manifest } = model;
    return {
      version: VERSION,
      createdAt: manifest.createdAt,
      genres: model.genres,
      accepts: model.accepts,
      limits: { maxTextBytes, maxFiles, maxBytes },
      views: manifest.views,
      thresholds: manifest.thresholds,
      backbone: manifest.backbone ? { id: manifest.backbone.id, sha256: manifest.backbone.sha256 } : null,
      metrics: manifest.metrics ?? {},
    };
  });

  app.get('/healthz', { schema: { summary: 'Liveness and queue depth' } }, async () => ({
    status: 'ok',
    queued: queue.waiting,
    batches: queue.stats.batches,
    posters: queue.stats.posters,
    cancelled: queue.stats.cancelled,
  }));

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  for (const [route, file] of Object.entries(WEB_FILES)) {
    app.get(route, { schema: { hide: true } }, async (_request, reply: FastifyReply) => {
      const body = await readFile(`${WEB_DIR}${file}`);
      return reply.type(CONTENT_TYPES[file.split('.').pop()!]!).header('cache-control', 'no-cache').send(body);
    });
  }

  // The served model's report page (report.html in its bundle, written by `train` or `report`),
  // under a CSP of its own: its inline script by hash, sandboxed away from this origin's API.
  app.get('/report', { schema: { hide: true } }, async (_request, reply: FastifyReply) => {
    const html = await readFile(join(model.path, REPORT_FILE), 'utf8').catch(() => undefined);
    // The stand-in names no server path: the client only learns how to make one.
    const page = html ?? unavailablePage(`This model has no ${REPORT_FILE}. Make one with: posterscope report --model DIR --out DIR/${REPORT_FILE}`);
    return reply
      .status(html === undefined ? 404 : 200)
      .type(CONTENT_TYPES.html!)
      .header('cache-control', 'no-cache')
      .header('content-security-policy', reportContentSecurityPolicy(page, { served: true }))
      // A sandboxed page has an opaque origin: asking to key it by origin only earns a console warning.
      .removeHeader('origin-agent-cluster')
      .send(page);
  });

  // Finish queued work before the process lets go of the model.
  app.addHook('onClose', async () => {
    await queue.drain();
  });
  return app;
}
