/**
 * What travels through the queue: BullMQ jobs of one chunk of posters each.
 * A job's id is a hash of its chunk manifest (job kind, settings, and each
 * poster's path and content hash), so enqueueing the same posters twice
 * names the same jobs and BullMQ adds nothing the second time. The manifest
 * itself lives in the result store; Redis holds only the job's state, its
 * settings and a small summary.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { PosterscopeError, invalidParameterError } from '../errors.js';
import type { CleanSettings } from '../clean/clean.js';
import { PREPROCESS_VERSION } from '../embed/cache.js';
import type { ResultStore } from './store.js';

export const JOB_KINDS = ['embed', 'clean', 'predict'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** Redis key prefix of every queue posterscope makes. */
export const QUEUE_PREFIX = 'posterscope';
export const DEFAULT_QUEUE = 'posters';

/** The BullMQ queue of one job kind: workers listen only on the kinds they take. */
export const kindQueueName = (queue: string, kind: JobKind) => `${queue}-${kind}`;

/** The model files a job needs, by checksum (null: a row that pins no checksum): a worker holding other files refuses the job. */
export type JobRequest =
  | { kind: 'embed'; backbone: { id: string; sha256: string | null }; views: string[] }
  | { kind: 'clean'; detector: { id: string; sha256: string | null }; settings: CleanSettings }
  | { kind: 'predict'; model: { checksum: string; backboneSha256: string }; views?: string[] };

export interface ChunkEntry {
  /** The input as the user named it (what collected output shows). */
  source: string;
  /** Absolute path every worker reads (a shared file system). */
  path: string;
  sha256: string;
}

/** `manifests/<job id>.json` in the store. */
export interface ChunkManifest {
  request: JobRequest;
  entries: ChunkEntry[];
}

/** What Redis holds for a job. */
export interface ChunkJobData {
  request: JobRequest;
  posters: number;
}

/** A job's return value (kept in Redis, so small). */
export interface ChunkSummary {
  posters: number;
  /** Posters computed by this run. */
  computed: number;
  /** Posters whose results were already in the store (an earlier, interrupted delivery or another chunk). */
  stored: number;
  failed: number;
  seconds: number;
  worker: string;
}

export interface ChunkRow {
  source: string;
  sha256: string;
  /** Store keys of this poster's results: one per view (embed: `<pack key>#<record>`), the prediction, or the cleaned poster and its record. */
  keys?: string[];
  error?: { code: string; message: string };
}

/** `chunks/<job id>.json` in the store: what happened to each poster of a chunk. */
export interface ChunkRecord {
  job: string;
  kind: JobKind;
  worker: string;
  /** Posters whose results were in the store already when this delivery started (an interrupted one wrote them, or another chunk); always 0 for embed chunks, whose vectors are written in one pack at the end. */
  stored: number;
  /** embed: the backbone fingerprint, dimension and view names the keys are for. */
  embeddings?: { fingerprint: string; dim: number; views: string[] };
  /** predict: the model's genres (column order of CSV output). */
  genres?: string[];
  rows: ChunkRow[];
}

/** A job id from its manifest: the same posters with the same settings always get the same id. */
export function chunkJobId(manifest: ChunkManifest): string {
  const hash = createHash('sha256').update(JSON.stringify(manifest)).digest('hex');
  return `${manifest.request.kind}-${hash.slice(0, 32)}`;
}

export const manifestKey = (jobId: string) => `manifests/${jobId}.json`;
/**
 * One chunk's vectors: records of [embeddingKey 32 bytes | dim float32], in
 * the order its chunk record's rows name them (`<pack key>#<record index>`).
 */
export const embeddingPackKey = (fingerprint: string, jobId: string) => `embeddings/${fingerprint}-p${PREPROCESS_VERSION}/${jobId}.f32`;
export const chunkRecordKey = (jobId: string) => `chunks/${jobId}.json`;

/** The Redis keys posterscope keeps beside BullMQ's own. */
export function queueKeys(queue: string) {
  const base = `${QUEUE_PREFIX}:${queue}:ps`;
  return {
    /** Hash: posters enqueued / done / failed, first start and last finish (ms). */
    stats: `${base}:stats`,
    /** Set of job ids already counted in stats (a re-delivered chunk is not counted twice). */
    counted: `${base}:counted`,
    /** Hash: poster error code -> count. */
    errors: `${base}:errors`,
    /** Heartbeat key of one worker; expires when the worker stops beating. */
    worker: (id: string) => `${base}:worker:${id}`,
    workerPattern: `${base}:worker:*`,
  };
}

export async function readJson<T>(store: ResultStore, key: string): Promise<T | undefined> {
  const bytes = await store.read(key);
  if (!bytes) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (error) {
    throw new PosterscopeError('DATA_INVALID', `${store.location}/${key}: not valid JSON (${(error as Error).message})`, { subject: key, cause: error });
  }
}

/** Checks a `--redis` value: a redis:// or rediss:// URL. */
export function checkRedisUrl(url: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !['redis:', 'rediss:'].includes(parsed.protocol)) {
    throw invalidParameterError('--redis', 'a redis:// or rediss:// URL', url);
  }
  return url;
}

/**
 * A Redis connection. Workers retry forever (a Redis restart must not stop
 * them: BullMQ needs `maxRetriesPerRequest: null`); commands like `queue add`
 * give up after a few seconds with one clear line.
 */
export async function connectRedis(url: string, role: 'worker' | 'client'): Promise<Redis> {
  checkRedisUrl(url);
  const redis =
    role === 'worker'
      ? new Redis(url, { maxRetriesPerRequest: null, retryStrategy: (times) => Math.min(times * 200, 2000) })
      : new Redis(url, { maxRetriesPerRequest: 2, connectTimeout: 5000, retryStrategy: (times) => (times > 2 ? null : 250), lazyConnect: true });
  // Connection errors surface through the commands that fail; without a listener ioredis prints each retry.
  let lastError: Error | undefined;
  redis.on('error', (error: Error) => {
    lastError = error;
  });
  if (role === 'client') {
    try {
      await redis.connect();
      await redis.ping();
    } catch (error) {
      redis.disconnect();
      const reason = (lastError ?? (error as Error)).message.split('\n')[0];
      throw new PosterscopeError('QUEUE_UNAVAILABLE', `cannot reach Redis at ${redactUrl(url)}: ${reason}`, { subject: '--redis', cause: error });
    }
  }
  return redis;
}

/** A Redis URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
