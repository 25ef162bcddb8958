import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { getBackboneSpec, type BackboneSpec } from '../../../src/backbone/registry.js';
import { TensorWriter, readBundle, saveBundle } from '../../../src/model/bundle.js';
import { loadModel } from '../../../src/model/model.js';
import { predictScores } from '../../../src/train/fit.js';
import { GenreHead } from '../../../src/train/head.js';
import { Random } from '../../../src/random.js';
import { fitStandardizer, standardize } from '../../../src/train/standardize.js';
import { type TempDir, makeTempDir } from '../../helpers/images.js';
import { tinyBackbone } from '../../helpers/onnx-models.js';

let dir: TempDir;
let row: BackboneSpec;
let backboneSha: string;
const genres = ['Action', 'Comedy', 'Drama', 'Horror'];

before(async () => {
  dir = await makeTempDir('posterscope-bundle-');
  const base = getBackboneSpec('mobilenetv2');
  const tiny = await tinyBackbone(dir.path, { ...base, id: 'tiny', feature: { ...base.feature, dim: 6 } });
  row = tiny.row;
  backboneSha = row.file.sha256!;
});

after(() => dir.remove());

async function writeBundle(path: string, spec: { type: 'linear' } | { type: 'mlp'; hidden: number; dropout: number }) {
  const random = new Random(3);
  const x = Float32Array.from({ length: 20 * 6 }, () => random.normal() * 3 + 1);
  const standardizer = fitStandardizer(x, 20);
  const head = GenreHead.create(spec, 6, genres.length, random);
  const weights = new TensorWriter();
  await saveBundle(
    path,
    {
      createdAt: new Date(0).toISOString(),
      posterscopeVersion: 'test',
      backbone: { id: row.id, sha256: backboneSha, spec: row },
      views: ['full'],
      genres,
      standardize: { mean: weights.add(standardizer.mean), scale: weights.add(standardizer.scale) },
      head: { spec, layers: head.layers.map((l) => ({ inputs: l.inputs, outputs: l.outputs, weight: weights.add(l.weight), bias: weights.add(l.bias) })) },
      thresholds: { global: 0.5 },
    },
    weights,
  );
  return { x, expected: predictScores(head, standardize(standardizer, x), 20) };
}

for (const spec of [{ type: 'linear' }, { type: 'mlp', hidden: 5, dropout: 0.3 }] as const) {
  test(`a ${spec.type} bundle round-trips: save, load, identical probabilities to 5 decimals`, async () => {
    const path = dir.file(`bundle-${spec.type}`);
    const { x, expected } = await writeBundle(path, spec);
    const model = await loadModel(path, { mirrors: [dir.path], cacheDir: dir.file('cache'), offline: true });
    const scores = model.score(x, 20);
    assert.deepEqual(Array.from(scores, (v) => v.toFixed(5)), Array.from(expected, (v) => v.toFixed(5)));
    assert.deepEqual(model.genres, genres);
    await model.release();
  });
}

test('BAD CALL - a corrupted or hand-edited bundle is refused with the reason', async () => {
  const path = dir.file('bundle-bad');
  await writeBundle(path, { type: 'linear' });
  const weights = await readFile(`${path}/weights.bin`);
  weights[0]! ^= 1;
  await writeFile(`${path}/weights.bin`, weights);
  await assert.rejects(readBundle(path), /weights\.bin does not match its checksum/);
  await writeBundle(path, { type: 'linear' });
  const manifest = JSON.parse(await readFile(`${path}/manifest.json`, 'utf8'));
  await writeFile(`${path}/manifest.json`, JSON.stringify({ ...manifest, genres: ['Action'] }));
  await assert.rejects(readBundle(path), /head outputs do not match the genre list/);
  await writeFile(`${path}/manifest.json`, JSON.stringify({ ...manifest, formatVersion: 99 }));
  await assert.rejects(readBundle(path), /format version 99 is newer/);
  await assert.rejects(readBundle(dir.file('nowhere')), { code: 'MODEL_NOT_FOUND' });
  await assert.rejects(readBundle(`${path}/weights.bin`), /expected a bundle directory|no manifest/);
});

test('a bundle whose backbone file differs from the one it was trained with is refused', async () => {
  const path = dir.file('bundle-other-backbone');
  await writeBundle(path, { type: 'linear' });
  const manifest = JSON.parse(await readFile(`${path}/manifest.json`, 'utf8'));
  await writeFile(`${path}/manifest.json`, JSON.stringify({ ...manifest, backbone: { ...manifest.backbone, sha256: 'f'.repeat(64) } }));
  await assert.rejects(loadModel(path, { mirrors: [dir.path], cacheDir: dir.file('cache'), offline: true }), (e: Error & { code?: string }) => {
    assert.ok(['MODEL_NOT_FOUND', 'MODEL_CHECKSUM_MISMATCH'].includes(e.code!), e.code);
    return true;
  });
});
