/**
 * Micro-batching for the server: posters from concurrent requests are pooled
 * and embedded together, so the backbone runs full batches instead of one
 * poster per pass. While one batch runs, new requests gather for the next;
 * an idle queue waits at most `maxWaitMs` for company. The queue is bounded:
 * past `maxPending` posters a request is refused at once (SERVER_BUSY), and a
 * request that waits longer than `timeoutMs` gets TIMEOUT.
 */
import type { PosterSource } from '../embed/pipeline.js';
import { PosterscopeError } from '../errors.js';
import type { DecodeOptions } from '../image/poster.js';
import type { GenreModel, Prediction } from '../model/model.js';

export interface QueueOptions {
  /** Posters per model run. Default 32. */
  maxBatch?: number;
  /** How long an idle queue waits to fill a batch, ms. Default 4. */
  maxWaitMs?: number;
  /** Posters waiting before requests are refused. Default 256. */
  maxPending?: number;
  /** Per-request limit, ms. Default 30000. */
  timeoutMs?: number;
  /** Limits on the uploaded posters (pixels, bytes); default DEFAULT_DECODE_OPTIONS. */
  decode?: DecodeOptions;
}

interface Job {
  posters: Array<{ source: string; bytes: Buffer }>;
  views: string | undefined;
  resolve: (predictions: Prediction[]) => void;
  reject: (error: Error) => void;
  settled: boolean;
}

export class PredictionQueue {
  private readonly jobs: Job[] = [];
  private pending = 0;
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly maxBatch: number;
  private readonly maxWaitMs: number;
  private readonly maxPending: number;
  private readonly timeoutMs: number;
  private readonly decode: DecodeOptions | undefined;
  /** Counts for /healthz and the benchmark. */
  readonly stats = { batches: 0, posters: 0, largestBatch: 0 };

  constructor(
    private readonly model: GenreModel,
    options: QueueOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 32;
    this.maxWaitMs = options.maxWaitMs ?? 4;
    this.maxPending = options.maxPending ?? 256;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.decode = options.decode;
  }

  get waiting(): number {
    return this.pending;
  }

  /**
   * Predicts posters (one result each, in order), batched with other callers'.
   *
   * @example
   *   const [p] = await queue.submit([{ source: 'upload.jpg', bytes }]);
   *   p.genres // -> ['Drama']
   */
  submit(posters: Array<{ source: string; bytes: Buffer }>, views?: readonly string[]): Promise<Prediction[]> {
    if (this.pending + posters.length > this.maxPending) {
      return Promise.reject(new PosterscopeError('SERVER_BUSY', `the server is busy (${this.pending} posters queued); retry shortly`));
    }
    return new Promise<Prediction[]>((resolve, reject) => {
      const job: Job = { posters, views: views?.join(','), resolve, reject, settled: false };
      const timer = setTimeout(() => {
        if (job.settled) return;
        job.settled = true;
        reject(new PosterscopeError('TIMEOUT', `prediction took longer than ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      job.resolve = (value) => {
        clearTimeout(timer);
        if (!job.settled) resolve(value);
        job.settled = true;
      };
      job.reject = (error) => {
        clearTimeout(timer);
        if (!job.settled) reject(error);
        job.settled = true;
      };
      this.jobs.push(job);
      this.pending += posters.length;
      this.schedule();
    });
  }

  /** Resolves when every queued poster has been predicted. */
  async drain(): Promise<void> {
    while (this.running || this.jobs.length > 0) {
      this.flushNow();
      await this.running;
    }
  }

  private schedule(): void {
    if (this.running) return;
    if (this.pending >= this.maxBatch) this.flushNow();
    else this.timer ??= setTimeout(() => this.flushNow(), this.maxWaitMs);
  }

  private flushNow(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running || this.jobs.length === 0) return;
    // One model run serves jobs that asked for the same views, oldest first.
    const views = this.jobs[0]!.views;
    const batch: Job[] = [];
    let size = 0;
    for (let i = 0; i < this.jobs.length && size < this.maxBatch; ) {
      const job = this.jobs[i]!;
      if (job.views === views) {
        batch.push(job);
        size += job.posters.length;
        this.jobs.splice(i, 1);
      } else i++;
    }
    this.running = this.run(batch, views).finally(() => {
      this.running = undefined;
      if (this.jobs.length > 0) this.schedule();
    });
  }

  private async run(batch: Job[], views: string | undefined): Promise<void> {
    const live = batch.filter((job) => !job.settled);
    const inputs: PosterSource[] = live.flatMap((job) => job.posters);
    const count = batch.reduce((n, job) => n + job.posters.length, 0);
    try {
      if (inputs.length === 0) return;
      const predictions = await this.model.predict(inputs, { cache: false, ...(views ? { views: views.split(',') } : {}), ...(this.decode ? { decode: this.decode } : {}) });
      this.stats.batches++;
      this.stats.posters += inputs.length;
      this.stats.largestBatch = Math.max(this.stats.largestBatch, inputs.length);
      let at = 0;
      for (const job of live) {
        job.resolve(predictions.slice(at, at + job.posters.length));
        at += job.posters.length;
      }
    } catch (error) {
      for (const job of live) job.reject(error as Error);
    } finally {
      this.pending -= count;
    }
  }
}
