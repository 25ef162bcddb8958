/**
 * The main thread's handle on ONNX Runtime. `InferenceRunner` sends float32
 * batches to the process's inference worker (`onnx-worker.ts`, the only
 * module that imports `onnxruntime-node`) and gets feature batches back.
 * Input buffers are transferred, not copied, and come back with the result.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { PosterscopeError } from '../errors.js';
import type { WorkerReply, WorkerRequest } from './onnx-worker.js';

export interface RunnerOptions {
  inputName: string;
  outputName: string;
  /** Intra-op threads. Default: 0, one per available core. */
  threads?: number;
}

export interface RunResult {
  /** [N, dim] features, row-major. */
  data: Float32Array;
  dims: readonly number[];
  /** The input buffer, handed back for reuse. */
  input: Float32Array;
}

export interface InferenceRunner {
  /**
   * Runs one batch; `shape` is the input shape, e.g. [16, 3, 224, 224].
   * `input` is transferred to the worker: use the one in the result afterwards.
   */
  run(input: Float32Array, shape: readonly number[]): Promise<RunResult>;
  release(): Promise<void>;
}

// Run from TypeScript sources (tests, benchmarks under tsx), the worker is .ts
// too and needs tsx's loader, which worker threads do not inherit.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './onnx-worker.ts' : './onnx-worker.js', import.meta.url);

type Waiter = { resolve: (reply: WorkerReply) => void; reject: (error: Error) => void };

/** The process's one inference thread, started on first use, idle-unref'd so it never keeps the process alive. */
let inference: { worker: Worker; pending: Map<number, Waiter>; nextId: number } | undefined;

function inferenceWorker() {
  if (inference) return inference;
  const worker = FROM_SOURCE
    ? new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_URL.href)}); })`, { eval: true })
    : new Worker(WORKER_URL);
  const state = { worker, pending: new Map<number, Waiter>(), nextId: 0 };
  const failAll = (error: Error) => {
    for (const waiter of state.pending.values()) waiter.reject(error);
    state.pending.clear();
    if (inference === state) inference = undefined;
  };
  worker.on('message', (reply: WorkerReply) => {
    const waiter = state.pending.get(reply.id);
    state.pending.delete(reply.id);
    if (state.pending.size === 0) worker.unref();
    waiter?.resolve(reply);
  });
  worker.on('error', (error) => failAll(new PosterscopeError('MODEL_INVALID', `inference worker crashed: ${error.message}`, { cause: error })));
  worker.on('exit', (code) => failAll(new PosterscopeError('MODEL_INVALID', `inference worker exited (code ${code})`)));
  worker.unref();
  inference = state;
  return state;
}

function request(message: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
  const state = inferenceWorker();
  // Keep the process alive while a request is in flight, not while idle.
  state.worker.ref();
  return new Promise((resolve, reject) => {
    state.pending.set(message.id, { resolve, reject });
    state.worker.postMessage(message, transfer);
  });
}

function nextId(): number {
  return inferenceWorker().nextId++;
}

export async function createRunner(model: Uint8Array, options: RunnerOptions): Promise<InferenceRunner> {
  const session = nextId();
  const loaded = await request({
    type: 'load',
    id: session,
    model,
    inputName: options.inputName,
    outputName: options.outputName,
    // ONNX Runtime's own default uses one thread in some containers; ask for every core.
    threads: options.threads || availableParallelism(),
  });
  if (loaded.type === 'error') throw new PosterscopeError('MODEL_INVALID', `ONNX Runtime could not load the model: ${loaded.message}`);
  if (loaded.type !== 'loaded') throw new PosterscopeError('MODEL_INVALID', 'inference worker gave an unexpected reply');
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    await request({ type: 'release', id: nextId(), session });
  };
  for (const [kind, names, name] of [
    ['input', loaded.inputNames, options.inputName],
    ['output', loaded.outputNames, options.outputName],
  ] as const) {
    if (!names.includes(name)) {
      await release();
      throw new PosterscopeError('MODEL_INVALID', `ONNX model has no ${kind} "${name}" (it has ${names.join(', ')})`);
    }
  }
  return {
    async run(input, shape) {
      if (released) throw new PosterscopeError('INVALID_ARGUMENT', 'the backbone was released');
      const reply = await request({ type: 'run', id: nextId(), session, input, shape: [...shape] }, [input.buffer as ArrayBuffer]);
      if (reply.type === 'result') return { data: reply.data, dims: reply.dims, input: reply.input };
      throw new PosterscopeError('MODEL_INVALID', `inference failed: ${reply.type === 'error' ? reply.message : 'unexpected reply'}`);
    },
    release,
  };
}
