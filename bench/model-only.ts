/**
 * Model-only throughput: backbone passes/s on preprocessed batches, the
 * yardstick every end-to-end benchmark divides by, with the CPU it costs.
 * As many batches are kept in flight as the backbone has inference workers,
 * exactly as the pipeline does, and of the pipeline's batch size unless told.
 * Issue 13 set its targets against batches of 16 (REFERENCE_BATCH_SIZE):
 * the benchmarks print the ratio to that too, since ONNX Runtime itself runs
 * faster per pass in the smaller batches the pipeline now uses.
 */
export const REFERENCE_BATCH_SIZE = 16;
import { loadavg } from 'node:os';
import type { Backbone } from '../src/backbone/backbone.js';
import { DEFAULT_BATCH_SIZE } from '../src/embed/pipeline.js';

export interface ModelOnly {
  /** Backbone passes per second. */
  rate: number;
  /** Process CPU per pass, ms (all threads). */
  cpuMs: number;
}

/** Runs batches of `batchSize` for `seconds` after a short warm-up. */
export async function measureModelOnly(backbone: Backbone, seconds: number, batchSize = DEFAULT_BATCH_SIZE): Promise<ModelOnly> {
  const lanes = Math.max(1, backbone.parallelism);
  const batches: Float32Array[] = Array.from({ length: lanes }, () => {
    const batch = backbone.createBatch(batchSize);
    for (let i = 0; i < batch.length; i++) batch[i] = Math.sin(i) * 2;
    return batch;
  });
  const lane = async (index: number, until: () => boolean): Promise<number> => {
    let passes = 0;
    while (until()) {
      ({ batch: batches[index]! } = await backbone.run(batches[index]!, batchSize));
      passes += batchSize;
    }
    return passes;
  };
  let warm = 0;
  await Promise.all(batches.map((_, i) => lane(i, () => warm++ < 3 * lanes)));
  const cpu = process.cpuUsage();
  const started = performance.now();
  const counts = await Promise.all(batches.map((_, i) => lane(i, () => performance.now() - started < seconds * 1000)));
  const used = process.cpuUsage(cpu);
  const passes = counts.reduce((a, b) => a + b, 0);
  return { rate: passes / ((performance.now() - started) / 1000), cpuMs: (used.user + used.system) / 1000 / passes };
}

/** The 1-minute load average, printed beside every number (the machine is shared). */
export function load(): string {
  return loadavg()[0]!.toFixed(2);
}
