/**
 * `createServer`: the JSON API and the web page over one loaded model.
 *
 *   POST /v1/predict         one poster: multipart field `image`, or the raw body with an image content type
 *   POST /v1/predict/batch   several posters (multipart), one result each, failures per item
 *   GET  /v1/model           genres, backbone, views, thresholds, metrics, version
 *   GET  /healthz            liveness and queue depth
 *   GET  /openapi.json       generated from the route schemas below
 *   GET  /                   the web page (web/), no external resources
 *
 * Errors are `{ "error": { "code", "message" } }`, the status from the code's
 * row in ERROR_CODES: 400 malformed, 413 too large or too many files, 415 not
 * an image (magic bytes, never the name or content type), 422 undecodable or
 * over the pixel limit, 503 busy or shutting down, 504 timed out. A request
 * whose headers and body take longer than `requestTimeoutMs` to arrive gets
 * Node's bare 408 and its connection closed. Every response carries the usual
 * security headers (helmet; the page's CSP allows only its own files). The
 * server never fetches URLs on a caller's behalf.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import helmet from '@fastify/helmet';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ERROR_CODES, type ErrorCode, PosterscopeError } from '../errors.js';
import { looksLikePoster } from '../image/poster.js';
import { parseViews, viewName } from '../image/views.js';
import type { GenreModel, Prediction } from '../model/model.js';
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
   * Time allowed for a request's headers and body to arrive, ms; a slower
   * client gets 408 and its connection closed. Default 60000.
   */
  requestTimeoutMs?: number;
  /** Log requests (pino, as fastify does) to stdout. Default false. */
  logger?: boolean;
}

/** Form fields (non-file parts) accepted in one request; the API reads none. */
const MAX_FIELDS = 16;

const codeSchema = { type: 'string', enum: Object.keys(ERROR_CODES) } as const;
const errorSchema = {
  type: 'object',
  properties: { error: { type: 'object', properties: { code: codeSchema, message: { type: 'string' } }, required: ['code', 'message'] } },
} as const;

const predictionSchema = {
  type: 'object',
  properties: {
    input: { type: 'string' },
    genres: { type: 'array', items: { type: 'string' } },
    scores: {
      type: 'array',
      items: { type: 'object', properties: { genre: { type: 'string' }, score: { type: 'number' } }, required: ['genre', 'score'] },
    },
    error: { type: 'object', properties: { code: codeSchema, message: { type: 'string' } } },
  },
  required: ['input', 'genres', 'scores'],
} as const;

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
      return fail('BAD_REQUEST', `more than ${MAX_FIELDS} form fields in one request; send only image files`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return fail('UNSUPPORTED_MEDIA_TYPE', 'send the poster as multipart/form-data field "image" or as a raw image body');
  }
  if (error.statusCode === 413) return fail('TOO_LARGE', `upload larger than ${limits.maxBytes} bytes`);
  if (error.statusCode === 415) return fail('UNSUPPORTED_MEDIA_TYPE', 'send the poster as multipart/form-data field "image" or as a raw image body');
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) return fail('BAD_REQUEST', firstLine);
  return new PosterscopeError('INTERNAL', firstLine, { cause: error });
}

/**
 * @example
 *   const app = await createServer({ model: await loadModel() });
 *   await app.listen({ host: '127.0.0.1', port: 7860 });
 */
