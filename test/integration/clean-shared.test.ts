/**
 * Text removal on real posters from ../shared: the CLI finds text on real
 * posters, and a model trained with --clean carries its cleaner in the bundle
 * so predict cleans the same way.
 */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { BoxesRecord } from '../../src/clean/clean-files.js';
import { getTextDetectorSpec } from '../../src/ocr/detector.js';
import { loadModel } from '../../src/model/model.js';
import { train } from '../../src/train/train.js';
import { runCli } from '../helpers/cli.js';
import { type TempDir, makeTempDir } from '../helpers/images.js';
import { MODELS, POSTERS, SHARED, skipWithoutShared } from '../helpers/shared.js';

let dir: TempDir;

before(async () => {
  if (skipWithoutShared) return;
  dir = await makeTempDir('posterscope-clean-int-');
});

after(() => dir?.remove());

test('posterscope clean finds text on most real posters and writes every one back', { skip: skipWithoutShared }, async () => {
  const names = (await readdir(POSTERS)).sort().slice(0, 16);
  const out = dir.file('clean');
  const result = await runCli(['clean', ...names.map((n) => join(POSTERS, n)), '--out', out, '--json'], { env: { POSTERSCOPE_OFFLINE: '1' } });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(JSON.parse(result.stdout).cleaned, 16);
  const records = (await readFile(join(out, 'boxes.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as BoxesRecord);
  assert.deepEqual(records.map((r) => r.file).sort(), names);
  // Nearly every real poster has a title or credits; boxes stay inside the poster.
  assert.ok(records.filter((r) => r.boxes.length > 0).length >= 12, JSON.stringify(records.map((r) => r.boxes.length)));
  for (const r of records) for (const b of r.boxes) assert.ok(b.x0 >= 0 && b.y0 >= 0 && b.x1 <= r.width && b.y1 <= r.height);
});

test('a model trained with clean: true records its cleaner, and predict cleans posters the same way', { skip: skipWithoutShared }, async () => {
  const lines = (await readFile(join(SHARED, 'data', 'posters', 'labels.csv'), 'utf8')).trim().split('\n');
  const data = await dir.write('slice.csv', `${lines.slice(0, 121).join('\n')}\n`);
  const output = dir.file('model');
  const common = { mirrors: [MODELS], cacheDir: dir.file('cache'), offline: true };
  const result = await train({ data, images: [POSTERS], output, views: ['native'], minCount: 10, clean: { dilate: 3 }, ...common });
  const clean = result.manifest.clean!;
  assert.equal(clean.sha256, getTextDetectorSpec('ppocr-v4-det').file.sha256);
  assert.equal(clean.settings.dilate, 3);
  assert.match(clean.id, /-d3-r5$/);

  const poster = join(POSTERS, lines[1]!.split(',')[0]! + '.jpg');
  const model = await loadModel(output, common);
  const raw = await loadModel(output, { ...common, clean: false });
  try {
    assert.equal(model.cleaner?.id, clean.id);
    assert.equal(raw.cleaner, undefined);
    let summary: { fromCache: number } | undefined;
    const cleaned = await model.predict(poster, { onSummary: (s) => (summary = s) });
    // Training embedded this poster cleaned, under the cleaner's cache keys: predict finds it there.
    assert.equal(summary?.fromCache, 1);
    const original = await raw.predict(poster);
    assert.equal(cleaned.scores.length, original.scores.length);
    const differs = cleaned.scores.some((s) => Math.abs(s.score - original.scores.find((o) => o.genre === s.genre)!.score) > 1e-4);
    assert.ok(differs, 'cleaned and original posters should score differently');
  } finally {
    await Promise.all([model.release(), raw.release()]);
  }
});

test('predict --clean removes text before scoring with any model; --dilate alone implies it', { skip: skipWithoutShared }, async () => {
  const poster = join(POSTERS, (await readdir(POSTERS)).sort()[0]!);
  const env = { POSTERSCOPE_MIRROR: MODELS, POSTERSCOPE_CACHE: dir.file('cli-cache'), POSTERSCOPE_OFFLINE: '1' };
  const scores = async (args: string[]) => {
    const result = await runCli(['predict', poster, '--verbose', ...args], { env });
    assert.equal(result.code, 0, result.stderr);
    const [prediction] = JSON.parse(result.stdout) as Array<{ scores: Array<{ genre: string; score: number }> }>;
    return new Map(prediction!.scores.map((s) => [s.genre, s.score]));
  };
  const original = await scores([]);
  const cleaned = await scores(['--clean']);
  const wider = await scores(['--dilate', '6']);
  const differ = (a: Map<string, number>, b: Map<string, number>) => [...a].some(([g, s]) => Math.abs(s - b.get(g)!) > 1e-4);
  assert.ok(differ(original, cleaned) && differ(cleaned, wider));
  const boxes = await readdir(join(dir.file('cli-cache'), 'boxes'));
  assert.equal(boxes.length, 1, 'one detection setting, so one box file for both dilations');
});
