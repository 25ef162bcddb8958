/**
 * Posters in, cached embeddings out, with decoding overlapping inference.
 *
 * The inference workers (one per core by default, see onnx-runtime.ts) each
 * run a batch while the main thread reads, decodes, crops and normalises the
 * next posters; one batch buffer per worker is in flight and one more is
 * being filled, all transferred to and from the workers, never copied.
 * Crops from several posters and views are packed into full batches; each
 * view's embedding is the mean of its crops' features.
 */
import { createHash } from 'node:crypto';
import type { Backbone } from '../backbone/backbone.js';
import { PosterscopeError, asPosterError, posterLabel } from '../errors.js';
import { recycleBuffer } from '../image/buffers.js';
import { type DecodeOptions, type Poster, decodePosterBytes, readPosterFile, resolveDecodeOptions } from '../image/poster.js';
import { type Crop, type ViewSpec, renderView, viewName, viewPasses } from '../image/views.js';
import { type Progress, silentProgress } from '../progress.js';
import type { PosterCleaner } from '../clean/clean.js';
import { type EmbeddingCache, embeddingKey } from './cache.js';

export type PosterSource = string | { source: string; bytes: Buffer };

export interface EmbedOptions {
  backbone: Backbone;
  views: readonly ViewSpec[];
  /** Where vectors are looked up and stored. Without one, everything is computed. */
  cache?: EmbeddingCache;
  /** Crops per backbone pass. Default DEFAULT_BATCH_SIZE (8). */
  batchSize?: number;
  /** Posters read and decoded ahead of inference. Default: enough to fill four batches with these views (2 to 8). */
  prefetch?: number;
  decode?: DecodeOptions;
  /**
   * Remove text from each poster before its views are rendered. Its vectors
   * are cached under `<cleaner id>/<view>`, apart from the original poster's.
   */
  clean?: Pick<PosterCleaner, 'id' | 'clean'>;
  progress?: Progress;
  /** Hand each poster's vectors to `onPoster` (read from the cache when cached). Default false. */
  keepVectors?: boolean;
  /** Called once per input, in completion order. */
  onPoster?: (result: EmbeddedPoster) => void;
  /** Stops the run: no new poster is started and queued crops are dropped; the call then throws. */
  signal?: AbortSignal;
  /**
   * True for an input whose caller has gone (a server request that timed out
   * or hung up): it is not read, decoded or run any further, its queued crops
   * are dropped, and it is reported once with a TIMEOUT error.
   */
  cancelled?: (index: number) => boolean;
}

export interface EmbeddedPoster {
  /** Position of the input in the list given. */
  index: number;
  source: string;
  contentHash?: string;
  /** True when every view came from the cache. */
  cached: boolean;
  /** View name -> embedding, when `keepVectors` is set. */
  vectors?: Map<string, Float32Array>;
  error?: PosterscopeError;
}

export interface EmbedSummary {
  posters: number;
  embedded: number;
  fromCache: number;
  failed: number;
  /** Crops run through the backbone. */
  passes: number;
  seconds: number;
}

interface Job {
  index: number;
  source: string;
  contentHash: string;
  views: Array<{ name: string; key: Buffer; remaining: number; crops: number; sum: Float32Array }>;
  viewsLeft: number;
  vectors: Map<string, Float32Array> | undefined;
  /** Reported as cancelled; crops still in flight are ignored. */
  dropped: boolean;
}

interface QueuedCrop {
  job: Job;
  view: number;
  crop: Crop;
}

/** Views of one poster rendered at once (libuv runs sharp's work on 4 threads by default). */
const RENDER_AHEAD = 4;

/**
 * One backbone's batch buffers, shared by every run in progress (a server runs
 * two at once): as many as keep its inference workers busy plus one being
 * filled, whatever the number of runs. Kept between runs: each is 4.8 MB of
 * shared memory that a fresh one would page-fault in again.
 */
