/**
 * Text in the HTTP API, over real HTTP on loopback with the built-in model
 * (its real backbone from the mirror, a real poster): the `title` / `plot`
 * multipart fields, JSON bodies for text alone, per-file text in batches,
 * the text limit (413), malformed UTF-8 (400), `inputs` in every result and
 * the OpenAPI document.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { type GenreModel, loadModel } from '../../src/model/model.js';
import { createServer, type ServerOptions } from '../../src/serve/server.js';
import { type TempDir, makeTempDir } from '../helpers/images.js';
import { MODELS, UNLABELED, skipWithoutShared } from '../helpers/shared.js';
import { trainTextModel } from '../helpers/text-model.js';

let dir: TempDir;
let model: GenreModel;
/** A real text-only model (title and plot heads), trained in the before hook. */
let textModel: GenreModel;
let poster: Buffer;
const servers: FastifyInstance[] = [];
const skip = skipWithoutShared;
const FAST = '?tta=single'; // one backbone pass per poster: these tests are about text, not views

async function start(options: Partial<ServerOptions> = {}) {
  const app = await createServer({ model, ...options });
  await app.listen({ host: '127.0.0.1', port: 0 });
  servers.push(app);
  return `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
}

type Result = { input: string; inputs: string[]; genres: string[]; scores: Array<{ genre: string; score: number }>; error?: { code: string; message: string } };
type ErrorBody = { error: { code: string; message: string } };

/** A multipart body written by hand, so a field can hold bytes that are not UTF-8. */
function rawMultipart(parts: Array<{ name: string; filename?: string; body: Buffer | string }>): { body: Buffer; headers: Record<string, string> } {
  const boundary = 'posterscope-test-boundary';
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename ? `; filename="${part.filename}"` : ''}`;
    chunks.push(Buffer.from(`--${boundary}\r\ncontent-disposition: ${disposition}\r\n${part.filename ? 'content-type: application/octet-stream\r\n' : ''}\r\n`));
    chunks.push(typeof part.body === 'string' ? Buffer.from(part.body) : part.body, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

const json = (value: unknown) => ({ method: 'POST', body: JSON.stringify(value), headers: { 'content-type': 'application/json' } });

async function expectError(response: Response, status: number, code: string, fragment: string | RegExp) {
  const body = (await response.json()) as ErrorBody;
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(body.error.code, code, body.error.message);
  assert.ok(!body.error.message.includes('\n'), 'one line');
  if (typeof fragment === 'string') assert.ok(body.error.message.includes(fragment), `"${fragment}" not in: ${body.error.message}`);
  else assert.match(body.error.message, fragment);
}

before(async () => {
  if (skip) return;
  dir = await makeTempDir('posterscope-api-text-');
  model = await loadModel(undefined, { mirrors: [MODELS], cacheDir: dir.file('cache'), offline: true });
  poster = await readFile(join(UNLABELED, 'tt0121766.jpg'));
  textModel = await loadModel(await trainTextModel(dir.path), { cacheDir: dir.file('cache'), offline: true });
});

after(async () => {
  for (const app of servers) await app.close();
  await model?.release();
  await textModel?.release();
  await dir?.remove();
});

test('multipart title and plot beside the image: the result says which inputs the model used', { skip }, async () => {
  const url = await start();
  const form = new FormData();
  form.append('image', new Blob([new Uint8Array(poster)]), 'tt0121766.jpg');
  form.append('title', 'Star Wars: Episode III - Revenge of the Sith (2005)');
  form.append('plot', 'Three years into the Clone Wars, Obi-Wan pursues a new threat.');
  const response = await fetch(`${url}/v1/predict${FAST}`, { method: 'POST', body: form });
  assert.equal(response.status, 200);
  const withText = (await response.json()) as Result;
  const expected = model.accepts.filter((input) => ['image', 'title', 'plot'].includes(input));
  assert.deepEqual(withText.inputs, expected, `the model reads ${model.accepts.join(', ')}`);
  assert.equal(withText.input, 'tt0121766.jpg');
  // The same poster alone: inputs ['image'], and when the model reads no text, the same scores.
  const alone = (await (await fetch(`${url}/v1/predict${FAST}`, { method: 'POST', body: new Uint8Array(poster), headers: { 'content-type': 'image/jpeg' } })).json()) as Result;
  assert.deepEqual(alone.inputs, ['image']);
  if (!model.accepts.includes('title') && !model.accepts.includes('plot')) assert.deepEqual(withText.scores, alone.scores);
});

test('a JSON body { title, plot } predicts from text alone (or is a 400 naming what the model reads)', { skip }, async () => {
  const url = await start();
  const response = await fetch(`${url}/v1/predict`, json({ title: 'Alien (1979)', plot: 'The crew of a space tug meets a deadly creature.' }));
  if (model.accepts.includes('title')) {
    assert.equal(response.status, 200);
    const result = (await response.json()) as Result;
    assert.ok(result.inputs.includes('title'));
    assert.ok(!result.inputs.includes('image'));
  } else {
    await expectError(response, 400, 'INVALID_ARGUMENT', /nothing to predict from: title and plot given, but the model reads image/);
  }
  await expectError(await fetch(`${url}/v1/predict`, json({})), 400, 'INVALID_ARGUMENT', 'no title or plot in the JSON body');
  await expectError(await fetch(`${url}/v1/predict`, json({ title: '   ' })), 400, 'INVALID_ARGUMENT', 'no title or plot');
  await expectError(await fetch(`${url}/v1/predict`, json([1, 2])), 400, 'INVALID_ARGUMENT', 'Expected an object with "title" and / or "plot" for the JSON body but received array of length 2');
  await expectError(await fetch(`${url}/v1/predict`, json({ title: 5 })), 400, 'INVALID_ARGUMENT', 'Expected a string for the JSON body.title but received number 5');
  await expectError(await fetch(`${url}/v1/predict`, json({ image: 'https://example.com/p.jpg' })), 400, 'INVALID_ARGUMENT', 'Expected "title" or "plot" for the JSON body key but received string "image"');
  await expectError(await fetch(`${url}/v1/predict`, { method: 'POST', body: '{"title": ', headers: { 'content-type': 'application/json' } }), 400, 'INVALID_ARGUMENT', 'the JSON body is not JSON');
});

test('text over the limit is 413 JSON, counted in bytes of UTF-8, in every form it can come', { skip }, async () => {
  const url = await start({ maxTextBytes: 10 });
  // Six characters, twelve bytes.
  const accented = 'éééééé';
  await expectError(await fetch(`${url}/v1/predict`, json({ title: accented })), 413, 'TOO_LARGE', 'the JSON body.title is 12 bytes of UTF-8; the limit is 10');
  const form = new FormData();
  form.append('image', new Blob([new Uint8Array(poster)]), 'p.jpg');
  form.append('plot', 'x'.repeat(11));
  await expectError(await fetch(`${url}/v1/predict`, { method: 'POST', body: form }), 413, 'TOO_LARGE', 'plot is 11 bytes of UTF-8; the limit is 10');
  const batch = new FormData();
  batch.append('images', new Blob([new Uint8Array(poster)]), 'a.jpg');
  batch.append('texts', JSON.stringify([{ title: 'x'.repeat(11) }]));
  await expectError(await fetch(`${url}/v1/predict/batch`, { method: 'POST', body: batch }), 413, 'TOO_LARGE', 'texts[0].title is 11 bytes');
  await expectError(await fetch(`${url}/v1/predict/batch`, json({ items: [{ title: 'ok' }, { plot: accented }] })), 413, 'TOO_LARGE', 'items[1].plot is 12 bytes');
  // At the default limit (20,000 bytes) 20,000 is fine, 20,001 is not.
  const wide = await start();
  await expectError(await fetch(`${wide}/v1/predict`, json({ plot: 'y'.repeat(20_001) })), 413, 'TOO_LARGE', 'the limit is 20000');
  const fits = await fetch(`${wide}/v1/predict`, json({ plot: 'y'.repeat(20_000) }));
  assert.notEqual(fits.status, 413);
  await fits.body?.cancel();
});

test('text that is not UTF-8 is 400, in a JSON body and in a multipart field; a lone surrogate too', { skip }, async () => {
  const url = await start();
  const badJson = Buffer.concat([Buffer.from('{"title":"Am'), Buffer.from([0xe9]), Buffer.from('lie"}')]);
  await expectError(await fetch(`${url}/v1/predict`, { method: 'POST', body: new Uint8Array(badJson), headers: { 'content-type': 'application/json' } }), 400, 'INVALID_ARGUMENT', 'the JSON body is not valid UTF-8');
  const badField = rawMultipart([
    { name: 'image', filename: 'p.jpg', body: poster },
    { name: 'title', body: Buffer.concat([Buffer.from('Am'), Buffer.from([0xe9]), Buffer.from('lie')]) },
  ]);
  await expectError(await fetch(`${url}/v1/predict`, { method: 'POST', body: new Uint8Array(badField.body), headers: badField.headers }), 400, 'INVALID_ARGUMENT', 'field "title" is not valid UTF-8');
  await expectError(await fetch(`${url}/v1/predict`, { method: 'POST', body: '{"title":"\\ud800 x"}', headers: { 'content-type': 'application/json' } }), 400, 'INVALID_ARGUMENT', 'not valid Unicode');
  // Real UTF-8 beyond ASCII is fine: a multipart field with é and 東京 reaches the model (200, or the model's own 400 for text it cannot read).
  const good = rawMultipart([
    { name: 'image', filename: 'p.jpg', body: poster },
    { name: 'title', body: 'Amélie à 東京' },
  ]);
  const ok = await fetch(`${url}/v1/predict${FAST}`, { method: 'POST', body: new Uint8Array(good.body), headers: good.headers });
  assert.equal(ok.status, 200, await ok.clone().text());
  assert.ok(((await ok.json()) as Result).inputs.includes('image'));
});

test('batch: per-file text in a JSON field `texts` (file order), text-only items as a JSON body', { skip }, async () => {
  const url = await start({ maxFiles: 3 });
  const batch = new FormData();
  batch.append('images', new Blob([new Uint8Array(poster)]), 'a.jpg');
  batch.append('images', new Blob([new Uint8Array(poster)]), 'b.jpg');
  batch.append('texts', JSON.stringify([{ title: 'Revenge of the Sith' }, null]));
  const response = await fetch(`${url}/v1/predict/batch${FAST}`, { method: 'POST', body: batch });
  assert.equal(response.status, 200);
  const results = (await response.json()) as Result[];
  assert.deepEqual(results.map((r) => r.input), ['a.jpg', 'b.jpg']);
  assert.deepEqual(results[1]!.inputs, ['image']);
  assert.ok(results[0]!.inputs.includes('image'));
  assert.equal(results[0]!.inputs.includes('title'), model.accepts.includes('title'));

  const tooMany = new FormData();
  tooMany.append('images', new Blob([new Uint8Array(poster)]), 'a.jpg');
  tooMany.append('texts', JSON.stringify([{ title: 'a' }, { title: 'b' }]));
  await expectError(await fetch(`${url}/v1/predict/batch`, { method: 'POST', body: tooMany }), 400, 'INVALID_ARGUMENT', 'field "texts" has 2 entries but the request has 1 files');
  const notJson = new FormData();
  notJson.append('images', new Blob([new Uint8Array(poster)]), 'a.jpg');
  notJson.append('texts', '[{"title": ');
  await expectError(await fetch(`${url}/v1/predict/batch`, { method: 'POST', body: notJson }), 400, 'INVALID_ARGUMENT', 'field "texts" is not JSON');
  const badKey = new FormData();
  badKey.append('images', new Blob([new Uint8Array(poster)]), 'a.jpg');
  badKey.append('texts', JSON.stringify([{ titel: 'typo' }]));
  await expectError(await fetch(`${url}/v1/predict/batch`, { method: 'POST', body: badKey }), 400, 'INVALID_ARGUMENT', 'Expected "title" or "plot" for texts[0] key but received string "titel"');

  const items = await fetch(`${url}/v1/predict/batch`, json({ items: [{ title: 'Alien (1979)' }, { plot: 'A love story in Paris.' }, {}] }));
  assert.equal(items.status, 200);
  const textResults = (await items.json()) as Result[];
  assert.equal(textResults.length, 3);
  assert.equal(textResults[2]!.error?.code, 'INVALID_ARGUMENT', 'an item with no text gets its own error');
  if (!model.accepts.includes('title')) assert.ok(textResults.every((r) => r.error?.code === 'INVALID_ARGUMENT' && r.inputs.length === 0));
  await expectError(await fetch(`${url}/v1/predict/batch`, json({ items: [{}, {}, {}, {}] })), 413, 'TOO_MANY_FILES', 'more than 3 items');
  await expectError(await fetch(`${url}/v1/predict/batch`, json({ items: [] })), 400, 'INVALID_ARGUMENT', 'no items');
  await expectError(await fetch(`${url}/v1/predict/batch`, json({ items: [{ title: 'a' }], texts: [] })), 400, 'INVALID_ARGUMENT', 'Expected "items" for the JSON body key but received string "texts"');
});

test('OpenAPI documents the text forms; /v1/model says which inputs the model accepts and the text limit', { skip }, async () => {
  const url = await start({ maxTextBytes: 5000 });
  type Spec = { paths: Record<string, { post: { requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown> } }> }; responses: Record<string, { content: Record<string, { schema: { properties?: Record<string, unknown>; required?: string[] } }> }> } }> };
  const spec = (await (await fetch(`${url}/openapi.json`)).json()) as Spec;
  const single = spec.paths['/v1/predict']!.post;
  assert.deepEqual(Object.keys(single.requestBody!.content['application/json']!.schema.properties).sort(), ['plot', 'title']);
  const ok = single.responses['200']!.content['application/json']!.schema;
  assert.ok(ok.required!.includes('inputs'));
  assert.ok('inputs' in ok.properties!);
  assert.deepEqual(Object.keys(spec.paths['/v1/predict/batch']!.post.requestBody!.content['application/json']!.schema.properties), ['items']);
  // The bodies the handlers read themselves are documented too.
  assert.deepEqual(Object.keys(single.requestBody!.content).sort(), ['application/json', 'image/*', 'multipart/form-data']);
  assert.deepEqual(Object.keys(single.requestBody!.content['multipart/form-data']!.schema.properties), ['image', 'title', 'plot']);
  assert.deepEqual(Object.keys(spec.paths['/v1/predict/batch']!.post.requestBody!.content['multipart/form-data']!.schema.properties), ['images', 'texts']);
  const info = (await (await fetch(`${url}/v1/model`)).json()) as { accepts: string[]; limits: { maxTextBytes: number } };
  assert.deepEqual(info.accepts, [...model.accepts]);
  assert.equal(info.limits.maxTextBytes, 5000);
});

