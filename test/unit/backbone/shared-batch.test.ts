/**
 * Batches in shared memory: what the pipeline sends the inference workers.
 * The same features as a plain (transferred) batch, whichever worker runs
 * it and however many runs overlap, and a batch the caller drops is dropped
 * by the workers too.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Backbone, loadBackbone } from '../../../src/backbone/backbone.js';
import { inferenceCpu } from '../../../src/backbone/onnx-runtime.js';
import { getBackboneSpec } from '../../../src/backbone/registry.js';
import { type TempDir, makeTempDir } from '../../helpers/images.js';
import { collectGarbage } from '../../helpers/gc.js';
import { tinyBackbone } from '../../helpers/onnx-models.js';

let dir: TempDir;
let backbone: Backbone;
const CROPS = 4;

before(async () => {
  dir = await makeTempDir('posterscope-shared-batch-');
  const spec = getBackboneSpec('mobilenetv2');
  const { row, path } = await tinyBackbone(dir.path, { ...spec, feature: { ...spec.feature, dim: 4 } });
  backbone = await loadBackbone(row, { path, cacheDir: dir.file('cache'), offline: true, workers: 2 });
});

after(async () => {
  await backbone.release();
  await dir.remove();
});

/** Crop i of batch `seed`: a flat value per channel that differs between crops and seeds. */
function fill(batch: Float32Array, seed: number): Float32Array {
  const plane = backbone.cropSize / 3;
  for (let i = 0; i < CROPS; i++) {
    for (let c = 0; c < 3; c++) batch.fill(((seed * 7 + i * 3 + c) % 11) / 5 - 1, i * backbone.cropSize + c * plane, i * backbone.cropSize + (c + 1) * plane);
  }
  return batch;
}

async function plainFeatures(seed: number): Promise<Float32Array> {
  return (await backbone.run(fill(new Float32Array(CROPS * backbone.cropSize), seed), CROPS)).features;
}

test('createBatch is shared memory, and a shared batch gives the features a plain one gives', async () => {
  const shared = backbone.createBatch(CROPS);
  assert.ok(shared.buffer instanceof SharedArrayBuffer);
  assert.equal(shared.length, CROPS * backbone.cropSize);
  // The same buffer refilled and run again and again lands on both workers: each run must see the new content.
  for (let seed = 0; seed < 6; seed++) {
    const { features, batch } = await backbone.run(fill(shared, seed), CROPS);
    assert.equal(batch.buffer, shared.buffer, 'the shared batch comes back as itself');
    assert.deepEqual(features, await plainFeatures(seed), `seed ${seed}`);
  }
  // Fewer crops than the batch holds: only those are run.
  const { features } = await backbone.run(fill(shared, 9), 2);
  assert.deepEqual(features, (await plainFeatures(9)).subarray(0, 2 * backbone.dim));
});

test('overlapping runs on several shared batches each get their own features', async () => {
  const batches = Array.from({ length: 5 }, () => backbone.createBatch(CROPS));
  const expected = await Promise.all(batches.map((_, seed) => plainFeatures(seed + 20)));
  for (let round = 0; round < 3; round++) {
    const results = await Promise.all(batches.map((batch, seed) => backbone.run(fill(batch, seed + 20), CROPS)));
    results.forEach((result, seed) => assert.deepEqual(result.features, expected[seed], `round ${round}, batch ${seed}`));
  }
});

test('the workers let go of shared batches the caller dropped', async () => {
  const held = async () => (await inferenceCpu()).reduce((sum, worker) => sum + worker.sharedBatches, 0);
  const kept = backbone.createBatch(CROPS);
  await backbone.run(fill(kept, 1), CROPS);
  // Referenced until counted: a collection meanwhile may let go of earlier tests' batches, never of these
  // (comparing with a count taken before was flaky in CI for that reason).
  let fresh: Float32Array[] = [];
  for (let i = 0; i < 8; i++) {
    fresh.push(backbone.createBatch(CROPS));
    await backbone.run(fill(fresh[i]!, i), CROPS);
  }
  assert.ok((await held()) >= 1 + fresh.length, 'each new batch is held by the worker that ran it');
  fresh = [];
  // Collect the dropped batches (these and the earlier tests'); their finalisers tell the workers.
  for (let attempt = 0; attempt < 50 && (await held()) > 1; attempt++) {
    await collectGarbage();
  }
  assert.equal(await held(), 1, 'only the batch still referenced is held');
  // The kept batch still runs.
  assert.deepEqual((await backbone.run(fill(kept, 3), CROPS)).features, await plainFeatures(3));
});
