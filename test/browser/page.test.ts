/**
 * The web page in a real browser against the real server and the default
 * model: upload, genre bars, client-side threshold / top-k, TTA re-run,
 * rejected files, downloads, a poster's title and plot, text-only mode,
 * keyboard use, phone width, no outside requests.
 * Screenshots go to test-output/ (gitignored) for a human to look at.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { type Browser, type Page, chromium } from 'playwright-core';
import { type GenreModel, loadModel } from '../../src/model/model.js';
import { createServer } from '../../src/serve/server.js';
import { ROOT } from '../helpers/cli.js';
import { type TempDir, makeTempDir } from '../helpers/images.js';
import { MODELS, UNLABELED, skipWithoutShared } from '../helpers/shared.js';
import { trainTextModel } from '../helpers/text-model.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`chromium not found at ${CHROMIUM}: CI must install it (or set CHROMIUM_PATH)`);
const skip = skipWithoutShared || (haveChromium ? false : `no chromium at ${CHROMIUM} (set CHROMIUM_PATH to run the browser test)`);

const POSTER = 'tt0121766.jpg';
const OUTPUT = join(ROOT, 'test-output');
const WAIT = { timeout: 120_000 }; // the first poster embeds 13 backbone passes on a cold cache

let dir: TempDir;
let model: GenreModel;
let app: FastifyInstance;
let browser: Browser;
let page: Page;
let origin: string;
const requests: string[] = [];
const pageErrors: string[] = [];
const cspViolations: string[] = [];

const card = (name: string) => page.locator(`.result[data-input="${name}"]`);
const predictRequests = () => requests.filter((url) => new URL(url).pathname.startsWith('/v1/predict')).length;
const scores = (name: string) => card(name).locator('.bar').evaluateAll((bars) => bars.map((b) => Number((b as HTMLElement).dataset.score)));
const marked = (name: string) =>
  card(name).locator('.bar').evaluateAll((bars) => bars.filter((b) => b.classList.contains('predicted')).map((b) => (b as HTMLElement).dataset.genre!));

before(async () => {
  if (skip) return;
  dir = await makeTempDir('posterscope-browser-');
  model = await loadModel(undefined, { mirrors: [MODELS], cacheDir: dir.file('cache'), offline: true });
  app = await createServer({ model });
  await app.listen({ host: '127.0.0.1', port: 0 });
  origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'],
  });
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.on('request', (request) => requests.push(request.url()));
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
  });
  // Intercept file choosers from the start: turning interception on inside
  // waitForEvent races a keypress sent right after it.
  page.on('filechooser', () => {});
  await page.goto(`${origin}/`);
  // The slider starts at the model's own threshold once /v1/model has answered.
  await page.locator('#threshold-value').filter({ hasText: model.manifest.thresholds.global.toFixed(2) }).waitFor();
});

after(async () => {
  await browser?.close();
  await app?.close();
  await model?.release();
  await dir?.remove();
});

test('a poster gets 25 genre bars sorted by score, some marked at the model threshold', { skip }, async () => {
  assert.equal(await page.locator('#threshold').inputValue(), String(model.manifest.thresholds.global));
  await page.setInputFiles('#file-input', join(UNLABELED, POSTER));
  await card(POSTER).locator('.bar').first().waitFor(WAIT);
  const values = await scores(POSTER);
  assert.equal(values.length, model.genres.length);
  assert.deepEqual(values, [...values].sort((a, b) => b - a));
  const chosen = await marked(POSTER);
  assert.ok(chosen.length >= 1, 'no genre marked at the default threshold');
  await page.locator('#status').filter({ hasText: 'Done' }).waitFor();
  // The table row shows the same genres as the card.
  assert.equal(await page.locator('#results-table tbody tr', { hasText: POSTER }).locator('td').first().textContent(), chosen.join(', '));
});

test('the threshold slider and top-k re-mark genres on the client, without a new request', { skip }, async () => {
  const before = predictRequests();
  const atDefault = (await marked(POSTER)).length;

  await page.locator('#threshold').fill('0.05');
  assert.equal(await page.locator('#threshold-value').textContent(), '0.05');
  const low = await marked(POSTER);
  assert.ok(low.length > atDefault, `${low.length} marked at 0.05, ${atDefault} at the default`);
  // Marked iff score >= 0.05: every marked bar is above every unmarked one.
  const rows = await card(POSTER).locator('.bar').evaluateAll((bars) => bars.map((b) => [Number((b as HTMLElement).dataset.score), b.classList.contains('predicted')] as const));
  for (const [score, on] of rows) assert.equal(on, Math.fround(score) >= Math.fround(0.05), `score ${score}`);

  await page.locator('#top-k').fill('2');
  assert.equal((await marked(POSTER)).length, 2);
  await page.locator('#top-k').fill('');
  assert.equal((await marked(POSTER)).length, low.length);

  await page.locator('#threshold').fill('0.95');
  const high = await marked(POSTER);
  assert.ok(high.length <= atDefault && high.length < low.length, `${high.length} marked at 0.95`);

  assert.equal(predictRequests(), before, 'moving the slider or top-k sent a request');
  await page.locator('#threshold').fill(String(model.manifest.thresholds.global));
});

test('a text file is rejected in its own card; the drop zone is a labelled button the keyboard opens', { skip }, async () => {
  const notes = await dir.write('notes.txt', 'hello');
  await page.locator('body').focus();
  let focused = '';
  for (let i = 0; i < 10 && focused !== 'drop-zone'; i++) {
    await page.keyboard.press('Tab');
    focused = await page.evaluate(() => document.activeElement?.id ?? '');
  }
  assert.equal(focused, 'drop-zone', 'Tab never reached the drop zone');
  const zone = page.getByRole('button', { name: /add posters/i });
  assert.equal(await zone.getAttribute('id'), 'drop-zone');
  // Enter on the focused drop zone opens the file picker.
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.keyboard.press('Enter')]);
  assert.ok(chooser.isMultiple());
  await chooser.setFiles(notes);
  const error = card('notes.txt').locator('.error');
  await error.waitFor(WAIT);
  assert.match((await error.textContent())!, /notes\.txt: not an image/);
  assert.equal(await card('notes.txt').locator('.bar').count(), 0);
  await page.locator('#status').filter({ hasText: '1 rejected' }).waitFor();
  // Every control has a name.
  for (const id of ['file-input', 'threshold', 'top-k', 'tta', 'download-csv', 'download-json']) {
    const name = await page.locator(`#${id}`).evaluate((e) => (e as HTMLInputElement).labels?.[0]?.textContent || e.getAttribute('aria-label') || e.textContent);
    assert.ok(name?.trim() || id === 'file-input', `#${id} has no label`);
  }
});

test('CSV and JSON downloads hold the batch as marked on the page', { skip }, async () => {
  const [csv] = await Promise.all([page.waitForEvent('download'), page.locator('#download-csv').click()]);
  const text = await readFile((await csv.path())!, 'utf8');
  const [header, ...lines] = text.trim().split('\r\n');
  assert.deepEqual(header!.split(',').slice(0, 4), ['input', 'genres', 'error', 'inputs']);
  assert.equal(header!.split(',').length, 4 + model.genres.length);
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, new RegExp(`^${POSTER},${(await marked(POSTER)).join('\\|')},,image,`));
  assert.match(lines[1]!, /^notes\.txt,,"notes\.txt: not an image/);

  const [json] = await Promise.all([page.waitForEvent('download'), page.locator('#download-json').click()]);
  const rows = JSON.parse(await readFile((await json.path())!, 'utf8')) as Array<{ input: string; inputs: string[]; genres: string[]; scores: unknown[]; error?: { code: string } }>;
  assert.deepEqual(rows.map((r) => r.input), [POSTER, 'notes.txt']);
  assert.deepEqual(rows.map((r) => r.inputs), [['image'], []]);
  assert.deepEqual(rows[0]!.genres, await marked(POSTER));
  assert.equal(rows[0]!.scores.length, model.genres.length);
  assert.equal(rows[1]!.error?.code, 'IMAGE_UNSUPPORTED');
});

test('unticking zoomed tiles re-runs inference with tta=single', { skip }, async () => {
  const before = requests.length;
  await page.locator('#tta').uncheck();
  await page.locator('#status').filter({ hasText: 'Done' }).waitFor(WAIT);
  const sent = requests.slice(before).filter((url) => new URL(url).pathname === '/v1/predict/batch');
  assert.equal(sent.length, 1);
  assert.equal(new URL(sent[0]!).searchParams.get('tta'), 'single');
  assert.equal(await card(POSTER).locator('.bar').count(), model.genres.length);
  await page.locator('#tta').check();
  await page.locator('#status').filter({ hasText: 'Done' }).waitFor(WAIT);
});

test('a poster\'s title and plot boxes: sent with it (field texts), and the card says which inputs were used', { skip }, async () => {
  const editor = card(POSTER).locator('.text-edit');
  assert.equal(await editor.locator('summary').textContent(), 'Add title and plot');
  await editor.locator('summary').click();
  await editor.getByLabel('Title').fill('Star Wars: Episode III (2005)');
  await editor.getByLabel('Plot').fill('Anakin turns to the dark side.');
  // The browser does not hand multipart bodies holding files to the test: record what the page gives fetch.
  await page.evaluate(() => {
    const original = window.fetch;
    const sent: unknown[] = [];
    Object.assign(window, { sent });
    window.fetch = (url, init) => {
      const body = init?.body;
      sent.push(body instanceof FormData ? [...body.entries()].map(([k, v]) => [k, typeof v === 'string' ? v : (v as File).name]) : body);
      return original(url, init);
    };
  });
  await Promise.all([
    page.waitForRequest((r) => new URL(r.url()).pathname === '/v1/predict/batch' && r.method() === 'POST'),
    editor.getByLabel('Title').press('Enter'),
  ]);
  assert.deepEqual(await page.evaluate(() => (window as unknown as { sent: unknown[] }).sent), [
    [['images', POSTER], ['texts', JSON.stringify([{ title: 'Star Wars: Episode III (2005)', plot: 'Anakin turns to the dark side.' }])]],
  ]);
  const used = card(POSTER).locator('.used');
  await used.waitFor(WAIT);
  await page.locator('#status').filter({ hasText: 'Done' }).waitFor(WAIT);
  const expected = ['image', 'title', 'plot'].filter((input) => model.accepts.includes(input as 'image'));
  assert.equal(await used.getAttribute('data-inputs'), expected.join(','));
  if (!model.accepts.includes('title')) assert.match((await used.textContent())!, /^Used: poster \(title and plot not read by this model\)$/);
  // The boxes stay open with the text in them, and the keyboard stays in the card.
  assert.equal(await card(POSTER).locator('.text-edit').getAttribute('open'), '');
  assert.equal(await card(POSTER).locator('.text-edit').getByLabel('Title').inputValue(), 'Star Wars: Episode III (2005)');
  assert.ok(await card(POSTER).evaluate((c) => c.contains(document.activeElement)), 'focus left the card');
  assert.equal(await page.locator('#results-table tbody tr', { hasText: POSTER }).locator('td').nth(2).textContent(), expected.map((i) => (i === 'image' ? 'poster' : i)).join(' + '));
});

test('text-only mode: a title and plot without a poster go as JSON; the result (or the model\'s refusal) shows in its own card', { skip }, async () => {
  await page.locator('#text-submit').click();
  assert.equal(await page.locator('#text-error').textContent(), 'Type a title or a plot first.');
  await page.locator('#text-title').fill('Alien (1979)');
  await page.locator('#text-plot').fill('The crew of a space tug answers a distress call.');
  const [request] = await Promise.all([
    page.waitForRequest((r) => new URL(r.url()).pathname === '/v1/predict/batch' && r.method() === 'POST'),
    page.locator('#text-title').press('Enter'),
  ]);
  assert.equal(request.headers()['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(request.postData()!), { items: [{ title: 'Alien (1979)', plot: 'The crew of a space tug answers a distress call.' }] });
  const textCard = card('Alien (1979)');
  await textCard.locator('.used, .error').first().waitFor(WAIT);
  assert.equal(await textCard.locator('.thumb').textContent(), 'text only');
  if (model.accepts.includes('title')) {
    assert.equal(await textCard.locator('.bar').count(), model.genres.length);
    assert.match((await textCard.locator('.used').getAttribute('data-inputs'))!, /title/);
  } else {
    assert.match((await textCard.locator('.error').textContent())!, /nothing to predict from: title and plot given, but the model reads image/);
    assert.match((await page.locator('#text-note').textContent())!, /reads posters only/);
  }
  assert.equal(await page.locator('#text-title').inputValue(), '', 'the form is cleared for the next one');
  assert.equal(await page.locator('#text-error').textContent(), '');

  // Text over the server's limit is refused on its card, before any request.
  const before = predictRequests();
  await page.locator('#text-plot').fill('x'.repeat(20_001));
  await page.locator('#text-submit').click();
  const long = card(`plot: ${'x'.repeat(40)}…`);
  await long.locator('.error').waitFor(WAIT);
  assert.match((await long.locator('.error').textContent())!, /the plot is 20001 bytes; the server takes at most 20000/);
  await page.locator('#status').filter({ hasText: 'Done' }).waitFor(WAIT);
  assert.equal(predictRequests(), before);
});

test('the page asks nothing of any host but its server, and fits a phone', { skip }, async () => {
  await mkdir(OUTPUT, { recursive: true });
  await page.screenshot({ path: join(OUTPUT, 'page.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'the page scrolls sideways at phone width');
  await page.screenshot({ path: join(OUTPUT, 'page-phone.png'), fullPage: true });
  const elsewhere = requests.filter((url) => !url.startsWith('blob:') && !url.startsWith('data:') && new URL(url).hostname !== '127.0.0.1');
  assert.deepEqual(elsewhere, []);
  assert.deepEqual(pageErrors, []);
  // The server's CSP lets the page do all of the above: nothing it needed was refused.
  assert.deepEqual(cspViolations, []);
  assert.match((await page.request.get(`${origin}/`)).headers()['content-security-policy'] ?? '', /script-src 'self'/);
});

test('with a model that reads text, text-only mode gives genre bars and says title + plot were used', { skip }, async () => {
  const textModel = await loadModel(await trainTextModel(dir.path), { offline: true, cacheDir: dir.file('cache') });
  const textApp = await createServer({ model: textModel });
  await textApp.listen({ host: '127.0.0.1', port: 0 });
  const textPage = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  try {
    await textPage.goto(`http://127.0.0.1:${(textApp.server.address() as AddressInfo).port}/`);
    await textPage.locator('#status').filter({ hasText: 'Ready' }).waitFor(WAIT);
    assert.equal(await textPage.locator('#text-note').textContent(), 'This model reads text only: posters need a title or plot.');
    await textPage.locator('#text-title').fill('Alien (1979)');
    await textPage.locator('#text-plot').fill('The crew of a space tug meets a deadly creature aboard its ship.');
    await textPage.locator('#text-submit').press('Enter');
    const textCard = textPage.locator('.result[data-input="Alien (1979)"]');
    await textCard.locator('.bar').first().waitFor(WAIT);
    assert.equal(await textCard.locator('.bar').count(), textModel.genres.length);
    assert.equal(await textCard.locator('.used').textContent(), 'Used: title + plot');
    const direct = await textModel.predict({ title: 'Alien (1979)', plot: 'The crew of a space tug meets a deadly creature aboard its ship.' });
    const shown = await textCard.locator('.bar').evaluateAll((bars) => bars.map((b) => (b as HTMLElement).dataset.genre));
    assert.deepEqual(shown, direct.scores.map((s) => s.genre));
    await textPage.screenshot({ path: join(OUTPUT, 'page-text-only.png'), fullPage: true });
  } finally {
    await textPage.close();
    await textApp.close();
    await textModel.release();
  }
});
