/**
 * The report page in a real browser: a model trained on a small slice of the
 * real posters in ../shared writes report.html into its bundle; chromium
 * opens the file (every chart draws a non-empty SVG, no console error, no
 * request leaves the file, thumbnails decoded, the genre picker works by
 * keyboard, phone width fits), then `serve` shows it at /report under its own
 * sandboxed CSP. Screenshots go to test-output/.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { type Browser, type Page, chromium } from 'playwright-core';
import { type GenreModel, loadModel } from '../../src/model/model.js';
import { REPORT_FILE } from '../../src/report/report.js';
import { createServer } from '../../src/serve/server.js';
import { train } from '../../src/train/train.js';
import { ROOT } from '../helpers/cli.js';
import { type TempDir, makeTempDir } from '../helpers/images.js';
import { MODELS, POSTERS, SHARED, skipWithoutShared } from '../helpers/shared.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`chromium not found at ${CHROMIUM}: CI must install it (or set CHROMIUM_PATH)`);
const skip = skipWithoutShared || (haveChromium ? false : `no chromium at ${CHROMIUM} (set CHROMIUM_PATH to run the browser test)`);
const OUTPUT = join(ROOT, 'test-output');
/** The charts the page draws (the precision-recall chart is drawn from the genre picker). */
const CHARTS = ['history-loss', 'history-metrics', 'sweep', 'pr-chart', 'per-genre', 'balance', 'confusion', 'cooccurrence', 'calibration'];

let dir: TempDir;
let bundle: string;
let browser: Browser;

/** A page that records console errors, uncaught errors and every request. */
async function openPage(width: number): Promise<{ page: Page; errors: string[]; requests: string[] }> {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') errors.push(`${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('request', (request) => requests.push(request.url()));
  return { page, errors, requests };
}

/** Path elements drawn in each chart's SVG. */
const drawn = (page: Page) =>
  page.evaluate((ids) => Object.fromEntries(ids.map((id) => [id, document.getElementById(id)?.querySelector('svg')?.querySelectorAll('path, text').length ?? 0])), CHARTS);

before(async () => {
  if (skip) return;
  dir = await makeTempDir('posterscope-report-');
  // 240 posters, one view each: small enough for a cold cache in CI.
  const lines = (await readFile(join(SHARED, 'data', 'posters', 'labels.csv'), 'utf8')).trim().split('\n');
  const data = await dir.write('slice.csv', `${lines.slice(0, 241).join('\n')}\n`);
  bundle = dir.file('model');
  await train({ data, images: [POSTERS], output: bundle, views: ['native'], minCount: 8, maxEpochs: 12, mirrors: [MODELS], cacheDir: dir.file('cache'), offline: true });
  await mkdir(OUTPUT, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'],
  });
});

after(async () => {
  await browser?.close();
  await dir?.remove();
});

