/** Queue tests' plumbing: worker processes of the built CLI, and waiting on BullMQ job states. */
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { type JobKind, QUEUE_PREFIX, kindQueueName } from '../../src/queue/jobs.js';
import { CLI, ROOT } from './cli.js';
import { MODELS } from './shared.js';

export interface WorkerProcess {
  child: ChildProcess;
  log: () => string;
  exited: Promise<number | null>;
}

/** `posterscope worker` as a child process, reading the real backbone from ../shared/models. */
export function spawnWorker(args: string[], env: { cache: string }): WorkerProcess {
  const child = spawn(process.execPath, [CLI, 'worker', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', POSTERSCOPE_MIRROR: MODELS, POSTERSCOPE_CACHE: env.cache, POSTERSCOPE_OFFLINE: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr!.on('data', (chunk) => (log += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, log: () => log, exited };
}

/** The BullMQ queue `queue add --job kind` fills. */
export function kindQueue(url: string, kind: JobKind, name = 'posters'): Queue {
  return new Queue(kindQueueName(name, kind), { connection: { host: new URL(url).hostname, port: Number(new URL(url).port), maxRetriesPerRequest: null }, prefix: QUEUE_PREFIX });
}

/** Polls `check` until it returns a value (hang protection only: `limitMs` is far above any expected time). */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, limitMs = 240_000): Promise<T> {
  const until = Date.now() + limitMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`);
    await sleep(100);
  }
}
