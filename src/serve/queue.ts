/**
 * Micro-batching for the server: posters from concurrent requests are pooled
 * and embedded together, so the backbone runs full batches instead of one
 * poster per pass. Up to `maxRuns` batches run at once, so the next batch is
 * decoded while the inference workers finish the last one (no bubble between
 * batches); beyond that, new requests gather for the next batch, and an idle
 * queue waits at most `maxWaitMs` for company. The queue is bounded:
 * past `maxPending` posters a request is refused at once (SERVER_BUSY), and a
 * request that waits longer than `timeoutMs` gets TIMEOUT.
 *
 * When the queue goes idle (and every 10 s under steady load) the C heap's
 * free pages go back to the system (`releaseFreeMemory`), so the server's
 * resident size follows what it holds rather than its busiest moment's.
 *
 * Work whose caller has gone (timed out, or its `signal` aborted because the
 * client hung up) is dropped at once: it leaves the count of waiting posters,
 * a job not yet started never runs, and a running job's posters are not
 * decoded or sent to the backbone any further, so it cannot make the next
 * requests wait, time out or be refused.
 */
import { PosterscopeError } from '../errors.js';
import type { DecodeOptions } from '../image/poster.js';
import type { GenreModel, PredictInput, Prediction } from '../model/model.js';
import { releaseFreeMemory } from '../native.js';

/** Under steady load, free memory goes back to the system at most this often; on going idle, at once. */
const RELEASE_EVERY_MS = 10_000;

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
  /** Batches in progress at once. Default 2. */
  maxRuns?: number;
  /** Gives free memory back to the system when the queue pauses. Default releaseFreeMemory (glibc's malloc_trim). */
  releaseMemory?: () => void;
}

/** What the server sends the model: an uploaded poster, and / or a title and plot. */
export type QueuedInput = PredictInput;

interface Job {
  posters: readonly QueuedInput[];
  views: string | undefined;
  resolve: (predictions: Prediction[]) => void;
  reject: (error: Error) => void;
  settled: boolean;
  /** Its posters no longer count as waiting (answered, or dropped). */
  released: boolean;
}

export class PredictionQueue {
  private readonly jobs: Job[] = [];
  private pending = 0;
  private readonly running = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private readonly maxBatch: number;
  private readonly maxWaitMs: number;
  private readonly maxPending: number;
  private readonly timeoutMs: number;
  private readonly decode: DecodeOptions | undefined;
  private readonly maxRuns: number;
  private readonly releaseMemory: () => void;
  private releasedAt = performance.now();
  /** Counts for /healthz and the benchmark. */
  readonly stats = { batches: 0, posters: 0, largestBatch: 0, cancelled: 0 };

  constructor(
    private readonly model: GenreModel,
    options: QueueOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 32;
    this.maxWaitMs = options.maxWaitMs ?? 4;
    this.maxPending = options.maxPending ?? 256;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.decode = options.decode;
    this.maxRuns = options.maxRuns ?? 2;
    this.releaseMemory = options.releaseMemory ?? releaseFreeMemory;
  }

  get waiting(): number {
    return this.pending;
  }

