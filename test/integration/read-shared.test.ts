/**
 * Reading real posters from ../shared: most have text, and for many the
 * title that metadata.csv gives is among what was read (the number that
 * says whether read text can stand in for a missing title).
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import { cellText, findColumn, readTable } from '../../src/data/table.js';
import { type PosterReader, loadPosterReader, readPosterFiles } from '../../src/ocr/read.js';
import { type TempDir, makeTempDir } from '../helpers/images.js';
import { titleFound } from '../helpers/read-metrics.js';
import { POSTERS, SHARED, skipWithoutShared } from '../helpers/shared.js';

let dir: TempDir;
let reader: PosterReader;

before(async () => {
  if (skipWithoutShared) return;
  dir = await makeTempDir('posterscope-read-int-');
  reader = await loadPosterReader({}, { mirrors: [], offline: true, cacheDir: dir.path });
});

after(async () => {
  await reader?.release();
  await dir?.remove();
});

test('real posters: text on nearly all, and the metadata title found in what was read for at least half', { skip: skipWithoutShared }, async (t) => {
  // Every 250th poster: 24 from across the data set rather than from one year.
  const names = (await readdir(POSTERS)).filter((n) => n.endsWith('.jpg')).sort().filter((_, i) => i % 250 === 0);
  const results = await readPosterFiles(names.map((n) => join(POSTERS, n)), { reader });
  assert.deepEqual(results.filter((r) => r.error), []);
  const metadata = await readTable(join(SHARED, 'data', 'posters', 'metadata.csv'));
  const [id, title] = [findColumn(metadata, ['id']), findColumn(metadata, ['title'])];
  const titles = new Map(metadata.rows.map((row) => [cellText(row, id), cellText(row, title) ?? '']));
  const withText = results.filter((r) => r.lines.length > 0);
  const found = results.filter((r) => titleFound(titles.get(basename(r.input, '.jpg')) ?? '', r.text));
  const report = results.map((r) => `${titles.get(basename(r.input, '.jpg'))} | ${r.text.replace(/\n/g, ' / ')}`).join('\n');
  t.diagnostic(`${withText.length}/${results.length} posters with text, title found in ${found.length}`);
  assert.ok(withText.length >= 0.8 * results.length, `${withText.length}/${results.length} with text:\n${report}`);
  assert.ok(found.length >= 0.5 * results.length, `title found in ${found.length}/${results.length}:\n${report}`);
  for (const r of results) for (const line of r.lines) assert.ok(line.confidence >= 0.5 && line.text.trim() === line.text && line.text !== '');
});
