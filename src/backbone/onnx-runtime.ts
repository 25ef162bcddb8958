/**
 * The main thread's handle on ONNX Runtime. `InferenceRunner` sends float32
 * batches to the process's inference workers (`onnx-worker.ts`, the only
 * module that imports `onnxruntime-node`) and gets feature batches back.
 * Input batches live in shared memory (`sharedBatch`): the worker reads them
 * in place, nothing is copied or transferred. A plain buffer is transferred
 * and comes back with the result.
 *
 * A model is loaded into `workers` worker threads, each session running
 * `threads` intra-op threads. On small machines several single-threaded
 * sessions beat one multi-threaded session: intra-op parallelism costs about
 * 20 % more CPU per poster (measured, see bench:embed --profile), and with
 * one batch per worker in flight the cores never wait on each other.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { PosterscopeError } from '../errors.js';
import { prefault } from '../native.js';
import type { SharedInput, TensorFeed, WorkerReply, WorkerRequest } from './onnx-worker.js';

export type { TensorFeed } from './onnx-worker.js';

export interface RunnerOptions {
  /** The input `run` feeds (image models: one float32 tensor). */
  inputName: string;
  /** Further inputs the model must have, fed by name through `runFeeds` (text models: token ids, attention mask, ...). */
  extraInputNames?: readonly string[];
  outputName: string;
  /** Intra-op threads per worker. Default 1. */
  threads?: number;
  /** Inference worker threads holding the model. Default: one per available core. */
  workers?: number;
}

export interface RunResult {
  /** [N, dim] features, row-major. */
  data: Float32Array;
  dims: readonly number[];
  /** The input buffer, handed back for reuse. */
  input: Float32Array;
}

/** CPU time of one worker, for profiles: ns spent inside ONNX Runtime, and ns of the whole thread. */
export interface WorkerCpu {
  tid: number;
  runNs: number;
  threadNs: number;
  runs: number;
  /** Shared batches this worker holds for its sessions (dropped ones are forgotten). */
  sharedBatches: number;
}

export interface InferenceRunner {
  /** Worker threads this model is loaded in: the most batches worth keeping in flight. */
  readonly workers: number;
  /**
   * Runs one batch; `shape` is the input shape, e.g. [16, 3, 224, 224].
   * `input` is transferred to a worker: use the one in the result afterwards.
   */
  run(input: Float32Array, shape: readonly number[]): Promise<RunResult>;
  /**
   * Runs one batch given as several named tensors (float32 or int64, e.g. a
   * text model's input_ids and attention_mask); returns the output tensor.
   * The feeds' buffers are transferred to a worker and not handed back.
   */
  runFeeds(feeds: readonly TensorFeed[]): Promise<{ data: Float32Array; dims: readonly number[] }>;
  release(): Promise<void>;
}

/**
 * A float32 batch buffer in memory shared with the inference workers. Sent
 * to `run`, it is read in place: no copy, no transfer, and no new buffer per
 * batch. (A transferred buffer comes back as a new ArrayBuffer each time,
 * and V8 counted every one as fresh external memory: one full garbage
 * collection per batch, ~1.5 core-ms per poster on its helper threads.)
 */
export function sharedBatch(length: number): Float32Array {
  const batch = new Float32Array(new SharedArrayBuffer(length * Float32Array.BYTES_PER_ELEMENT));
  // Its pages are faulted in on a pool thread, not by the first crops written into it.
  prefault(batch)?.catch(() => undefined);
  return batch;
}

/** Defaults for a machine: one single-threaded session per core. */
export function defaultInferenceLayout(): { workers: number; threads: number } {
  return { workers: Math.max(1, availableParallelism()), threads: 1 };
}

// Run from TypeScript sources (tests, benchmarks under tsx), the worker is .ts
// too and needs tsx's loader, which worker threads do not inherit.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './onnx-worker.ts' : './onnx-worker.js', import.meta.url);