class BatchPool {
  private readonly free: Float32Array[] = [];
  private created = 0;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly backbone: Backbone,
    private readonly limit: number,
  ) {}

  /** How many batches could be taken now. */
  get available(): number {
    return this.free.length + this.limit - this.created;
  }

  /**
   * A batch buffer for `crops` crops, or undefined while every one is in use.
   * A run that will want `wanted` batches gets the spares made with its first
   * one, while their pages can still be faulted in off this thread (see
   * sharedBatch) before they are filled.
   */
  take(crops: number, wanted = 1): Float32Array | undefined {
    const length = crops * this.backbone.cropSize;
    const at = this.free.findIndex((buffer) => buffer.length === length);
    if (at >= 0) return this.free.splice(at, 1)[0]!;
    if (this.created < this.limit) this.created++;
    // One of another batch size makes way.
    else if (this.free.shift() === undefined) return undefined;
    const buffer = this.backbone.createBatch(crops);
    for (; this.created < Math.min(this.limit, wanted); this.created++) this.free.push(this.backbone.createBatch(crops));
    return buffer;
  }

  /** Gives a batch back, and wakes the runs waiting for one. */
  give(buffer: Float32Array): void {
    this.free.push(buffer);
    for (const listener of this.listeners) listener();
  }

  /** Calls `listener` whenever a batch comes back; returns the unsubscribe. */
  listen(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

const batchPools = new WeakMap<Backbone, BatchPool>();

function batchPool(backbone: Backbone): BatchPool {
  let pool = batchPools.get(backbone);
  if (!pool) batchPools.set(backbone, (pool = new BatchPool(backbone, Math.max(1, backbone.parallelism) + 1)));
  return pool;
}

/**
 * Crops per backbone pass unless a caller says otherwise. Measured on the
 * 2-core machine with MobileNetV2 int8, both sizes alternating in one
 * process: ONNX Runtime alone ran 2.4-2.8 core-ms per pass in batches of 8
 * and 2.9-3.0 in batches of 16 (a smaller batch's activations stay in
 * cache), and `embed` single view gave 9 % more posters/s at 8 (tiles 3 %).
 * Batches of 4 were faster still for one view but not for tiles; 8 also
 * halves each batch buffer (4.8 MB).
 */
export const DEFAULT_BATCH_SIZE = 8;

/**
 * Adds `sum.length` features from `offset` into `sum`. A function of its own,
 * not a loop inside the batch callback (a new closure per batch): there V8
 * compiled the callback on stack (OSR) and then again whole, in every process.
 */
function addInto(sum: Float32Array, features: Float32Array, offset: number): void {
  for (let d = 0; d < sum.length; d++) sum[d]! += features[offset + d]!;
}

/**
 * Embeds posters with every view, skipping what the cache already holds.
 *
 * @example
 *   const summary = await embedPosters(['a.jpg', 'b.jpg'], { backbone, views: parseViews('single'), cache });
 *   // -> { posters: 2, embedded: 2, fromCache: 0, failed: 0, passes: 2, seconds: 0.05 }
 */
export async function embedPosters(sources: readonly PosterSource[], options: EmbedOptions): Promise<EmbedSummary> {
  // Read once: a property read first reached late in a run (once the last
  // poster is started) deoptimised the run loop.
  const { backbone, cache, signal, cancelled } = options;
  const total = sources.length;
  // Checked once here, not twice per poster.
  const decode = resolveDecodeOptions(options.decode);
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  // Posters decoded and rendered ahead: enough to fill the crop queue for
  // these views (a 2:3 poster's passes), no more, so rendered crops waiting
  // for the backbone stay near maxQueued (13 passes per poster: 5 posters).
  const passesPerPoster = options.views.reduce((sum, view) => sum + Math.max(1, viewPasses(view, backbone.viewInput.width, Math.round(backbone.viewInput.height * 1.5), backbone.viewInput)), 0);
  const maxQueued = batchSize * 4;
  // At most this many batches (cached posters need none).
  const wantedBatches = Math.ceil((total * passesPerPoster) / batchSize);
  const prefetch = options.prefetch ?? Math.max(2, Math.min(8, Math.ceil(maxQueued / passesPerPoster)));
  const progress = options.progress ?? silentProgress;
  const names = options.views.map(viewName);
  const cleaner = options.clean;
  const cacheNames = cleaner ? names.map((name) => `${cleaner.id}/${name}`) : names;
  const started = performance.now();
  const summary: EmbedSummary = { posters: total, embedded: 0, fromCache: 0, failed: 0, passes: 0, seconds: 0 };

  const queue: QueuedCrop[] = [];
  let next = 0;
  let active = 0;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  let roomWaiters: Array<() => void> = [];

  const finish = (result: EmbeddedPoster) => {
    if (result.error) summary.failed++;
    else if (result.cached) summary.fromCache++;
    else summary.embedded++;
    progress.tick();
    options.onPoster?.(result);
  };

  const isCancelled = (index: number) => signal?.aborted === true || cancelled?.(index) === true;
  const cancelledError = (source: string) => new PosterscopeError('TIMEOUT', `${posterLabel(source)}: cancelled (its caller has gone)`, { subject: source });

  const produce = async (index: number): Promise<void> => {
    const input = sources[index]!;
    const source = typeof input === 'string' ? input : input.source;
    try {
      if (isCancelled(index)) throw cancelledError(source);
      const file = typeof input === 'string' ? await readPosterFile(input, decode) : undefined;
      const bytes = file?.bytes ?? (input as { bytes: Buffer }).bytes;
      const hash = file?.contentHash ?? createHash('sha256').update(bytes).digest('hex');
      // Plain loops here and below, not map(): the arrays map() returns change
      // elements kind once V8 has optimised it, and each change deoptimised the
      // code reading them (a fresh process compiled produce() twice, ~65 ms each).
      const keys: Buffer[] = [];
      const missing: number[] = [];
      for (let v = 0; v < cacheNames.length; v++) {
        keys.push(embeddingKey(hash, cacheNames[v]!));
        if (!cache?.has(keys[v]!)) missing.push(v);
      }
      if (missing.length === 0) {
        let vectors: Map<string, Float32Array> | undefined;
        if (options.keepVectors) {
          vectors = new Map();
          for (let v = 0; v < names.length; v++) vectors.set(names[v]!, cache!.get(keys[v]!)!);
        }
        finish({ index, source, contentHash: hash, cached: true, ...(vectors ? { vectors } : {}) });
        return;
      }
      // Room for its crops first: a full queue is drained by the backbone before more posters are decoded.
      while (queue.length > maxQueued) await new Promise<void>((resolve) => roomWaiters.push(resolve));
      let decoded: Poster;
      try {
        decoded = await decodePosterBytes(bytes, source, hash, decode);
      } finally {
        // Bytes this run read (not the caller's): nothing reads them after decoding.
        if (file) recycleBuffer(file.bytes);
      }
      if (isCancelled(index)) throw cancelledError(source);
      const poster = cleaner ? (await cleaner.clean(decoded)).poster : decoded;
      // A few views at a time, so a poster with hundreds of views stops soon after its caller goes.
      const rendered: Crop[][] = [];
      for (let at = 0; at < missing.length; at += RENDER_AHEAD) {
        if (isCancelled(index)) throw cancelledError(source);
        const renders: Array<Promise<Crop[]>> = [];
        for (let r = at; r < Math.min(at + RENDER_AHEAD, missing.length); r++) renders.push(renderView(poster, options.views[missing[r]!]!, backbone.viewInput));
        for (const crops of await Promise.all(renders)) rendered.push(crops);
      }
      // Every view rendered (crops never share the poster's memory): its pixels can be decoded into again.
      // Not after a failed render, whose sibling renders may still be reading them.
      if (poster === decoded) recycleBuffer(decoded.pixels);
      if (isCancelled(index)) throw cancelledError(source);
      // `missing` is in view order: the r-th view to compute is missing[r], its crops rendered[r].
      const views: Job['views'] = [];
      const vectors = options.keepVectors ? new Map<string, Float32Array>() : undefined;
      for (let v = 0, r = 0; v < names.length; v++) {
        const computed = missing[r] === v;
        const crops = computed ? rendered[r++]!.length : 0;
        views.push({ name: names[v]!, key: keys[v]!, remaining: crops, crops, sum: new Float32Array(computed ? backbone.dim : 0) });
        if (!computed && vectors) vectors.set(names[v]!, cache!.get(keys[v]!)!);
      }
      const job: Job = { index, source, contentHash: hash, views, viewsLeft: missing.length, vectors, dropped: false };
      for (let r = 0; r < missing.length; r++) {
        for (const crop of rendered[r]!) queue.push({ job, view: missing[r]!, crop });
      }
      notify();
      while (queue.length > maxQueued) await new Promise<void>((resolve) => roomWaiters.push(resolve));
    } catch (error) {
      finish({ index, source, cached: false, error: asPosterError(source, error) });
    }
  };

  const pump = () => {
    while (active < prefetch && next < total && !signal?.aborted && fatal === undefined) {
      const index = next++;
      active++;
      void produce(index).finally(() => {
        active--;
        pump();
        notify();
      });
    }
  };

  /** Drops a cancelled job's queued crops and reports it once. */
  const dropCancelled = () => {
    let kept = 0;
    for (const item of queue) {
      const { job } = item;
      if (!job.dropped && isCancelled(job.index)) {
        job.dropped = true;
        finish({ index: job.index, source: job.source, contentHash: job.contentHash, cached: false, error: cancelledError(job.source) });
      }
      if (!job.dropped) queue[kept++] = item;
    }
    if (kept === queue.length) return;
    queue.length = kept;
    const waiters = roomWaiters;
    roomWaiters = [];
    waiters.forEach((resolve) => resolve());
  };

  const complete = (job: Job, view: number) => {
    const state = job.views[view]!;
    for (let d = 0; d < state.sum.length; d++) state.sum[d]! /= state.crops;
    cache?.put(state.key, state.sum);
    job.vectors?.set(state.name, state.sum);
    if (--job.viewsLeft === 0) {
      finish({ index: job.index, source: job.source, contentHash: job.contentHash, cached: false, ...(job.vectors ? { vectors: job.vectors } : {}) });
    }
  };

  /** A batch's features, added into its crops' views. */
  const accept = (items: readonly QueuedCrop[], features: Float32Array) => {
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (item.job.dropped) continue;
      const state = item.job.views[item.view]!;
      addInto(state.sum, features, i * backbone.dim);
      if (--state.remaining === 0) complete(item.job, item.view);
    }
  };

  progress.start('embed', total, 'posters');
  const parallelism = Math.max(1, backbone.parallelism);
  const pool = batchPool(backbone);
  let inFlight = 0;
  let fatal: unknown;
  const unlisten = pool.listen(notify);
  try {
    pump();
    for (;;) {
      if (fatal !== undefined) {
        // Let the batches in flight come back before the caller releases the inference workers.
        if (inFlight === 0) throw fatal;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        continue;
      }
      // Comparisons first made late in a run (here and at the end of the loop)
      // deoptimised it: each is made every time round.
      const unstarted = next < total && !signal?.aborted;
      const producing = active > 0 || unstarted;
      if (queue.length > 0 && (cancelled || signal)) dropCancelled();
      const ready = queue.length >= batchSize || (!producing && queue.length > 0);
      // Nothing more is coming: share the last crops between the idle workers
      // instead of running them as one batch on one core.
      const idle = ready ? Math.max(1, Math.min(parallelism - inFlight, pool.available)) : 1;
      const buffer = ready ? pool.take(batchSize, wantedBatches) : undefined;
      if (buffer) {
        const take = producing ? batchSize : Math.min(batchSize, Math.ceil(queue.length / idle));
        const items = queue.splice(0, take);
        const waiters = roomWaiters;
        roomWaiters = [];
        waiters.forEach((resolve) => resolve());
        const crops: Crop[] = [];
        for (const item of items) crops.push(item.crop);
        backbone.pack(crops, buffer);
        // Packed: the crops' buffers go back to be rendered into again.
        for (const crop of crops) recycleBuffer(crop);
        inFlight++;
        backbone.run(buffer, items.length).then(
          ({ features, batch }) => {
            inFlight--;
            pool.give(batch);
            summary.passes += items.length;
            // After a fatal error (a full disk under the cache) nothing more is stored or reported.
            if (fatal === undefined) {
              try {
                accept(items, features);
              } catch (error) {
                fatal = error;
              }
            }
            notify();
          },
          (error: unknown) => {
            inFlight--;
            // The buffer is still ours (the worker failed, not the memory): back to the pool, which would shrink otherwise.
            pool.give(buffer);
            fatal ??= error;
            notify();
          },
        );
        continue;
      }
      if (queue.length + inFlight === 0 && !producing) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    unlisten();
  }
  cache?.flush();
  summary.seconds = (performance.now() - started) / 1000;
  progress.done(
    `embedded ${summary.embedded}, cached ${summary.fromCache}, failed ${summary.failed} (${summary.passes} backbone passes)`,
  );
  if (signal?.aborted) throw new PosterscopeError('INVALID_ARGUMENT', 'embedding was cancelled');
  return summary;
}
