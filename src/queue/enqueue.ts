/**
 * `queue add`: posters in, chunk jobs out. Each poster is read and hashed
 * once (with the same reader the local commands use), the list is cut into
 * chunks, each chunk's manifest is written to the store, and one BullMQ job
 * per chunk is added under an id hashed from the manifest, so adding the same
 * posters again adds nothing.
 */
import { resolve } from 'node:path';
import { Queue } from 'bullmq';
import pMap from 'p-map';
import { type PosterscopeError, asPosterError, checkInteger } from '../errors.js';
import { type DecodeOptions, readPosterFile } from '../image/poster.js';
import { type ChunkEntry, type ChunkJobData, type ChunkManifest, type JobRequest, DEFAULT_QUEUE, QUEUE_PREFIX, chunkJobId, connectRedis, kindQueueName, manifestKey, queueKeys } from './jobs.js';
import type { ResultStore } from './store.js';

export interface EnqueueOptions {
  /** redis:// URL. */
  redis: string;
  /** Queue name. Default 'posters'. */
  queue?: string;
  store: ResultStore;
  request: JobRequest;
  /** Posters per job. Default 64. */
  chunk?: number;
  /** Deliveries of a chunk whose processing throws, with exponential backoff between them. Default 3. */
  attempts?: number;
  /** First backoff delay in ms (doubling each time). Default 5000. */
  backoffMs?: number;
  /** Put chunks that already ended in the failed set back in the queue. Default false. */
  retryFailed?: boolean;
  decode?: DecodeOptions;
  /** Called for each poster that cannot be read (it is not enqueued). */
  onError?: (error: PosterscopeError) => void;
}

export interface EnqueueSummary {
  posters: number;
  /** Posters that could not be read and were not enqueued. */
  unreadable: number;
  chunks: number;
  /** Chunks new to the queue. */
  added: number;
  /** Chunks the queue already had (waiting, running, done or failed). */
  existing: number;
  /** Failed chunks put back (with `retryFailed`). */
  retried: number;
}

/**
 * @example
 *   const store = await openDirectoryStore('/mnt/shared/run1');
 *   await enqueuePosters(['posters/a.jpg', 'posters/b.jpg'], {
 *     redis: 'redis://127.0.0.1:6379', store, request: { kind: 'embed', backbone: { id: 'mobilenetv2', sha256 }, views: ['native'] },
 *   });
 *   // -> { posters: 2, unreadable: 0, chunks: 1, added: 1, existing: 0, retried: 0 }
 *   // and again: { posters: 2, unreadable: 0, chunks: 1, added: 0, existing: 1, retried: 0 }
 */
export async function enqueuePosters(files: readonly string[], options: EnqueueOptions): Promise<EnqueueSummary> {
  const chunkSize = checkInteger('chunk', options.chunk ?? 64, 1, 100_000);
  const attempts = checkInteger('attempts', options.attempts ?? 3, 1, 100);
  const backoffMs = checkInteger('backoffMs', options.backoffMs ?? 5000, 0, 86_400_000);
  const name = options.queue ?? DEFAULT_QUEUE;
  // Reach Redis before reading a single poster: a wrong URL fails in a second, not after hashing 300k files.
  const redis = await connectRedis(options.redis, 'client');
  const queue = new Queue<ChunkJobData>(kindQueueName(name, options.request.kind), { connection: redis, prefix: QUEUE_PREFIX });
  try {
    const read = await pMap(
      files,
      async (source): Promise<ChunkEntry | undefined> => {
        try {
          const { contentHash } = await readPosterFile(source, options.decode);
          return { source, path: resolve(source), sha256: contentHash };
        } catch (error) {
          options.onError?.(asPosterError(source, error));
          return undefined;
        }
      },
      { concurrency: 8 },
    );
    const entries = read.filter((e): e is ChunkEntry => e !== undefined);
    const summary: EnqueueSummary = { posters: entries.length, unreadable: files.length - entries.length, chunks: 0, added: 0, existing: 0, retried: 0 };
    const keys = queueKeys(name);
    for (let start = 0; start < entries.length; start += chunkSize) {
      const manifest: ChunkManifest = { request: options.request, entries: entries.slice(start, start + chunkSize) };
      const id = chunkJobId(manifest);
      summary.chunks++;
      // The manifest goes to the store before the job exists, so no worker ever sees a job without one.
      if (!(await options.store.has(manifestKey(id)))) await options.store.write(manifestKey(id), JSON.stringify(manifest));
      const state = await queue.getJobState(id);
      if (state === 'unknown') {
        await queue.add(
          options.request.kind,
          { request: options.request, posters: manifest.entries.length },
          {
            jobId: id,
            attempts,
            backoff: { type: 'exponential', delay: backoffMs },
            // Completed and failed jobs stay: their ids make re-adding idempotent and `collect` lists them.
            removeOnComplete: false,
            removeOnFail: false,
          },
        );
        await redis.hincrby(keys.stats, 'posters', manifest.entries.length);
        summary.added++;
      } else {
        summary.existing++;
        if (state === 'failed' && options.retryFailed) {
          const job = await queue.getJob(id);
          // A fresh start: the worker counts starts against --attempts.
          await job?.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
          summary.retried++;
        }
      }
    }
    return summary;
  } finally {
    await queue.close();
    redis.disconnect();
  }
}
