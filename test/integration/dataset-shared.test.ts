/**
 * The real labels: ../shared/data/posters/labels.csv (one-hot, 25 genres) and
 * its 5,988 posters, read and split without leakage.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatDatasetReport, readDataset } from '../../src/data/dataset.js';
import { stratifiedSplit } from '../../src/data/split.js';
import { POSTERS, SHARED, skipWithoutShared } from '../helpers/shared.js';

test('labels.csv: 5,988 rows, 25 one-hot genres, every poster found, a leakage-free split', { skip: skipWithoutShared }, async () => {
  const ds = await readDataset({ data: join(SHARED, 'data', 'posters', 'labels.csv'), images: [POSTERS] });
  const { report } = ds;
  assert.equal(report.format, 'one-hot');
  assert.equal(report.rows, 5988);
  assert.equal(ds.genres.length, 25);
  assert.ok(ds.genres.includes('N/A'));
  assert.equal(report.genreCounts[0]!.genre, 'Drama');
  assert.equal(report.imagesFound, 5988);
  assert.equal(report.imagesMissing, 0);
  assert.deepEqual(report.malformed, []);
  assert.deepEqual(report.droppedGenres, []);
  assert.equal(report.rowsWithoutGenres, 0);
  // The list column agrees with the one-hot columns.
  assert.deepEqual(ds.rows[0]!.genres, ['Adventure', 'Biography', 'Drama']);
  assert.match(formatDatasetReport(report), /^.*labels\.csv: 5,988 rows \(one-hot genre columns\)\nimages: 5,988 found, 0 missing\n/);

  const labels = ds.labels();
  const split = stratifiedSplit(labels, ds.rows.length, ds.genres.length, { ids: ds.rows.map((r) => r.id) }, { seed: 0 });
  const parts = [split.train, split.validation, split.test];
  assert.equal(parts.reduce((n, p) => n + p.length, 0), 5988);
  const idsIn = parts.map((p) => new Set(p.map((r) => ds.rows[r]!.id)));
  const imagesIn = parts.map((p) => new Set(p.map((r) => ds.rows[r]!.image)));
  for (let a = 0; a < 3; a++) {
    for (let b = a + 1; b < 3; b++) {
      for (const id of idsIn[a]!) assert.ok(!idsIn[b]!.has(id), `id ${id} in two splits`);
      for (const image of imagesIn[a]!) assert.ok(!imagesIn[b]!.has(image), `${image} in two splits`);
    }
  }
  const genres = ds.genres.length;
  for (const { genre, count } of report.genreCounts) {
    if (count < 3) continue;
    const g = ds.genres.indexOf(genre);
    for (const part of parts) assert.ok(part.some((r) => labels[r * genres + g]), `${genre} missing from a split`);
  }
});