  /**
   * Predicts inputs (one result each, in order), batched with other callers'.
   * An input is an uploaded poster, or `{ image?, title?, plot? }`; the
   * queue counts every input, text-only ones too, against its limits.
   *
   * @example
   *   const [p] = await queue.submit([{ source: 'upload.jpg', bytes }]);
   *   p.genres // -> ['Drama']
   *   const [t] = await queue.submit([{ title: 'Alien (1979)' }]);
   *   t.inputs // -> ['title']
   */
  submit(posters: readonly QueuedInput[], views?: readonly string[], signal?: AbortSignal): Promise<Prediction[]> {
    if (signal?.aborted) return Promise.reject(gone());
    if (this.pending + posters.length > this.maxPending) {
      return Promise.reject(new PosterscopeError('SERVER_BUSY', `the server is busy (${this.pending} posters queued); retry shortly`));
    }
    return new Promise<Prediction[]>((resolve, reject) => {
      const job: Job = { posters, views: views?.join(','), resolve, reject, settled: false, released: false };
      const cancel = (error: PosterscopeError) => {
        if (job.settled) return;
        job.reject(error);
        this.drop(job);
      };
      const timer = setTimeout(() => cancel(new PosterscopeError('TIMEOUT', `prediction took longer than ${this.timeoutMs} ms`)), this.timeoutMs);
      const onAbort = () => cancel(gone());
      signal?.addEventListener('abort', onAbort, { once: true });
      job.resolve = (value) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (!job.settled) resolve(value);
        job.settled = true;
      };
      job.reject = (error) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (!job.settled) reject(error);
        job.settled = true;
      };
      this.jobs.push(job);
      this.pending += posters.length;
      this.schedule();
    });
  }

  /** A job whose caller has gone: out of the queue if it has not started, out of the waiting count either way. */
  private drop(job: Job): void {
    const at = this.jobs.indexOf(job);
    if (at >= 0) this.jobs.splice(at, 1);
    this.stats.cancelled += job.posters.length;
    this.release(job);
  }

  private release(job: Job): void {
    if (job.released) return;
    job.released = true;
    this.pending -= job.posters.length;
  }

  /** Resolves when every queued poster has been predicted. */
  async drain(): Promise<void> {
    while (this.running.size > 0 || this.jobs.length > 0) {
      this.flushNow();
      await Promise.race(this.running);
    }
  }

  private schedule(): void {
    if (this.running.size >= this.maxRuns) return;
    if (this.pending >= this.maxBatch) this.flushNow();
    else this.timer ??= setTimeout(() => this.flushNow(), this.maxWaitMs);
  }

  private flushNow(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running.size >= this.maxRuns || this.jobs.length === 0) return;
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
    const run: Promise<void> = this.run(batch, views).finally(() => {
      this.running.delete(run);
      if (this.jobs.length > 0) this.schedule();
      this.afterRun();
    });
    this.running.add(run);
  }

  /** After the answers are out: free memory back to the system if the queue is idle, or has been busy for a while. */
  private afterRun(): void {
    const idle = this.running.size === 0 && this.jobs.length === 0;
    if (!idle && performance.now() - this.releasedAt < RELEASE_EVERY_MS) return;
    this.releasedAt = performance.now();
    this.releaseMemory();
  }

  private async run(batch: Job[], views: string | undefined): Promise<void> {
    const live = batch.filter((job) => !job.settled);
    const inputs: QueuedInput[] = live.flatMap((job) => job.posters);
    // Which job and slot each input belongs to: a job is answered as soon as
    // its own posters are done, not when the whole batch is.
    const owners = live.flatMap((job) => job.posters.map((_, slot) => ({ job, slot })));
    const answers = new Map(live.map((job) => [job, { predictions: new Array<Prediction>(job.posters.length), left: job.posters.length }]));
    try {
      if (inputs.length === 0) return;
      await this.model.predict(inputs, {
        cache: false,
        ...(views ? { views: views.split(',') } : {}),
        ...(this.decode ? { decode: this.decode } : {}),
        // A job that timed out or whose client hung up stops costing anything.
        cancelled: (index) => owners[index]!.job.settled,
        onPrediction: (prediction, index) => {
          const { job, slot } = owners[index]!;
          const answer = answers.get(job)!;
          answer.predictions[slot] = prediction;
          if (--answer.left === 0) {
            answers.delete(job);
            this.release(job);
            job.resolve(answer.predictions);
          }
        },
      });
      this.stats.batches++;
      this.stats.posters += inputs.length;
      this.stats.largestBatch = Math.max(this.stats.largestBatch, inputs.length);
    } catch (error) {
      for (const job of answers.keys()) job.reject(error as Error);
    } finally {
      for (const job of batch) this.release(job);
    }
  }
}

/** The error a job gets when its client hung up (nobody reads it; it ends the job). */
function gone(): PosterscopeError {
  return new PosterscopeError('BAD_REQUEST', 'the client closed the connection before the answer was ready');
}
