/**
 * The HTTP API over real HTTP on loopback, with the built-in model, its real
 * backbone from the mirror, and real posters.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { type GenreModel, loadModel } from '../../src/model/model.js';
import { createServer, type ServerOptions } from '../../src/serve/server.js';
import { type TempDir, craftedHugePng, makeTempDir } from '../helpers/images.js';
import { ROOT } from '../helpers/cli.js';
import { MODELS, UNLABELED, skipWithoutShared } from '../helpers/shared.js';

let dir: TempDir;
let model: GenreModel;
let poster: Buffer;
const servers: FastifyInstance[] = [];

async function start(options: Partial<ServerOptions> = {}) {
  const app = await createServer({ model, ...options });
  await app.listen({ host: '127.0.0.1', port: 0 });
  servers.push(app);
  const address = app.server.address() as { port: number };
  return { app, url: `http://127.0.0.1:${address.port}` };
}

function form(files: Array<[string, Buffer, string]>): FormData {
  const body = new FormData();
  for (const [field, bytes, name] of files) body.append(field, new Blob([new Uint8Array(bytes)]), name);
  return body;
}

before(async () => {
  if (skipWithoutShared) return;
  dir = await makeTempDir('posterscope-api-');
  model = await loadModel(undefined, { mirrors: [MODELS], cacheDir: dir.file('cache'), offline: true });
  poster = await readFile(join(UNLABELED, 'tt0121766.jpg'));
});

after(async () => {
  for (const app of servers) await app.close();
  await model?.release();
  await dir?.remove();
});

const skip = skipWithoutShared;

test('POST /v1/predict: multipart or raw body gives the predict JSON schema, all genres high to low', { skip }, async () => {
  const { url } = await start();
  const viaForm = await fetch(`${url}/v1/predict`, { method: 'POST', body: form([['image', poster, 'tt0121766.jpg']]) });
  assert.equal(viaForm.status, 200);
  const a = (await viaForm.json()) as { input: string; genres: string[]; scores: Array<{ genre: string; score: number }> };
  assert.equal(a.input, 'tt0121766.jpg');
  assert.equal(a.scores.length, 25);
  for (let i = 1; i < a.scores.length; i++) assert.ok(a.scores[i - 1]!.score >= a.scores[i]!.score);
  assert.ok(a.genres.length >= 1);
  // Same answer as the library gives for the same file.
  const [direct] = await model.predict([join(UNLABELED, 'tt0121766.jpg')], { cache: false });
  assert.deepEqual(a.genres, direct!.genres);
  // A raw body is sniffed, whatever content type it claims.
  const raw = await fetch(`${url}/v1/predict?topK=1&threshold=0`, { method: 'POST', body: new Uint8Array(poster), headers: { 'content-type': 'text/plain' } });
  assert.equal(raw.status, 200);
  const b = (await raw.json()) as { genres: string[]; scores: Array<{ genre: string }> };
  assert.deepEqual(b.genres, [b.scores[0]!.genre]);
});

test('error statuses: 400 malformed, 413 too large, 415 not an image, 422 undecodable or too many pixels, 404', { skip }, async () => {
  const { url } = await start({ maxBytes: 50_000 });
  const cases: Array<[string, RequestInit, number, string]> = [
    ['/v1/predict?threshold=3', { method: 'POST', body: form([['image', poster, 'p.jpg']]) }, 400, 'INVALID_ARGUMENT'],
    ['/v1/predict?tta=flip', { method: 'POST', body: form([['image', poster, 'p.jpg']]) }, 400, 'INVALID_ARGUMENT'],
    ['/v1/predict', { method: 'POST' }, 400, 'INVALID_ARGUMENT'],
    ['/v1/predict', { method: 'POST', body: form([['other', poster, 'p.jpg']]) }, 400, 'INVALID_ARGUMENT'],
    ['/v1/predict', { method: 'POST', body: 'garbage', headers: { 'content-type': 'multipart/form-data; boundary=zz' } }, 400, 'INVALID_ARGUMENT'],
    ['/v1/predict', { method: 'POST', body: form([['image', Buffer.alloc(60_000, 0xff), 'big.jpg']]) }, 413, 'TOO_LARGE'],
    ['/v1/predict', { method: 'POST', body: new Uint8Array(60_000).fill(0xff), headers: { 'content-type': 'image/jpeg' } }, 413, 'TOO_LARGE'],
    ['/v1/predict', { method: 'POST', body: form([['image', Buffer.from('<html>404</html>'), 'poster.jpg']]) }, 415, 'IMAGE_UNSUPPORTED'],
    ['/v1/predict', { method: 'POST', body: form([['image', poster.subarray(0, poster.length / 2), 'cut.jpg']]) }, 422, 'IMAGE_CORRUPT'],
    ['/v1/predict', { method: 'POST', body: form([['image', craftedHugePng(30000, 30000), 'bomb.png']]) }, 422, 'IMAGE_TOO_LARGE'],
    ['/v1/nothing', { method: 'GET' }, 404, 'NOT_FOUND'],
  ];
  for (const [path, init, status, code] of cases) {
    const response = await fetch(`${url}${path}`, init);
    const body = (await response.json()) as { error: { code: string; message: string } };
    assert.equal(response.status, status, `${path}: ${JSON.stringify(body)}`);
    assert.equal(body.error.code, code, path);
    assert.ok(body.error.message.length > 0 && !body.error.message.includes('\n'));
  }
  // Still up after all of that.
  assert.equal((await fetch(`${url}/healthz`)).status, 200);
});

/** A multipart body written by hand, for the malformed ones no client library sends. */
function rawMultipart(body: string, boundary: string | undefined): RequestInit {
  return { method: 'POST', body, headers: { 'content-type': `multipart/form-data${boundary === undefined ? '' : `; boundary=${boundary}`}` } };
}