type Waiter = { resolve: (reply: WorkerReply) => void; reject: (error: Error) => void };

interface InferenceThread {
  worker: Worker;
  pending: Map<number, Waiter>;
  /** Runs sent and not yet answered. */
  busy: number;
  dead: boolean;
}

/** The process's inference threads, started on demand and unref'd while idle so they never keep the process alive. */
const pool: InferenceThread[] = [];
let nextRequestId = 0;

function startThread(): InferenceThread {
  const worker = FROM_SOURCE
    ? new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_URL.href)}); })`, { eval: true })
    : new Worker(WORKER_URL);
  const thread: InferenceThread = { worker, pending: new Map(), busy: 0, dead: false };
  const failAll = (error: Error) => {
    thread.dead = true;
    for (const waiter of thread.pending.values()) waiter.reject(error);
    thread.pending.clear();
    const at = pool.indexOf(thread);
    if (at >= 0) pool.splice(at, 1);
  };
  worker.on('message', (reply: WorkerReply) => {
    const waiter = thread.pending.get(reply.id);
    thread.pending.delete(reply.id);
    if (thread.pending.size === 0) worker.unref();
    waiter?.resolve(reply);
  });
  worker.on('error', (error) => failAll(new PosterscopeError('MODEL_INVALID', `inference worker crashed: ${error.message}`, { cause: error })));
  worker.on('exit', (code) => failAll(new PosterscopeError('MODEL_INVALID', `inference worker exited (code ${code})`)));
  worker.unref();
  pool.push(thread);
  return thread;
}

/** The first `count` inference threads, starting any that are missing. */
function threads(count: number): InferenceThread[] {
  while (pool.length < count) startThread();
  return pool.slice(0, count);
}

function request(thread: InferenceThread, message: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
  if (thread.dead) return Promise.reject(new PosterscopeError('MODEL_INVALID', 'inference worker is gone'));
  // Keep the process alive while a request is in flight, not while idle.
  thread.worker.ref();
  return new Promise((resolve, reject) => {
    thread.pending.set(message.id, { resolve, reject });
    thread.worker.postMessage(message, transfer);
  });
}

/**
 * CPU used by every inference thread since it started (for `bench:embed --profile`).
 *
 * @example
 *   (await inferenceCpu())[0] // -> { tid: 21205, runNs: 4_210_000_000, threadNs: 4_380_000_000, runs: 263 }
 */
export async function inferenceCpu(): Promise<WorkerCpu[]> {
  const replies = await Promise.all(pool.map((thread) => request(thread, { type: 'cpu', id: nextRequestId++ })));
  return replies.flatMap((reply) => (reply.type === 'cpu' ? [reply.cpu] : []));
}

export async function createRunner(model: Uint8Array, options: RunnerOptions): Promise<InferenceRunner> {
  const layout = defaultInferenceLayout();
  const count = Math.max(1, options.workers || layout.workers);
  const intraOp = Math.max(1, options.threads || layout.threads);
  const replicas = threads(count);
  const sessions = new Map<InferenceThread, number>();
  const release = async () => {
    const loaded = [...sessions];
    sessions.clear();
    await Promise.all(loaded.map(([thread, session]) => request(thread, { type: 'release', id: nextRequestId++, session }).catch(() => undefined)));
  };
  for (const thread of replicas) {
    const session = nextRequestId++;
    const loaded = await request(thread, {
      type: 'load',
      id: session,
      model,
      inputName: options.inputName,
      outputName: options.outputName,
      threads: intraOp,
    });
    if (loaded.type === 'error') {
      await release();
      throw new PosterscopeError('MODEL_INVALID', `ONNX Runtime could not load the model: ${loaded.message}`);
    }
    if (loaded.type !== 'loaded') {
      await release();
      throw new PosterscopeError('MODEL_INVALID', 'inference worker gave an unexpected reply');
    }
    sessions.set(thread, session);
    for (const [kind, names, name] of [
      ['input', loaded.inputNames, options.inputName],
      ...(options.extraInputNames ?? []).map((extra) => ['input', loaded.inputNames, extra] as const),
      ['output', loaded.outputNames, options.outputName],
    ] as const) {
      if (!names.includes(name)) {
        await release();
        throw new PosterscopeError('MODEL_INVALID', `ONNX model has no ${kind} "${name}" (it has ${names.join(', ')})`);
      }
    }
  }
  // Shared batches by id, and the ids each worker's session already holds.
  const sharedIds = new WeakMap<SharedArrayBuffer, number>();
  let nextSharedId = 0;
  const sharedWith = new Map<InferenceThread, Set<number>>(replicas.map((thread) => [thread, new Set()]));
  // A batch the caller dropped is dropped by the workers too.
  const forget = new FinalizationRegistry<number>((shared) => {
    for (const [thread, known] of sharedWith) {
      const session = sessions.get(thread);
      if (!known.delete(shared) || session === undefined || thread.dead) continue;
      thread.worker.postMessage({ type: 'forget', id: nextRequestId++, session, shared } satisfies WorkerRequest);
    }
  });
  // The least busy replica; a worker runs one batch at a time, so this spreads batches over the cores.
  const leastBusy = (): InferenceThread => {
    if (sessions.size === 0) throw new PosterscopeError('INVALID_ARGUMENT', 'the model was released');
    let thread: InferenceThread | undefined;
    for (const candidate of sessions.keys()) {
      if (!candidate.dead && (!thread || candidate.busy < thread.busy)) thread = candidate;
    }
    if (!thread) throw new PosterscopeError('MODEL_INVALID', 'every inference worker is gone');
    return thread;
  };
  return {
    workers: replicas.length,
    async run(input, shape) {
      const thread = leastBusy();
      thread.busy++;
      try {
        // A batch in shared memory is sent once per worker and then named by
        // its id; any other is transferred and comes back with the result.
        const buffer = input.buffer;
        let sent: Float32Array | SharedInput = input;
        if (buffer instanceof SharedArrayBuffer) {
          if (input.byteOffset !== 0) throw new PosterscopeError('INVALID_ARGUMENT', 'a shared batch must start at the start of its buffer');
          let id = sharedIds.get(buffer);
          if (id === undefined) {
            sharedIds.set(buffer, (id = nextSharedId++));
            forget.register(buffer, id);
          }
          const known = sharedWith.get(thread)!;
          sent = { shared: id, length: input.length, ...(known.has(id) ? {} : { buffer }) };
          known.add(id);
        }
        const transfer = buffer instanceof SharedArrayBuffer ? [] : [buffer];
        const reply = await request(thread, { type: 'run', id: nextRequestId++, session: sessions.get(thread)!, input: sent, shape: [...shape] }, transfer);
        if (reply.type === 'result') return { data: reply.data, dims: reply.dims, input: reply.input ?? input };
        throw new PosterscopeError('MODEL_INVALID', `inference failed: ${reply.type === 'error' ? reply.message : 'unexpected reply'}`);
      } finally {
        thread.busy--;
      }
    },
    async runFeeds(feeds) {
      const thread = leastBusy();
      thread.busy++;
      try {
        const message: WorkerRequest = { type: 'run-feeds', id: nextRequestId++, session: sessions.get(thread)!, feeds: feeds.map((f) => ({ ...f, dims: [...f.dims] })) };
        const reply = await request(thread, message, [...new Set(feeds.map((f) => f.data.buffer as ArrayBuffer))]);
        if (reply.type === 'feeds-result') return { data: reply.data, dims: reply.dims };
        throw new PosterscopeError('MODEL_INVALID', `inference failed: ${reply.type === 'error' ? reply.message : 'unexpected reply'}`);
      } finally {
        thread.busy--;
      }
    },
    release,
  };
}
