/**
 * `posterscope worker`: a long-running BullMQ worker that takes chunk jobs
 * and does them with the same library calls as the local commands
 * (`embedPosters`, `loadModel().predict`, `cleanPosterFiles`), writing each
 * poster's results to the shared store under its content hash.
 *
 * Reliability comes from BullMQ: a job is locked while a worker holds it and
 * the lock is renewed; a worker killed mid-job stops renewing, and another
 * worker's stalled-job check puts the job back in the queue. A chunk that
 * throws is retried with exponential backoff; a chunk started more times than
 * its `attempts` (throws and lost deliveries together) ends in the failed set
 * with the reason. Completed chunks are never redone; a re-delivered predict
 * or clean chunk skips the posters already in the store, an embed chunk
 * (one pack of vectors written at its end) is redone whole.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import pMap from 'p-map';
import { type Backbone, type LoadBackboneOptions, loadBackbone } from '../backbone/backbone.js';
import { loadBackboneSpec } from '../backbone/registry.js';
import { type PosterCleaner, detectorOptions, loadCleaner } from '../clean/clean.js';
import { cleanPosterFiles, readBoxesFile } from '../clean/clean-files.js';
import { embeddingKey } from '../embed/cache.js';
import { embedPosters } from '../embed/pipeline.js';
import { checkInteger } from '../errors.js';
import type { DecodeOptions } from '../image/poster.js';
import { parseViews, viewName } from '../image/views.js';
import { type GenreModel, loadModel } from '../model/model.js';
import {
  type ChunkEntry,
  type ChunkJobData,
  type ChunkManifest,
  type ChunkRecord,
  type ChunkRow,
  type ChunkSummary,
  type JobKind,
  DEFAULT_QUEUE,
  JOB_KINDS,
  kindQueueName,
  QUEUE_PREFIX,
  chunkRecordKey,
  connectRedis,
  embeddingPackKey,
  manifestKey,
  queueKeys,
  readJson,
} from './jobs.js';
import { type ResultStore, shard } from './store.js';

export interface QueueWorkerOptions {
  redis: string;
  /** Queue name. Default 'posters'. */
  queue?: string;
  store: ResultStore;
  /** Job kinds this worker takes. Default all. */
  kinds?: readonly JobKind[];
  /** Chunks worked on at once. Default 1. */
  concurrency?: number;
  /** Backbone for embed jobs: a registry id or a row file. Default 'mobilenetv2'. */
  backbone?: string;
  /** Model bundle for predict jobs. Default the built-in one. */
  model?: string;
  /** Where model files come from, inference threads, cache directory (as for the local commands). */
  load?: LoadBackboneOptions;
  decode?: DecodeOptions;
  /**
   * Seconds without a lock renewal after which a job counts as lost and is
   * handed to another worker (BullMQ lockDuration and stalled-check interval). Default 30.
   */
  stallSeconds?: number;
  /** Seconds between heartbeats; the heartbeat key expires after three. Default 5. */
  heartbeatSeconds?: number;
  /** One line per event (chunk done, failed, refused, connection trouble). */
  onLog?: (line: string) => void;
}

export interface QueueWorker {
  readonly id: string;
  /** Stops taking jobs and waits for the running ones; `force` hands them back at once (they are re-delivered). */
  close(force?: boolean): Promise<void>;
}

/** A checksum naming a model bundle's exact contents (manifest, with the weights' checksum in it). */
export function modelChecksum(manifest: unknown): string {
  return createHash('sha256').update(JSON.stringify(manifest)).digest('hex');
}

const short = (sha: string | null) => (sha === null ? '(any)' : `${sha.slice(0, 12)}…`);

/**
 * Starts a worker; it runs until `close()`.
 *
 * @example
 *   const worker = await startQueueWorker({ redis: 'redis://10.0.0.5:6379', store: await openDirectoryStore('/mnt/shared/run1') });
 *   process.once('SIGTERM', () => worker.close());
 */
