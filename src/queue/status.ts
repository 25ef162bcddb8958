/**
 * `queue status`: how far a queue is, from BullMQ's counts, posterscope's
 * small stats hash and the workers' heartbeat keys.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type ChunkJobData, DEFAULT_QUEUE, JOB_KINDS, QUEUE_PREFIX, connectRedis, kindQueueName, queueKeys } from './jobs.js';

export interface WorkerBeat {
  id: string;
  host: string;
  pid: number;
  kinds: string[];
  active: string[];
  /** Chunks this worker finished since it started. */
  done: number;
  /** Milliseconds since its last heartbeat. */
  age: number;
}

export interface QueueStatus {
  queue: string;
  /** Chunk jobs by state, over all job kinds. */
  chunks: { waiting: number; active: number; delayed: number; completed: number; failed: number };
  posters: { queued: number; done: number; failed: number; remaining: number };
  /** Posters per second from the first chunk started to the last finished; 0 before any finished. */
  rate: number;
  /** Seconds left at that rate, or undefined when unknown. */
  etaSeconds: number | undefined;
  workers: WorkerBeat[];
  /** Failed chunks grouped by reason, most frequent first. */
  failedChunks: Array<{ reason: string; chunks: number; example: string }>;
  /** Failed posters (rows of finished chunks) by error code. */
  posterErrors: Record<string, number>;
}

export interface QueueStatusOptions {
  redis: string;
  queue?: string;
}

/**
 * @example
 *   await queueStatus({ redis: 'redis://127.0.0.1:6379' })
 *   // -> { queue: 'posters', chunks: { waiting: 3, active: 2, delayed: 0, completed: 14, failed: 1 },
 *   //      posters: { queued: 1280, done: 890, failed: 2, remaining: 388 }, rate: 41.5, etaSeconds: 9.3, workers: [...], ... }
 */
export async function queueStatus(options: QueueStatusOptions): Promise<QueueStatus> {
  const redis = await connectRedis(options.redis, 'client');
  try {
    return await readStatus(redis, options.queue ?? DEFAULT_QUEUE);
  } finally {
    redis.disconnect();
  }
}

/** The status over an open connection (`--watch` polls it). */
export async function readStatus(redis: Redis, name: string): Promise<QueueStatus> {
  const keys = queueKeys(name);
  const chunks = { waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0 };
  const reasons = new Map<string, { chunks: number; example: string }>();
  for (const kind of JOB_KINDS) {
    const queue = new Queue<ChunkJobData>(kindQueueName(name, kind), { connection: redis, prefix: QUEUE_PREFIX });
    try {
      const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized', 'waiting-children');
      chunks.waiting += (counts.waiting ?? 0) + (counts.prioritized ?? 0);
      chunks.active += counts.active ?? 0;
      chunks.delayed += counts.delayed ?? 0;
      chunks.completed += counts.completed ?? 0;
      chunks.failed += counts.failed ?? 0;
      for (let start = 0; start < (counts.failed ?? 0); start += 500) {
        for (const job of await queue.getFailed(start, start + 499)) {
          // Worker ids vary; group "refused by worker X: ..." by what follows.
          const reason = (job.failedReason ?? 'unknown').replace(/^refused by worker \S+:/, 'refused by a worker:');
          const group = reasons.get(reason) ?? { chunks: 0, example: job.id ?? '' };
          group.chunks++;
          reasons.set(reason, group);
        }
      }
    } finally {
      await queue.close();
    }
  }
  const stats = await redis.hgetall(keys.stats);
  const num = (field: string) => Number(stats[field] ?? 0);
  const queued = num('posters');
  const done = num('done');
  const failed = num('failed');
  const elapsed = (num('lastFinish') - num('firstStart')) / 1000;
  const rate = done + failed > 0 && elapsed > 0 ? (done + failed) / elapsed : 0;
  const remaining = Math.max(0, queued - done - failed);
  const workers: WorkerBeat[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', keys.workerPattern, 'COUNT', 200);
    cursor = next;
    for (const key of found) {
      const text = await redis.get(key);
      if (!text) continue;
      try {
        const beat = JSON.parse(text) as Omit<WorkerBeat, 'age'> & { at: number };
        workers.push({ id: beat.id, host: beat.host, pid: beat.pid, kinds: beat.kinds, active: beat.active, done: beat.done, age: Date.now() - beat.at });
      } catch {
        /* a key someone else wrote: not a worker of ours */
      }
    }
  } while (cursor !== '0');
  workers.sort((a, b) => a.id.localeCompare(b.id));
  const errors = await redis.hgetall(keys.errors);
  return {
    queue: name,
    chunks,
    posters: { queued, done, failed, remaining },
    rate,
    etaSeconds: rate > 0 ? remaining / rate : undefined,
    workers,
    failedChunks: [...reasons].map(([reason, g]) => ({ reason, ...g })).sort((a, b) => b.chunks - a.chunks),
    posterErrors: Object.fromEntries(Object.entries(errors).map(([code, n]) => [code, Number(n)])),
  };
}

/** The status as lines for a terminal or a log. */
export function formatStatus(status: QueueStatus): string {
  const { chunks, posters } = status;
  const eta = status.etaSeconds === undefined ? 'unknown' : formatDuration(status.etaSeconds);
  const lines = [
    `queue ${status.queue}: chunks ${chunks.waiting} waiting, ${chunks.active} active, ${chunks.delayed} delayed (backoff), ${chunks.completed} done, ${chunks.failed} failed`,
    `posters: ${posters.done} done, ${posters.failed} failed, ${posters.remaining} to go of ${posters.queued}; ${status.rate.toFixed(1)} posters/s, ETA ${eta}`,
    `workers alive: ${status.workers.length}${status.workers.map((w) => `\n  ${w.id} (${w.kinds.join(',')}): ${w.active.length ? `working on ${w.active.join(', ')}` : 'idle'}, ${w.done} chunks done, seen ${(w.age / 1000).toFixed(0)} s ago`).join('')}`,
  ];
  if (status.failedChunks.length > 0) {
    lines.push('failed chunks:');
    for (const f of status.failedChunks) lines.push(`  ${f.chunks} x ${f.reason} (e.g. ${f.example})`);
  }
  const codes = Object.entries(status.posterErrors).sort((a, b) => b[1] - a[1]);
  if (codes.length > 0) lines.push(`failed posters: ${codes.map(([code, n]) => `${n} ${code}`).join(', ')}`);
  return `${lines.join('\n')}\n`;
}

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
