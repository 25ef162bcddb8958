/**
 * `queue collect`: the finished chunks' results from the store, in the forms
 * the local commands write, one result per poster however many times a chunk
 * was delivered:
 *
 *   <out>/embeddings/<fingerprint>-p<v>/   an embedding cache (`train` / `evaluate --cache-dir <out>`)
 *   <out>/predictions.jsonl (or .csv)       one line per poster, as `predict --format jsonl|csv`
 *   <out>/clean/<file name> + boxes.jsonl   text-free posters, as `clean --out`
 *
 * `--out FILE.jsonl|FILE.csv` writes only the predictions, to that file.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Queue } from 'bullmq';
import { stringify } from 'csv-stringify/sync';
import { openAtomicFile, writeFileAtomic } from '../atomic-file.js';
import { EmbeddingCache, embeddingKey } from '../embed/cache.js';
import { PosterscopeError } from '../errors.js';
import { type ChunkJobData, type ChunkRecord, type ChunkRow, DEFAULT_QUEUE, JOB_KINDS, type JobKind, QUEUE_PREFIX, chunkRecordKey, connectRedis, kindQueueName, readJson } from './jobs.js';
import type { ResultStore } from './store.js';

export interface CollectOptions {
  redis: string;
  queue?: string;
  store: ResultStore;
  /** A folder, or a .jsonl / .csv file for predictions alone. */
  out: string;
  /** Only these job kinds. Default all. */
  kinds?: readonly JobKind[];
  /** Called for each poster that failed, once. */
  onError?: (row: ChunkRow) => void;
}

export interface CollectSummary {
  /** Finished chunks read. */
  chunks: number;
  /** Chunks not finished yet (waiting, active, delayed) and failed ones, with the reasons of the failed. */
  unfinished: number;
  failedChunks: Array<{ job: string; reason: string }>;
  /** Distinct posters (by input name) with a result, per kind. */
  embedded: number;
  predicted: number;
  cleaned: number;
  /** Posters that failed (each once). */
  failed: number;
  /** Where each kind's results went. */
  written: string[];
}

/**
 * @example
 *   const summary = await collectResults({ redis: 'redis://127.0.0.1:6379', store, out: 'results/' });
 *   // -> { chunks: 20, unfinished: 0, failedChunks: [], embedded: 1254, predicted: 0, cleaned: 0, failed: 1,
 *   //      written: ['results/embeddings/mobilenetv2-83530ad811bc31d2-p1'] }
 */