export async function startQueueWorker(options: QueueWorkerOptions): Promise<QueueWorker> {
  const name = options.queue ?? DEFAULT_QUEUE;
  const kinds = new Set(options.kinds ?? JOB_KINDS);
  const concurrency = checkInteger('concurrency', options.concurrency ?? 1, 1, 64);
  const stallMs = checkInteger('stallSeconds', options.stallSeconds ?? 30, 1, 86_400) * 1000;
  const heartbeatMs = checkInteger('heartbeatSeconds', options.heartbeatSeconds ?? 5, 1, 3600) * 1000;
  const { store } = options;
  const log = options.onLog ?? (() => {});
  const id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const keys = queueKeys(name);
  const load = options.load ?? {};

  // Models load once, on the first job that needs them.
  let backbone: Promise<Backbone> | undefined;
  let model: Promise<GenreModel> | undefined;
  const cleaners = new Map<string, Promise<PosterCleaner>>();
  const getBackbone = () => (backbone ??= loadBackboneSpec(options.backbone ?? 'mobilenetv2').then((spec) => loadBackbone(spec, load)));
  const getModel = () => (model ??= loadModel(options.model, load));

  const embed = async (job: Job<ChunkJobData>, manifest: ChunkManifest): Promise<ChunkRecord> => {
    const request = manifest.request as Extract<ChunkManifest['request'], { kind: 'embed' }>;
    const b = await getBackbone();
    if (b.spec.id !== request.backbone.id || (request.backbone.sha256 !== null && b.sha256 !== request.backbone.sha256)) {
      throw new UnrecoverableError(
        `refused by worker ${id}: the job asks for backbone ${request.backbone.id} sha256 ${short(request.backbone.sha256)}, this worker has ${b.spec.id} sha256 ${short(b.sha256)}`,
      );
    }
    const views = parseViews(request.views.join(','));
    const names = views.map(viewName);
    // One pack per chunk: a file per vector costs about 0.5 CPU ms to create and rename, as much as
    // a quarter of a one-crop embedding; a chunk's pack is one write (and one object-storage PUT).
    const pack = embeddingPackKey(b.fingerprint, job.id!);
    const dim = b.dim;
    const rows: Array<ChunkRow | undefined> = new Array(manifest.entries.length).fill(undefined);
    const records: Buffer[] = [];
    await embedPosters(
      manifest.entries.map((e) => e.path),
      {
        backbone: b,
        views,
        keepVectors: true,
        ...(options.decode ? { decode: options.decode } : {}),
        onPoster: (result) => {
          const entry = manifest.entries[result.index]!;
          if (result.error) {
            rows[result.index] = { source: entry.source, sha256: entry.sha256, error: { code: result.error.code, message: result.error.message } };
            return;
          }
          if (result.contentHash !== entry.sha256) {
            rows[result.index] = { source: entry.source, sha256: entry.sha256, error: { code: 'DATA_INVALID', message: `${entry.source}: the file changed after it was queued` } };
            return;
          }
          const keys = names.map((v) => {
            const vector = result.vectors!.get(v)!;
            const record = Buffer.allocUnsafe(32 + dim * 4);
            embeddingKey(entry.sha256, v).copy(record, 0);
            Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).copy(record, 32);
            records.push(record);
            return `${pack}#${records.length - 1}`;
          });
          rows[result.index] = { source: entry.source, sha256: entry.sha256, keys };
        },
      },
    );
    await store.write(pack, Buffer.concat(records));
    const stored = 0;
    return { job: job.id!, kind: 'embed', worker: id, stored, embeddings: { fingerprint: b.fingerprint, dim: b.dim, views: names }, rows: rows as ChunkRow[] };
  };

  const predict = async (job: Job<ChunkJobData>, manifest: ChunkManifest): Promise<ChunkRecord> => {
    const request = manifest.request as Extract<ChunkManifest['request'], { kind: 'predict' }>;
    const m = await getModel();
    const checksum = modelChecksum(m.manifest);
    if (checksum !== request.model.checksum) {
      throw new UnrecoverableError(
        `refused by worker ${id}: the job asks for the model with checksum ${short(request.model.checksum)}, this worker has ${m.path} (${short(checksum)}); start a worker with --model pointing at that bundle`,
      );
    }
    const viewsTag = createHash('sha256').update((request.views ?? m.manifest.views ?? []).join(',')).digest('hex').slice(0, 8);
    const keyOf = (sha: string) => `predictions/${checksum.slice(0, 16)}-${viewsTag}/${shard(sha)}/${sha}.json`;
    const rows = await rowsOf(manifest.entries, (e) => [keyOf(e.sha256)]);
    const todo = manifest.entries.filter((_, i) => rows[i] === undefined);
    const stored = manifest.entries.length - todo.length;
    const writes: Array<Promise<void>> = [];
    await m.predict(
      todo.map((e) => e.path),
      {
        ...(request.views ? { views: request.views } : {}),
        ...(options.decode ? { decode: options.decode } : {}),
        onPrediction: (prediction, index) => {
          const entry = todo[index]!;
          const at = manifest.entries.indexOf(entry);
          if (prediction.error) {
            rows[at] = { source: entry.source, sha256: entry.sha256, error: prediction.error };
            return;
          }
          const key = keyOf(entry.sha256);
          writes.push(store.write(key, JSON.stringify({ genres: prediction.genres, scores: prediction.scores })));
          rows[at] = { source: entry.source, sha256: entry.sha256, keys: [key] };
        },
      },
    );
    await Promise.all(writes);
    return { job: job.id!, kind: 'predict', worker: id, stored, genres: [...m.genres], rows: rows as ChunkRow[] };
  };

  const clean = async (job: Job<ChunkJobData>, manifest: ChunkManifest): Promise<ChunkRecord> => {
    const request = manifest.request as Extract<ChunkManifest['request'], { kind: 'clean' }>;
    const settingsKey = JSON.stringify(request.settings);
    let pending = cleaners.get(settingsKey);
    if (!pending) {
      const boxCacheDir = load.cacheDir ? join(load.cacheDir, 'boxes') : undefined;
      pending = loadCleaner(request.settings, { ...detectorOptions(load, undefined), ...(boxCacheDir ? { boxCacheDir } : {}) });
      cleaners.set(settingsKey, pending);
    }
    const cleaner = await pending;
    if (request.detector.sha256 !== null && cleaner.detector.sha256 !== request.detector.sha256) {
      throw new UnrecoverableError(
        `refused by worker ${id}: the job asks for text detector ${request.detector.id} sha256 ${short(request.detector.sha256)}, this worker has sha256 ${short(cleaner.detector.sha256)}`,
      );
    }
    const base = (sha: string) => `clean/${cleaner.id}/${shard(sha)}/${sha}`;
    const imageKey = (e: ChunkEntry) => `${base(e.sha256)}${extname(e.path).toLowerCase() || '.png'}`;
    const rows = await rowsOf(manifest.entries, (e) => [imageKey(e), `${base(e.sha256)}.json`]);
    const todo = manifest.entries.filter((_, i) => rows[i] === undefined);
    const stored = manifest.entries.length - todo.length;
    const out = await mkdtemp(join(tmpdir(), 'posterscope-chunk-'));
    try {
      // One entry per file name: cleanPosterFiles refuses two inputs with the same name (one output folder).
      const summary = await cleanPosterFiles(
        todo.map((e) => e.path),
        { cleaner, out, ...(options.decode ? { decode: options.decode } : {}) },
      );
      const failed = new Map(summary.errors.map((e) => [e.file, e]));
      const records = await readBoxesFile(join(out, 'boxes.jsonl'));
      const bySource = new Map([...records.values()].map((r) => [r.source, r]));
      await pMap(
        todo,
        async (entry) => {
          const at = manifest.entries.indexOf(entry);
          const record = bySource.get(entry.path);
          const error = failed.get(entry.path);
          if (!record || error) {
            rows[at] = { source: entry.source, sha256: entry.sha256, error: { code: error?.code ?? 'INTERNAL', message: error?.message ?? `${entry.source}: not cleaned` } };
            return;
          }
          const keys = [imageKey(entry), `${base(entry.sha256)}.json`];
          await store.write(keys[0]!, await readFile(join(out, record.file)));
          await store.write(keys[1]!, JSON.stringify(record));
          rows[at] = { source: entry.source, sha256: entry.sha256, keys };
        },
        { concurrency: 8 },
      );
    } finally {
      await rm(out, { recursive: true, force: true });
    }
    return { job: job.id!, kind: 'clean', worker: id, stored, rows: rows as ChunkRow[] };
  };

  /** Rows of the posters whose results are all in the store already; undefined where work is left. */
  async function rowsOf(entries: readonly ChunkEntry[], keysOf: (e: ChunkEntry) => string[]): Promise<Array<ChunkRow | undefined>> {
    return pMap(
      entries,
      async (e) => {
        const keys = keysOf(e);
        const stored = await Promise.all(keys.map((k) => store.has(k)));
        return stored.every(Boolean) ? { source: e.source, sha256: e.sha256, keys } : undefined;
      },
      { concurrency: 16 },
    );
  }

  const redis: Redis = await connectRedis(options.redis, 'worker');
  const active = new Set<string>();
  let done = 0;
  let connectionTrouble = false;
  let closing: Promise<void> | undefined;

  const process_ = async (job: Job<ChunkJobData>): Promise<ChunkSummary> => {
    const attempts = job.opts.attempts ?? 1;
    if (job.attemptsStarted > attempts) {
      const lost = job.attemptsStarted - 1 - job.attemptsMade;
      throw new UnrecoverableError(
        `chunk started ${job.attemptsStarted - 1} times without finishing: ${lost} deliveries lost their worker (killed, crashed or out of memory), ${job.attemptsMade} failed${job.failedReason ? ` (last: ${job.failedReason})` : ''}; not retried`,
      );
    }
    const started = performance.now();
    active.add(job.id!);
    try {
      await redis.hsetnx(keys.stats, 'firstStart', String(Date.now())).catch(() => {});
      const manifest = await readJson<ChunkManifest>(store, manifestKey(job.id!));
      if (!manifest) throw new UnrecoverableError(`no manifest for this chunk in ${store.location} (${manifestKey(job.id!)}): is the worker's --store the one \`queue add\` used?`);
      const work = { embed, predict, clean }[manifest.request.kind];
      const record = await work(job, manifest);
      await store.write(chunkRecordKey(job.id!), JSON.stringify(record));
      const failed = record.rows.filter((r) => r.error).length;
      const summary: ChunkSummary = {
        posters: record.rows.length,
        computed: 0,
        stored: record.stored,
        failed,
        seconds: Math.round((performance.now() - started) / 10) / 100,
        worker: id,
      };
      summary.computed = summary.posters - summary.failed - summary.stored;
      if ((await redis.sadd(keys.counted, job.id!)) === 1) {
        const multi = redis.multi().hincrby(keys.stats, 'done', summary.posters - failed).hincrby(keys.stats, 'failed', failed).hset(keys.stats, 'lastFinish', String(Date.now()));
        for (const row of record.rows) if (row.error) multi.hincrby(keys.errors, row.error.code, 1);
        await multi.exec();
      }
      return summary;
    } finally {
      active.delete(job.id!);
    }
  };

  // One BullMQ queue per job kind, so a worker only ever receives the kinds it takes.
  const workers = [...kinds].map(
    (kind) =>
      new Worker<ChunkJobData, ChunkSummary>(kindQueueName(name, kind), process_, {
        connection: redis,
        prefix: QUEUE_PREFIX,
        concurrency,
        lockDuration: stallMs,
        stalledInterval: stallMs,
        // Our own check above ends a job started more than `attempts` times with a clearer reason; this is the backstop.
        maxStalledCount: 100,
        autorun: false,
        name: `posterscope-worker-${id}`,
      }),
  );
  for (const worker of workers) {
    worker.on('completed', (job, result) => {
      done++;
      log(`chunk ${job.id}: ${result.posters} posters (${result.computed} computed, ${result.stored} already stored, ${result.failed} failed) in ${result.seconds} s`);
    });
    worker.on('failed', (job, error) => {
      log(`chunk ${job?.id ?? '?'} failed (attempt ${job?.attemptsMade ?? '?'} of ${job?.opts.attempts ?? '?'}): ${error.message.split('\n')[0]}`);
    });
    worker.on('error', (error) => {
      if (!connectionTrouble) log(`queue trouble, retrying: ${error.message.split('\n')[0]}`);
      connectionTrouble = true;
    });
  }
  redis.on('close', () => {
    if (!connectionTrouble && !closing) log('lost the connection to Redis, reconnecting');
    connectionTrouble = true;
  });
  redis.on('ready', () => {
    if (connectionTrouble) log('reconnected to Redis');
    connectionTrouble = false;
  });

  const beat = async () => {
    const value = JSON.stringify({ id, host: hostname(), pid: process.pid, kinds: [...kinds], concurrency, active: [...active], done, at: Date.now() });
    await redis.set(keys.worker(id), value, 'PX', heartbeatMs * 3).catch(() => {});
  };
  await beat();
  const heartbeat = setInterval(() => void beat(), heartbeatMs);
  heartbeat.unref();
  for (const worker of workers) void worker.run().catch((error: unknown) => log(`worker stopped: ${(error as Error).message}`));
  log(`worker ${id} waiting for ${[...kinds].join(', ')} jobs on queue ${name} (store ${store.location})`);

  return {
    id,
    close: (force = false) => {
      if (closing && !force) return closing;
      closing = (async () => {
        await Promise.all(workers.map((worker) => worker.close(force)));
        clearInterval(heartbeat);
        await redis.del(keys.worker(id)).catch(() => {});
        const loaded = await Promise.allSettled([backbone, model, ...cleaners.values()]);
        for (const r of loaded) if (r.status === 'fulfilled' && r.value) await r.value.release();
        redis.disconnect();
      })();
      return closing;
    },
  };
}