test('with a model that reads text: text alone, per-item text in batches, and a poster it cannot read', { skip }, async () => {
  assert.deepEqual([...textModel.accepts], ['title', 'plot']);
  const url = await start({ model: textModel });
  const alien = { title: 'Alien (1979)', plot: 'The crew of a commercial space tug meets a deadly creature aboard its ship.' };
  const response = await fetch(`${url}/v1/predict`, { method: 'POST', body: JSON.stringify(alien), headers: { 'content-type': 'application/json; charset=utf-8' } });
  assert.equal(response.status, 200);
  const result = (await response.json()) as Result;
  assert.deepEqual(result.inputs, ['title', 'plot']);
  assert.equal(result.input, 'Alien (1979)');
  assert.equal(result.scores.length, textModel.genres.length);
  // The same answer as the library gives for the same text.
  const direct = await textModel.predict(alien);
  assert.deepEqual(result.scores, direct.scores);
  assert.deepEqual(result.genres, direct.genres);

  const items = (await (await fetch(`${url}/v1/predict/batch`, json({ items: [{ title: 'Alien (1979)' }, { plot: alien.plot }, alien] }))).json()) as Result[];
  assert.deepEqual(items.map((r) => r.inputs), [['title'], ['plot'], ['title', 'plot']]);
  assert.deepEqual(items[2]!.scores, direct.scores);

  // A poster goes unread by this model: with a title the title is used; alone it is a 400.
  const batch = new FormData();
  batch.append('images', new Blob([new Uint8Array(poster)]), 'a.jpg');
  batch.append('images', new Blob([new Uint8Array(poster)]), 'b.jpg');
  batch.append('texts', JSON.stringify([{ title: 'Alien (1979)' }]));
  const mixed = (await (await fetch(`${url}/v1/predict/batch`, { method: 'POST', body: batch })).json()) as Result[];
  assert.deepEqual(mixed[0]!.inputs, ['title']);
  assert.equal(mixed[0]!.input, 'a.jpg');
  assert.equal(mixed[1]!.error?.code, 'INVALID_ARGUMENT');
  assert.match(mixed[1]!.error!.message, /b\.jpg: nothing to predict from: image given, but the model reads title, plot/);
  const lone = new FormData();
  lone.append('image', new Blob([new Uint8Array(poster)]), 'p.jpg');
  await expectError(await fetch(`${url}/v1/predict`, { method: 'POST', body: lone }), 400, 'INVALID_ARGUMENT', 'the model reads title, plot');
  // Multipart without a poster: text fields alone, or text sent as files (curl -F plot=@plot.txt), decoded strictly.
  const fields = new FormData();
  fields.append('title', 'Alien (1979)');
  fields.append('plot', new Blob([alien.plot]), 'plot.txt');
  const viaForm = (await (await fetch(`${url}/v1/predict`, { method: 'POST', body: fields })).json()) as Result;
  assert.deepEqual(viaForm.inputs, ['title', 'plot']);
  assert.deepEqual(viaForm.scores, direct.scores);
  const badFile = new FormData();
  badFile.append('plot', new Blob([new Uint8Array([0x41, 0xff, 0x42])]), 'plot.txt');
  await expectError(await fetch(`${url}/v1/predict`, { method: 'POST', body: badFile }), 400, 'INVALID_ARGUMENT', 'file "plot" is not valid UTF-8');
  const info = (await (await fetch(`${url}/v1/model`)).json()) as { accepts: string[]; backbone: unknown };
  assert.deepEqual(info.accepts, ['title', 'plot']);
  assert.equal(info.backbone, null);
});