export async function createServer(options: ServerOptions): Promise<FastifyInstance> {
  const { model } = options;
  const maxBytes = options.maxBytes ?? 10 * 1024 * 1024;
  const maxFiles = options.maxFiles ?? 64;
  const requestTimeout = options.requestTimeoutMs ?? 60_000;
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
  const finish = (prediction: Prediction, query: PredictQuery): Prediction => {
    if (prediction.error || (query.threshold === undefined && query.topK === undefined)) return prediction;
    const topK = query.topK === undefined ? undefined : Math.min(query.topK, model.genres.length);
    return { ...prediction, genres: model.decide(prediction.scores, { ...(query.threshold !== undefined ? { threshold: query.threshold } : {}), ...(topK ? { topK } : {}) }) };
  };

  /** The uploaded files of a request: multipart parts, or the raw body. */
  async function uploads(request: FastifyRequest, single: boolean): Promise<Array<{ source: string; bytes: Buffer }>> {
    if (request.isMultipart()) {
      const files: Array<{ source: string; bytes: Buffer }> = [];
      try {
        for await (const part of request.parts()) {
          if (part.type !== 'file') continue;
          if (single && part.fieldname !== 'image') {
            await part.toBuffer();
            continue;
          }
          files.push({ source: part.filename || part.fieldname, bytes: await part.toBuffer() });
        }
      } catch (error) {
        const { code, statusCode } = error as { code?: string; statusCode?: number };
        // The parser's own limits have codes (413, 400...); anything else it throws is unreadable syntax.
        if (error instanceof PosterscopeError || code !== undefined || statusCode !== undefined) throw error;
        throw fail('BAD_REQUEST', `malformed multipart body: ${(error as Error).message.split('\n')[0]}`);
      }
      return files;
    }
    if (Buffer.isBuffer(request.body) && request.body.length > 0) return [{ source: 'upload', bytes: request.body }];
    throw fail('INVALID_ARGUMENT', single ? 'expected a multipart field "image" or a raw image body' : 'expected multipart/form-data with image files');
  }

  app.post<{ Querystring: PredictQuery }>(
    '/v1/predict',
    {
      schema: {
        summary: 'Genres of one poster',
        description: 'multipart/form-data field `image`, or the raw image as the body with an image/* content type.',
        querystring: querySchema,
        response: { 200: predictionSchema, '4xx': errorSchema, '5xx': errorSchema },
      },
    },
    async (request) => {
      const views = viewsOf(request.query);
      const [file] = await uploads(request, true);
      if (!file) throw fail('INVALID_ARGUMENT', 'no poster in the request (multipart field "image")');
      if (file.bytes.length === 0) throw fail('IMAGE_EMPTY', `${file.source}: empty upload`);
      if (!looksLikePoster(file.bytes)) throw fail('IMAGE_UNSUPPORTED', `${file.source}: not an image posterscope reads (JPEG, PNG, WebP, GIF, AVIF, TIFF)`);
      const [prediction] = await queue.submit([file], views);
      if (prediction!.error) throw fail(prediction!.error.code, prediction!.error.message);
      return finish(prediction!, request.query);
    },
  );

  app.post<{ Querystring: PredictQuery }>(
    '/v1/predict/batch',
    {
      schema: {
        summary: 'Genres of several posters',
        description: 'multipart/form-data with any number of image files; the result array follows their order, and a file that cannot be read gets its own `error`.',
        querystring: querySchema,
        response: { 200: { type: 'array', items: predictionSchema }, '4xx': errorSchema, '5xx': errorSchema },
      },
    },
    async (request) => {
      const views = viewsOf(request.query);
      if (!request.isMultipart()) throw fail('INVALID_ARGUMENT', 'expected multipart/form-data with image files');
      const files = await uploads(request, false);
      if (files.length === 0) throw fail('INVALID_ARGUMENT', 'no files in the request');
      const results: Prediction[] = files.map((f) => ({ input: f.source, inputs: [], genres: [], scores: [] }));
      const readable = files.flatMap((file, i) => {
        if (file.bytes.length > 0 && looksLikePoster(file.bytes)) return [i];
        results[i]!.error =
          file.bytes.length === 0
            ? { code: 'IMAGE_EMPTY', message: `${file.source}: empty upload` }
            : { code: 'IMAGE_UNSUPPORTED', message: `${file.source}: not an image posterscope reads (JPEG, PNG, WebP, GIF, AVIF, TIFF)` };
        return [];
      });
      if (readable.length > 0) {
        const predictions = await queue.submit(readable.map((i) => files[i]!), views);
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
  }));

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  for (const [route, file] of Object.entries(WEB_FILES)) {
    app.get(route, { schema: { hide: true } }, async (_request, reply: FastifyReply) => {
      const body = await readFile(`${WEB_DIR}${file}`);
      return reply.type(CONTENT_TYPES[file.split('.').pop()!]!).header('cache-control', 'no-cache').send(body);
    });
  }

  // Finish queued work before the process lets go of the model.
  app.addHook('onClose', async () => {
    await queue.drain();
  });
  return app;
}
