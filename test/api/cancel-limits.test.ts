/**
 * Issue 11, items 2 and 3 over real HTTP with the real model: a request's
 * cost is capped (--max-passes, 400 beyond it, --max-upload for the whole
 * request), and work whose caller has gone (504, or a client that hung up)
 * is dropped, so it cannot make the next requests wait, time out or be refused.
 */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { type GenreModel, loadModel } from '../../src/model/model.js';
import { createServer, type ServerOptions } from '../../src/serve/server.js';
import { type TempDir, makeTempDir } from '../helpers/images.js';
import { MODELS, POSTERS, skipWithoutShared } from '../helpers/shared.js';

let dir: TempDir;
let model: GenreModel;
let posters: Buffer[] = [];
const servers: FastifyInstance[] = [];
const skip = skipWithoutShared;

async function start(options: Partial<ServerOptions> = {}) {
  const app = await createServer({ model, ...options });
  await app.listen({ host: '127.0.0.1', port: 0 });
  servers.push(app);
  return `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
}

function form(files: Buffer[], field = 'images'): FormData {
  const body = new FormData();
  files.forEach((bytes, i) => body.append(field, new Blob([new Uint8Array(bytes)]), `p${i}.jpg`));
  return body;
}

/** Many seeded augment views: each costs one pass and a rotation per poster. */
const heavyViews = (n: number) => Array.from({ length: n }, (_, i) => `aug-${i + 1}`).join(',');

async function health(url: string): Promise<{ queued: number; cancelled: number }> {
  return (await (await fetch(`${url}/healthz`)).json()) as { queued: number; cancelled: number };
}

/** Polls until `check` holds; the bound only keeps a failing test from hanging. */
async function eventually(check: () => Promise<boolean>, what: string, limitMs = 15_000): Promise<void> {
  const until = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > until) assert.fail(`never happened: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

before(async () => {
  if (skipWithoutShared) return;
  dir = await makeTempDir('posterscope-cancel-');
  model = await loadModel(undefined, { mirrors: [MODELS], cacheDir: dir.file('cache'), offline: true });
  const names = (await readdir(POSTERS)).sort().slice(0, 32);
  posters = await Promise.all(names.map((name) => readFile(join(POSTERS, name))));
});

after(async () => {
  for (const app of servers) await app.close();
  await model?.release();
  await dir?.remove();
});

test('a request costing more than maxPasses backbone passes is 400 before any work', { skip }, async () => {
  const url = await start({ maxPasses: 20 });
  const one = form([posters[0]!], 'image');
  assert.equal((await fetch(`${url}/v1/predict?tta=single`, { method: 'POST', body: one })).status, 200);
  // tiles = tiles-1.5x + tiles-2x + tiles-3x: 27 crops for a 2:3 poster.
  const tiles = await fetch(`${url}/v1/predict?tta=tiles`, { method: 'POST', body: form([posters[0]!], 'image') });
  const body = (await tiles.json()) as { error: { code: string; message: string } };
  assert.equal(tiles.status, 400, JSON.stringify(body));
  assert.equal(body.error.code, 'INVALID_ARGUMENT');
  assert.match(body.error.message, /^Expected at most 20 backbone passes for one request but received \d+ \(1 poster x 3 views\)/);
  // The default cap: 1,500 augment views of one poster.
  const url2 = await start();
  const many = await fetch(`${url2}/v1/predict/batch?tta=${heavyViews(1500)}`, { method: 'POST', body: form([posters[0]!]) });
  assert.equal(many.status, 400);
  assert.match(((await many.json()) as { error: { message: string } }).error.message, /^Expected at most 1024 backbone passes .* received 1500 \(1 poster x 1500 views\)/);
  // Nothing was queued or run for them.
  assert.equal((await health(url2)).queued, 0);
});

test('--max-upload bounds the whole request, not each file', { skip }, async () => {
  const total = posters.slice(0, 12).reduce((n, p) => n + p.length, 0);
  const limit = Math.floor(total * 0.75);
  assert.ok(posters.slice(0, 12).every((p) => p.length < limit));
  const url = await start({ maxBytes: limit });
  const response = await fetch(`${url}/v1/predict/batch`, { method: 'POST', body: form(posters.slice(0, 12)) });
  assert.equal(response.status, 413);
  assert.deepEqual(await response.json(), { error: { code: 'TOO_LARGE', message: `upload larger than ${limit} bytes (all files together)` } });
});

test('a timed-out request is dropped: the next requests are neither refused nor timed out', { skip }, async () => {
  const url = await start({ timeoutMs: 4000, maxPending: 40, maxPasses: 1_000_000 });
  // 32 posters x 120 augment views: far more than 4 s of work on any machine this runs on.
  const heavy = await fetch(`${url}/v1/predict/batch?tta=${heavyViews(120)}`, { method: 'POST', body: form(posters) });
  assert.equal(heavy.status, 504);
  // Its 32 posters no longer count: 16 more fit under maxPending 40 (before the fix: 503).
  const light = await fetch(`${url}/v1/predict/batch?tta=single`, { method: 'POST', body: form(posters.slice(0, 16)) });
  const answers = (await light.json()) as Array<{ genres: string[]; error?: unknown }>;
  assert.equal(light.status, 200, JSON.stringify(answers).slice(0, 300));
  assert.equal(answers.length, 16);
  assert.ok(answers.every((a) => a.error === undefined && Array.isArray(a.genres)));
  const state = await health(url);
  assert.equal(state.queued, 0);
  assert.equal(state.cancelled, 32);
});

test('a client that hangs up has its queued work dropped', { skip }, async () => {
  const url = await start({ timeoutMs: 120_000, maxPending: 40, maxPasses: 1_000_000 });
  const controller = new AbortController();
  const heavy = fetch(`${url}/v1/predict/batch?tta=${heavyViews(120)}`, { method: 'POST', body: form(posters), signal: controller.signal }).catch(
    (error: Error) => error,
  );
  await eventually(async () => (await health(url)).queued === 32, 'the heavy request queued');
  controller.abort();
  assert.ok((await heavy) instanceof Error);
  // Without cancellation its 32 posters stay queued for the whole run (tens of seconds).
  await eventually(async () => (await health(url)).queued === 0, 'the abandoned posters left the queue', 10_000);
  assert.equal((await health(url)).cancelled, 32);
  const light = await fetch(`${url}/v1/predict/batch?tta=single`, { method: 'POST', body: form(posters.slice(0, 16)) });
  assert.equal(light.status, 200);
});
