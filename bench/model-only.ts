/**
 * Model-only throughput: backbone passes/s on preprocessed batches, the
 * yardstick every end-to-end benchmark divides by, with the CPU it costs.
 * As many batches are kept in flight as the backbone has inference workers,
 * exactly as the pipeline does.
 */
import { loadavg } from 'node:os';
import type { Backbone } from '../src/backbone/backbone.js';

export interface ModelOnly {
  /** Backbone passes per second. */
  rate: number;
  /** Process CPU per pass, ms (all threads). */
  cpuMs: number;
}

/** Runs batches of `batchSize` for `seconds` after a short warm-up. */
export async function measureModelOnly(backbone: Backbone, seconds: number, batchSize = 16): Promise<ModelOnly> {
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