const field = (boundary: string, name: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\nvalue\r\n`;

test('malformed multipart is 400 BAD_REQUEST with a JSON error, never 500', { skip }, async () => {
  const { url } = await start();
  const longBoundary = 'b'.repeat(5000);
  const cases: Array<[string, RequestInit, RegExp]> = [
    ['no boundary', rawMultipart('--x\r\n', undefined), /^malformed multipart body: .*[Bb]oundary/],
    [
      'truncated body',
      rawMultipart(`--zz\r\nContent-Disposition: form-data; name="image"; filename="p.jpg"\r\nContent-Type: image/jpeg\r\n\r\n${poster.subarray(0, 2000).toString('latin1')}`, 'zz'),
      /^malformed multipart body: /,
    ],
    ['5 KB boundary', rawMultipart(`${field(longBoundary, 'a')}--${longBoundary}--\r\n`, longBoundary), /^malformed multipart body: /],
    ['200 fields', rawMultipart(`${Array.from({ length: 200 }, (_, i) => field('zz', `f${i}`)).join('')}--zz--\r\n`, 'zz'), /^more than 16 form fields in one request/],
  ];
  for (const path of ['/v1/predict', '/v1/predict/batch']) {
    for (const [name, init, message] of cases) {
      const response = await fetch(`${url}${path}`, init);
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(response.status, 400, `${path} ${name}: ${JSON.stringify(body)}`);
      assert.equal(body.error.code, 'BAD_REQUEST', `${path} ${name}`);
      assert.match(body.error.message, message, `${path} ${name}`);
    }
  }
  assert.equal((await fetch(`${url}/healthz`)).status, 200);
});

test('a batch over the file limit is 413 TOO_MANY_FILES saying which limit was hit', { skip }, async () => {
  const { url } = await start();
  const files = Array.from({ length: 65 }, (_, i): [string, Buffer, string] => ['images', poster.subarray(0, 100), `p${i}.jpg`]);
  const response = await fetch(`${url}/v1/predict/batch`, { method: 'POST', body: form(files) });
  assert.equal(response.status, 413);
  assert.deepEqual(await response.json(), { error: { code: 'TOO_MANY_FILES', message: 'more than 64 files in one request; send them in several' } });
  const { url: small } = await start({ maxFiles: 2 });
  const three = await fetch(`${small}/v1/predict/batch`, { method: 'POST', body: form(files.slice(0, 3)) });
  assert.equal(((await three.json()) as { error: { message: string } }).error.message, 'more than 2 files in one request; send them in several');
});

test('a huge value is cut in the error message, not echoed whole', { skip }, async () => {
  const { url } = await start();
  const response = await fetch(`${url}/v1/predict?tta=${'x'.repeat(8000)}`, { method: 'POST', body: form([['image', poster, 'p.jpg']]) });
  assert.equal(response.status, 400);
  const { error } = (await response.json()) as { error: { code: string; message: string } };
  assert.equal(error.code, 'INVALID_ARGUMENT');
  assert.ok(error.message.length < 300, `${error.message.length} characters`);
  assert.match(error.message, /but received string "x{80}… \(8,000 characters\)"$/);
});

test('every response carries security headers; the page\'s CSP allows only its own files', { skip }, async () => {
  const { url } = await start();
  const responses = [
    await fetch(`${url}/`),
    await fetch(`${url}/app.js`),
    await fetch(`${url}/v1/model`),
    await fetch(`${url}/v1/predict`, { method: 'POST' }),
    await fetch(`${url}/nowhere`),
  ];
  for (const response of responses) {
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff', response.url);
    assert.equal(response.headers.get('x-frame-options'), 'SAMEORIGIN', response.url);
    assert.equal(response.headers.get('referrer-policy'), 'no-referrer', response.url);
    const csp = response.headers.get('content-security-policy') ?? '';
    for (const directive of ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"]) assert.ok(csp.includes(directive), `${response.url}: ${csp}`);
    assert.ok(!csp.includes('upgrade-insecure-requests'), 'the page is served over plain HTTP on loopback');
  }
});

test('/report without a report.html in the bundle: 404, a page saying how to make one, and the report\'s own CSP', { skip }, async () => {
  const { url } = await start();
  const response = await fetch(`${url}/report`);
  assert.equal(response.status, 404);
  assert.match(response.headers.get('content-type')!, /^text\/html/);
  assert.match(await response.text(), /posterscope report --model .* --out .*report\.html/);
  const csp = response.headers.get('content-security-policy')!;
  // No script on this page, so none may run; sandboxed and never framed; the other routes keep the page's policy (above).
  for (const directive of ["default-src 'none'", "script-src 'none'", 'sandbox allow-scripts', "frame-ancestors 'none'"]) assert.ok(csp.includes(directive), csp);
  assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
});

test('a request body that trickles in is cut off with 408 after requestTimeoutMs', { skip }, async () => {
  const { app } = await start({ requestTimeoutMs: 400 });
  const { port } = app.server.address() as { port: number };
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    // Only a guard against hanging forever: without a request timeout the server never answers.
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error('no answer: the slow request was never timed out'));
    }, 20_000);
    socket.on('data', (chunk) => (received += chunk.toString('latin1')));
    socket.on('close', () => {
      clearTimeout(guard);
      resolve(received);
    });
    socket.on('error', () => undefined);
    socket.write('POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n');
    socket.write(poster.subarray(0, 10));
  });
  assert.match(answer, /^HTTP\/1\.1 408 /);
});

test('POST /v1/predict/batch: one result per file in order, failures per item', { skip }, async () => {
  const { url } = await start();
  const other = await readFile(join(UNLABELED, 'tt0206113.jpg'));
  const response = await fetch(`${url}/v1/predict/batch?topK=3`, {
    method: 'POST',
    body: form([['images', poster, 'a.jpg'], ['images', Buffer.from('hello'), 'notes.txt'], ['images', other, 'b.jpg']]),
  });
  assert.equal(response.status, 200);
  const results = (await response.json()) as Array<{ input: string; genres: string[]; error?: { code: string } }>;
  assert.deepEqual(results.map((r) => r.input), ['a.jpg', 'notes.txt', 'b.jpg']);
  assert.equal(results[1]!.error!.code, 'IMAGE_UNSUPPORTED');
  assert.ok(results[0]!.genres.length <= 3 && results[2]!.genres.length <= 3);
  assert.equal(results[0]!.error, undefined);
});

test('concurrent requests are micro-batched and all answered', { skip }, async () => {
  const { url } = await start();
  const files = (await Promise.all(['tt0121766.jpg', 'tt0206113.jpg', 'tt0257516.jpg'].map((f) => readFile(join(UNLABELED, f)))));
  const responses = await Promise.all(
    Array.from({ length: 24 }, (_, i) => fetch(`${url}/v1/predict`, { method: 'POST', body: form([['image', files[i % 3]!, `p${i}.jpg`]]) })),
  );
  assert.ok(responses.every((r) => r.status === 200));
  const health = (await (await fetch(`${url}/healthz`)).json()) as { batches: number; posters: number };
  assert.equal(health.posters, 24);
  assert.ok(health.batches < 24, `24 requests in ${health.batches} backbone runs`);
});

test('a full queue answers 503 at once, the rest still succeed', { skip }, async () => {
  const { url } = await start({ maxPending: 2, maxWaitMs: 50 });
  const responses = await Promise.all(
    Array.from({ length: 8 }, () => fetch(`${url}/v1/predict`, { method: 'POST', body: form([['image', poster, 'p.jpg']]) })),
  );
  const statuses = responses.map((r) => r.status).sort();
  assert.ok(statuses.includes(503), statuses.join(','));
  assert.ok(statuses.includes(200), statuses.join(','));
  const busy = responses.find((r) => r.status === 503)!;
  assert.equal(((await busy.json()) as { error: { code: string } }).error.code, 'SERVER_BUSY');
});

test('shutdown while busy finishes the requests in flight', { skip }, async () => {
  // A long batch wait keeps the six requests queued until the server is told to stop.
  const { app, url } = await start({ maxWaitMs: 1500, maxBatch: 64 });
  const inFlight = Array.from({ length: 6 }, () => fetch(`${url}/v1/predict`, { method: 'POST', body: form([['image', poster, 'p.jpg']]) }));
  for (;;) {
    const health = (await (await fetch(`${url}/healthz`)).json()) as { queued: number };
    if (health.queued === 6) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  await app.close();
  const responses = await Promise.all(inFlight);
  assert.deepEqual(responses.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
  // Answers sent while closing close their connection: a keep-alive client cannot hold the process open.
  assert.deepEqual(responses.map((r) => r.headers.get('connection')), Array(6).fill('close'));
  await assert.rejects(fetch(`${url}/healthz`));
});

test('GET /v1/model, /healthz, /openapi.json (generated from the routes) and the page', { skip }, async () => {
  const { url } = await start();
  const info = (await (await fetch(`${url}/v1/model`)).json()) as { genres: string[]; backbone: { id: string }; thresholds: { global: number }; metrics: { test: { microF1: number } }; version: string };
  assert.equal(info.genres.length, 25);
  assert.equal(info.backbone.id, 'mobilenetv2');
  assert.ok(info.thresholds.global > 0 && info.metrics.test.microF1 > 0.5 && info.version);
  const spec = (await (await fetch(`${url}/openapi.json`)).json()) as { openapi: string; info: { version: string }; paths: Record<string, unknown> };
  assert.match(spec.openapi, /^3\./);
  // One version everywhere: package.json's.
  const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(info.version, version);
  assert.equal(spec.info.version, version);
  for (const path of ['/v1/predict', '/v1/predict/batch', '/v1/model', '/healthz']) assert.ok(path in spec.paths, path);
  const page = await fetch(`${url}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  const html = await page.text();
  assert.ok(!/https?:\/\/(?!127\.0\.0\.1)/.test(html), 'the page loads nothing from other hosts');
});