test('train writes report.html; opened from disk every chart draws, thumbnails show, nothing is fetched', { skip }, async () => {
  const file = join(bundle, REPORT_FILE);
  const size = (await stat(file)).size;
  assert.ok(size > 100_000 && size < 5_000_000, `report.html is ${size} bytes`);
  const { page, errors, requests } = await openPage(1200);
  await page.goto(pathToFileURL(file).href);
  await page.waitForSelector(`html[data-charts="${CHARTS.length}"]`);
  for (const [id, count] of Object.entries(await drawn(page))) assert.ok(count > 10, `chart ${id} drew ${count} elements`);
  // Every section has a one-line caption, and every number sits beside the baselines.
  assert.equal(await page.locator('.chart-figure figcaption').count(), CHARTS.length);
  assert.match((await page.locator('.tiles').textContent())!, /prior \d\.\d{3} · random \d\.\d{3}/);
  assert.ok(await page.locator('#threshold tbody tr', { hasText: 'prior baseline' }).count() === 1);
  // The gallery: thumbnails decoded from inline data: URIs.
  const thumbnails = await page.locator('#mistakes img').evaluateAll((images) => images.map((i) => [(i as HTMLImageElement).naturalWidth, (i as HTMLImageElement).src.slice(0, 15)]));
  assert.ok(thumbnails.length >= 5, `${thumbnails.length} thumbnails`);
  for (const [width, src] of thumbnails) assert.ok(width === 64 && src === 'data:image/webp', `${width} ${src}`);
  await page.screenshot({ path: join(OUTPUT, 'report-desktop.png'), fullPage: true });
  // Printing: the contents list goes, the charts stay drawn.
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.locator('nav').isVisible(), false);
  for (const [id, count] of Object.entries(await drawn(page))) assert.ok(count > 10, `chart ${id} drew ${count} elements for print`);
  await page.pdf({ path: join(OUTPUT, 'report.pdf'), format: 'A4' });
  await page.emulateMedia({ media: 'screen' });
  assert.deepEqual(errors, []);
  assert.deepEqual(requests.filter((url) => !url.startsWith('file:') && !url.startsWith('data:')), [], 'the page fetched something');
  assert.equal(requests.filter((url) => url.startsWith('file:')).length, 1, 'only the page itself is read from disk');
  await page.close();
});

test('the genre picker works by keyboard, and the page fits a phone\'s width', { skip }, async () => {
  const { page, errors } = await openPage(390);
  await page.goto(pathToFileURL(join(bundle, REPORT_FILE)).href);
  await page.waitForSelector(`html[data-charts="${CHARTS.length}"]`);
  const title = () => page.locator('#pr-chart svg text', { hasText: / AP / }).first().textContent();
  const first = await title();
  await page.locator('#pr-genre').focus();
  await page.keyboard.press('ArrowDown');
  const second = await title();
  assert.notEqual(second, first, 'the precision-recall chart did not change genre');
  assert.match(second!, /AP \d\.\d{3}/);
  // No horizontal scrolling of the page itself at 390 px (wide tables scroll inside their own box).
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'the page is wider than the phone');
  for (const [id, count] of Object.entries(await drawn(page))) assert.ok(count > 10, `chart ${id} drew ${count} elements at phone width`);
  await page.screenshot({ path: join(OUTPUT, 'report-phone.png'), fullPage: false });
  assert.deepEqual(errors, []);
  await page.close();
});

test('serve shows the model\'s report at /report under a sandboxed CSP that lets its own script run', { skip }, async () => {
  const model: GenreModel = await loadModel(bundle, { mirrors: [MODELS], cacheDir: dir.file('cache'), offline: true });
  const app: FastifyInstance = await createServer({ model });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const { page, errors, requests } = await openPage(1200);
    // The page's footer links to it.
    await page.goto(`${origin}/`);
    await page.locator('#report-link').click();
    await page.waitForURL(`${origin}/report`);
    await page.waitForSelector(`html[data-charts="${CHARTS.length}"]`);
    for (const [id, count] of Object.entries(await drawn(page))) assert.ok(count > 10, `chart ${id} drew ${count} elements when served`);
    const response = await fetch(`${origin}/report`);
    const csp = response.headers.get('content-security-policy')!;
    assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+'/);
    assert.match(csp, /sandbox allow-scripts/);
    assert.match(csp, /default-src 'none'/);
    // The rest of the server keeps its own policy.
    assert.match((await fetch(`${origin}/`)).headers.get('content-security-policy')!, /script-src 'self'/);
    assert.deepEqual(errors.filter((e) => !/favicon/.test(e)), []);
    assert.deepEqual(requests.filter((url) => !url.startsWith(origin) && !url.startsWith('data:')), []);
    await page.close();
    // A bundle without a report gets a page saying how to make one.
    await rename(join(bundle, REPORT_FILE), join(bundle, 'moved.html'));
    const missing = await fetch(`${origin}/report`);
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /posterscope report --model/);
    await rename(join(bundle, 'moved.html'), join(bundle, REPORT_FILE));
  } finally {
    await app.close();
    await model.release();
  }
});