export async function collectResults(options: CollectOptions): Promise<CollectSummary> {
  const name = options.queue ?? DEFAULT_QUEUE;
  const { store } = options;
  const predictionsOnly = /\.(jsonl|csv)$/i.test(options.out);
  const redis = await connectRedis(options.redis, 'client');
  const summary: CollectSummary = { chunks: 0, unfinished: 0, failedChunks: [], embedded: 0, predicted: 0, cleaned: 0, failed: 0, written: [] };
  // The last row seen for a poster wins; a poster in two chunks (added twice under other chunkings) counts once.
  const rows: Record<JobKind, Map<string, { row: ChunkRow; record: ChunkRecord }>> = { embed: new Map(), predict: new Map(), clean: new Map() };
  try {
    for (const kind of options.kinds ?? JOB_KINDS) {
      const queue = new Queue<ChunkJobData>(kindQueueName(name, kind), { connection: redis, prefix: QUEUE_PREFIX });
      try {
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
        summary.unfinished += (counts.waiting ?? 0) + (counts.active ?? 0) + (counts.delayed ?? 0) + (counts.prioritized ?? 0) + (counts.failed ?? 0);
        for (let start = 0; start < (counts.failed ?? 0); start += 1000) {
          for (const job of await queue.getFailed(start, start + 999)) summary.failedChunks.push({ job: job.id ?? '?', reason: job.failedReason ?? 'unknown' });
        }
        for (let start = 0; start < (counts.completed ?? 0); start += 1000) {
          const jobs = await queue.getCompleted(start, start + 999);
          for (const job of jobs) {
            const record = await readJson<ChunkRecord>(store, chunkRecordKey(job.id!));
            if (!record) {
              throw new PosterscopeError('DATA_INVALID', `chunk ${job.id} is done but ${store.location} has no ${chunkRecordKey(job.id!)}: is --store the workers' store?`);
            }
            summary.chunks++;
            for (const row of record.rows) rows[kind].set(row.source, { row, record });
          }
        }
      } finally {
        await queue.close();
      }
    }
  } finally {
    redis.disconnect();
  }

  const failedSources = new Set<string>();
  for (const kind of JOB_KINDS) {
    for (const { row } of rows[kind].values()) {
      if (row.error && !failedSources.has(`${kind}\0${row.source}`)) {
        failedSources.add(`${kind}\0${row.source}`);
        summary.failed++;
        options.onError?.(row);
      }
    }
  }
  if (predictionsOnly && (rows.embed.size > 0 || rows.clean.size > 0) && !options.kinds) {
    throw new PosterscopeError('USAGE', `the queue holds embeddings or cleaned posters: --out must be a folder, not ${options.out} (or pass --jobs predict)`);
  }
  if (!predictionsOnly) await mkdir(options.out, { recursive: true });

  // Embeddings: into an embedding cache, one per backbone fingerprint.
  const caches = new Map<string, EmbeddingCache>();
  let lastPack: { key: string; bytes: Buffer | undefined } = { key: '', bytes: undefined };
  try {
    for (const { row, record } of rows.embed.values()) {
      if (row.error || !row.keys || !record.embeddings) continue;
      const { fingerprint, dim, views } = record.embeddings;
      let cache = caches.get(fingerprint);
      if (!cache) {
        cache = await EmbeddingCache.open({ dir: options.out, fingerprint, dim });
        caches.set(fingerprint, cache);
        summary.written.push(cache.directory);
      }
      for (let v = 0; v < views.length; v++) {
        const [packKey, index] = row.keys[v]!.split('#') as [string, string];
        if (packKey !== lastPack.key) lastPack = { key: packKey, bytes: await store.read(packKey) };
        const size = 32 + dim * 4;
        const at = Number(index) * size;
        const record = lastPack.bytes?.subarray(at, at + size);
        if (!record || record.length !== size) throw new PosterscopeError('DATA_INVALID', `${store.location}/${packKey}: missing or shorter than record ${index} (${dim} float32 values each)`);
        const key = Buffer.from(record.subarray(0, 32));
        if (!key.equals(embeddingKey(row.sha256, views[v]!))) throw new PosterscopeError('DATA_INVALID', `${store.location}/${packKey}: record ${index} is not ${row.source}'s ${views[v]} vector`);
        if (cache.has(key)) continue;
        const vector = new Float32Array(dim);
        Buffer.from(vector.buffer).set(record.subarray(32));
        cache.put(key, vector);
      }
      summary.embedded++;
    }
  } finally {
    for (const cache of caches.values()) cache.close();
  }

  // Predictions: JSON Lines or CSV, as `predict` writes them.
  if (rows.predict.size > 0) {
    const path = predictionsOnly ? options.out : join(options.out, 'predictions.jsonl');
    const csv = /\.csv$/i.test(path);
    await mkdir(dirname(path), { recursive: true });
    const file = await openAtomicFile(path);
    try {
      const genres = [...rows.predict.values()].find((r) => r.record.genres)?.record.genres ?? [];
      if (csv) await file.write(Buffer.from(stringify([['input', 'genres', 'error', ...genres]])));
      for (const { row } of [...rows.predict.values()].sort((a, b) => a.row.source.localeCompare(b.row.source))) {
        let prediction: { input: string; genres: string[]; scores: Array<{ genre: string; score: number }>; error?: ChunkRow['error'] };
        if (row.error || !row.keys) prediction = { input: row.source, genres: [], scores: [], ...(row.error ? { error: row.error } : {}) };
        else {
          const stored = await readJson<{ genres: string[]; scores: Array<{ genre: string; score: number }> }>(store, row.keys[0]!);
          if (!stored) throw new PosterscopeError('DATA_INVALID', `${store.location}/${row.keys[0]}: missing`);
          prediction = { input: row.source, ...stored };
          summary.predicted++;
        }
        if (csv) {
          const byGenre = new Map(prediction.scores.map((s) => [s.genre, s.score]));
          const line = [prediction.input, prediction.genres.join('|'), prediction.error?.message ?? '', ...genres.map((g) => (byGenre.has(g) ? byGenre.get(g)!.toFixed(5) : ''))];
          await file.write(Buffer.from(stringify([line])));
        } else await file.write(Buffer.from(`${JSON.stringify(prediction)}\n`));
      }
      await file.commit();
    } finally {
      await file.abort();
    }
    summary.written.push(path);
  }

  // Cleaned posters under their own file names, and boxes.jsonl.
  if (rows.clean.size > 0) {
    const folder = join(options.out, 'clean');
    await mkdir(folder, { recursive: true });
    const boxes = createWriteStream(join(folder, '.boxes.jsonl.incoming'));
    const owner = new Map<string, string>();
    for (const { row } of rows.clean.values()) {
      if (row.error || !row.keys) continue;
      const fileName = basename(row.source);
      if (owner.has(fileName) && owner.get(fileName) !== row.source) {
        summary.failed++;
        options.onError?.({ ...row, error: { code: 'INVALID_ARGUMENT', message: `${row.source}: another poster (${owner.get(fileName)}) is also named ${fileName}; not written` } });
        continue;
      }
      owner.set(fileName, row.source);
      const [image, recordKey] = [await store.read(row.keys[0]!), await readJson<Record<string, unknown>>(store, row.keys[1]!)];
      if (!image || !recordKey) throw new PosterscopeError('DATA_INVALID', `${store.location}/${row.keys[0]}: missing`);
      await writeFileAtomic(join(folder, fileName), image);
      boxes.write(`${JSON.stringify({ ...recordKey, file: fileName, source: row.source })}\n`);
      summary.cleaned++;
    }
    await new Promise<void>((resolve, reject) => boxes.end((error?: Error | null) => (error ? reject(error) : resolve())));
    await rename(join(folder, '.boxes.jsonl.incoming'), join(folder, 'boxes.jsonl'));
    summary.written.push(folder);
  }
  return summary;
}
