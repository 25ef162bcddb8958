/**
 * Posters with their titles and plots (../shared metadata.csv): a quick
 * multimodal model on a slice of the real posters, whose full-input result
 * beats its poster-only result on the same test rows, and a text-only model
 * on ../shared/data/text/imdb-movies.csv (no posters at all).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { evaluate } from '../../src/model/evaluate.js';
import { loadModel } from '../../src/model/model.js';
import { train } from '../../src/train/train.js';
import { type TempDir, makeTempDir } from '../helpers/images.js';
import { MODELS, POSTERS, SHARED, skipWithoutShared } from '../helpers/shared.js';

let dir: TempDir;
const METADATA = join(SHARED, 'data', 'posters', 'metadata.csv');

before(async () => {
  if (skipWithoutShared) return;
  dir = await makeTempDir('posterscope-text-int-');
});

after(() => dir?.remove());

test('poster + title + plot on 1,200 real posters: the text is joined, and all inputs beat the poster alone', { skip: skipWithoutShared }, async () => {
  const lines = (await readFile(join(SHARED, 'data', 'posters', 'labels.csv'), 'utf8')).trim().split('\n');
  const data = await dir.write('slice.csv', `${lines.slice(0, 1201).join('\n')}\n`);
  const output = dir.file('model');
  const common = { mirrors: [MODELS], cacheDir: dir.file('cache'), offline: true };
  const result = await train({ data, metadata: METADATA, images: [POSTERS], output, views: ['native'], minCount: 20, ...common });
  const text = result.dataset.text!;
  // Every poster has a title; about 70% a plot; the 5,413 other metadata ids match no row of the slice.
  assert.equal(text.withTitle, 1200);
  assert.ok(text.withPlot > 700 && text.withPlot < 1000, `plots ${text.withPlot}`);
  assert.equal(text.metadataUnmatched, 6613 - 1200);
  assert.deepEqual(result.manifest.inputs.accepts, ['image', 'title', 'plot']);
  const report = await evaluate({ model: output, ...common });
  assert.equal(report.rows, result.test.rows);
  const { image, all, text: titlePlot } = report.modalities;
  assert.ok(all!.microF1 > image!.microF1 + 0.02, `all ${all!.microF1} vs image ${image!.microF1}`);
  assert.ok(all!.mAP > image!.mAP + 0.05, `mAP all ${all!.mAP} vs image ${image!.mAP}`);
  assert.ok(titlePlot!.microF1 > report.baselines.prior.microF1, `title + plot ${titlePlot!.microF1}`);
  assert.equal(report.microF1, all!.microF1, 'top-level keys are the full-input result');
  assert.ok(report.modalitiesWithPlot!.rows < report.rows);
  // predict with a real poster and its own metadata title and plot uses all three.
  const model = await loadModel(output, common);
  try {
    const [p] = await model.predict([{ image: join(POSTERS, 'tt0151137.jpg'), title: 'The Messenger: The Story of Joan of Arc (1999)', plot: 'In 1429 a teenage girl from a remote French village stood before her King.' }]);
    assert.deepEqual(p!.inputs, ['image', 'title', 'plot']);
    assert.equal(p!.error, undefined);
  } finally {
    await model.release();
  }
});

test('a text-only model on imdb-movies.csv (Title, Genre, Description; no posters) beats the prior', { skip: skipWithoutShared }, async () => {
  const output = dir.file('text-model');
  const result = await train({ data: join(SHARED, 'data', 'text', 'imdb-movies.csv'), images: [], genresColumn: 'Genre', minCount: 10, output });
  assert.equal(result.dataset.rows, 800);
  assert.deepEqual(result.manifest.inputs.accepts, ['title', 'plot']);
  assert.equal(result.manifest.backbone, undefined);
  const t = result.test;
  assert.ok(t.microF1 > t.baselines.prior.microF1 + 0.03, `micro-F1 ${t.microF1} vs prior ${t.baselines.prior.microF1}`);
});
