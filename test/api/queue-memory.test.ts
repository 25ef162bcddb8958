/**
 * The server's queue gives free memory back to the system when it goes idle,
 * not after every batch under load (each release costs a few milliseconds of
 * the event loop). Real model, real posters; the release itself is counted.
 */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type GenreModel, loadModel } from '../../src/model/model.js';
import { PredictionQueue } from '../../src/serve/queue.js';
import { type TempDir, makeTempDir } from '../helpers/images.js';
import { MODELS, POSTERS, skipWithoutShared } from '../helpers/shared.js';

let dir: TempDir;
let model: GenreModel;
let posters: Buffer[] = [];
const skip = skipWithoutShared;

before(async () => {
  if (skipWithoutShared) return;
  dir = await makeTempDir('posterscope-queue-memory-');
  model = await loadModel(undefined, { mirrors: [MODELS], cacheDir: dir.file('cache'), offline: true });
  const names = (await readdir(POSTERS)).sort().slice(0, 12);
  posters = await Promise.all(names.map((name) => readFile(join(POSTERS, name))));
});

after(async () => {
  await model?.release();
  await dir?.remove();
});

test('free memory goes back once the queue is idle, not after each of its batches', { skip }, async () => {
  let releases = 0;
  let busyAtRelease = -1;
  const queue: PredictionQueue = new PredictionQueue(model, {
    maxBatch: 2,
    maxWaitMs: 1,
    releaseMemory: () => {
      releases++;
      busyAtRelease = queue.waiting;
    },
  });
  const [one] = await queue.submit([{ source: 'a.jpg', bytes: posters[0]! }], ['native']);
  assert.equal(one!.error, undefined);
  await queue.drain();
  assert.equal(releases, 1, 'one release when the only request was answered');
  // Twelve requests at once, at most two posters per batch: six batches, the queue busy until the last.
  const answers = await Promise.all(posters.map((bytes, i) => queue.submit([{ source: `p${i}.jpg`, bytes }], ['native'])));
  await queue.drain();
  assert.ok(answers.every(([p]) => p!.error === undefined && p!.scores !== undefined));
  assert.ok(queue.stats.batches >= 6, `${queue.stats.batches} batches`);
  assert.equal(releases, 2, 'one more release, when the last batch finished; none between batches');
  assert.equal(busyAtRelease, 0, 'nothing was waiting when memory was released');
});
