/**
 * Model-only throughput: backbone passes/s on preprocessed batches, the
 * yardstick every end-to-end benchmark divides by.
 */
import type { Backbone } from '../src/backbone/backbone.js';

/** Runs batches of `batchSize` for `seconds` after a short warm-up and returns passes/s. */
export async function measureModelOnly(backbone: Backbone, seconds: number, batchSize = 16): Promise<number> {
  let batch: Float32Array = new Float32Array(batchSize * backbone.cropSize).map((_, i) => Math.sin(i) * 2);
  for (let i = 0; i < 5; i++) ({ batch } = await backbone.run(batch, batchSize));
  const started = performance.now();
  let passes = 0;
  while (performance.now() - started < seconds * 1000) {
    ({ batch } = await backbone.run(batch, batchSize));
    passes += batchSize;
  }
  return passes / ((performance.now() - started) / 1000);
}
