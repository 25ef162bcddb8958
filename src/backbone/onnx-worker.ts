/**
 * The one module that imports `onnxruntime-node`. It runs in worker threads
 * so that a backbone pass never blocks the main thread: while ONNX Runtime
 * works on one batch, sharp decodes the next posters on libuv's thread pool
 * and the main thread crops and normalises them.
 *
 * Each worker holds its own sessions (onnx-runtime.ts starts one worker per
 * core by default and loads a model into several of them). Each request
 * carries an id; batches are shared (or transferred both ways), never copied
 * by the messaging.
 */
import { readFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { plainView, threadCpuNs } from '../native.js';

export type WorkerRequest =
  | { type: 'load'; id: number; model: Uint8Array; inputName: string; outputName: string; threads: number }
  | { type: 'run'; id: number; session: number; input: Float32Array | SharedInput; shape: number[] }
  | { type: 'run-feeds'; id: number; session: number; feeds: TensorFeed[] }
  | { type: 'release'; id: number; session: number }
  /** The main thread let go of a shared batch: drop it too (no reply). */
  | { type: 'forget'; id: number; session: number; shared: number }
  | { type: 'cpu'; id: number };

/**
 * A batch in memory shared with this worker, named by an id: the buffer is
 * sent with the first run that uses it and kept by the session, so later
 * runs send only the id (each message carrying the buffer would wrap it in a
 * new ArrayBuffer on arrival, which V8 counts as fresh external memory).
 */
export interface SharedInput {
  shared: number;
  buffer?: SharedArrayBuffer;
  length: number;
}

/** One named input of a model with several (token ids, attention mask, ...): float32 or int64. */
export interface TensorFeed {
  name: string;
  data: Float32Array | BigInt64Array;
  dims: number[];
}

export type WorkerReply =
  | { type: 'loaded'; id: number; inputNames: readonly string[]; outputNames: readonly string[] }
  | { type: 'result'; id: number; data: Float32Array; dims: readonly number[]; input?: Float32Array }
  | { type: 'feeds-result'; id: number; data: Float32Array; dims: readonly number[] }
  | { type: 'released'; id: number }
  | { type: 'cpu'; id: number; cpu: { tid: number; runNs: number; threadNs: number; runs: number; sharedBatches: number } }
  | { type: 'error'; id: number; message: string; input?: Float32Array };

const port = parentPort!;
const sessions = new Map<number, { session: ort.InferenceSession; inputName: string; outputName: string; shared: Map<number, Float32Array> }>();

function threadId(): number {
  try {
    return Number(readFileSync('/proc/thread-self/stat', 'latin1').split(' ')[0]);
  } catch {
    return 0;
  }
}
/**
 * CPU inside runs: counted while at least one run is in progress, so runs that
 * overlap on this thread (a run waits for setImmediate while another computes)
 * are not counted twice.
 */
const profile = { tid: 0, runNs: 0, runs: 0, enabled: false, active: 0, since: 0 };

function runStarted(): void {
  if (profile.enabled && profile.active++ === 0) profile.since = threadCpuNs();
}

function runEnded(): void {
  if (!profile.enabled || profile.active === 0) return;
  profile.runs++;
  if (--profile.active === 0) profile.runNs += threadCpuNs() - profile.since;
}

/**
 * This thread's copies of shared batches (ONNX Runtime reads only plain
 * ArrayBuffers), kept for reuse, each as long as its whole batch: freeing
 * and allocating 9.6 MB copies per run (or one per length of a short last
 * batch) left the allocator's arenas ever larger (bench:serve RSS).
 */
const spare: Float32Array[] = [];

/**
 * The batch as ONNX Runtime can take it: a plain buffer (or a plain view of
 * shared memory) as it is; a shared one, when the C helper that makes plain
 * views was not built, copied into a reused buffer of this thread (~1 ms for
 * 9.6 MB, far less than the garbage collection a fresh buffer per batch
 * costs). Runs may overlap: each holds its own copy until `done` gives it back.
 */
function ortReadable(input: Float32Array): { data: Float32Array; done: () => void } {
  if (!(input.buffer instanceof SharedArrayBuffer)) return { data: input, done: () => undefined };
  // Copies are as long as the whole shared batch, whatever part of it a run
  // uses (the last batch of a request is short), so one size serves all runs.
  const capacity = input.buffer.byteLength / Float32Array.BYTES_PER_ELEMENT;
  const at = spare.findIndex((buffer) => buffer.length === capacity);
  const copy = at >= 0 ? spare.splice(at, 1)[0]! : new Float32Array(capacity);
  const data = copy.length === input.length ? copy : copy.subarray(0, input.length);
  data.set(input);
  return {
    data,
    done: () => {
      // Steady work overlaps one or two runs; a burst past four lets its extra copies go.
      if (spare.unshift(copy) > 4) spare.pop();
    },
  };
}

/** The batch a run names: a plain buffer as sent, or a shared one by id (kept the first time it comes). */
function resolveInput(shared: Map<number, Float32Array>, input: Float32Array | SharedInput): Float32Array {
  if (input instanceof Float32Array) return input;
  let batch = shared.get(input.shared);
  if (input.buffer) {
    // Seen for the first time: kept as a plain view of the shared bytes when the C helper is there, so no run copies it.
    const whole = new Float32Array(input.buffer);
    batch = plainView(whole) ?? whole;
    shared.set(input.shared, batch);
  }
  if (!batch) throw new Error(`shared batch ${input.shared} was never sent`);
  return batch.length === input.length ? batch : batch.subarray(0, input.length);
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split('\n')[0] ?? '';
}

async function handle(request: WorkerRequest): Promise<void> {
  switch (request.type) {
    case 'load': {
      const session = await ort.InferenceSession.create(request.model, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        executionMode: 'sequential',
        intraOpNumThreads: request.threads,
        interOpNumThreads: 1,
        // Spinning workers burn the CPU that image decoding needs on small machines.
        extra: { session: { intra_op: { allow_spinning: '0' } } },
      });
      sessions.set(request.id, { session, inputName: request.inputName, outputName: request.outputName, shared: new Map() });
      port.postMessage({ type: 'loaded', id: request.id, inputNames: session.inputNames, outputNames: session.outputNames } satisfies WorkerReply);
      return;
    }
    case 'run': {
      const entry = sessions.get(request.session);
      if (!entry) throw new Error('the session was released');
      const readable = ortReadable(resolveInput(entry.shared, request.input));
      const tensor = new ort.Tensor('float32', readable.data, request.shape);
      let result: ort.InferenceSession.OnnxValueMapType;
      runStarted();
      try {
        // No fetch list: onnxruntime-node 1.23 mislabels outputs when asked for a subset.
        result = await entry.session.run({ [entry.inputName]: tensor });
      } finally {
        runEnded();
        readable.done();
      }
      const out = result[entry.outputName];
      if (!out || out.type !== 'float32') throw new Error(`output "${entry.outputName}" is not a float32 tensor`);
      const data = out.data as Float32Array;
      // A shared batch stays where it is; a plain one is handed back.
      const input = request.input instanceof Float32Array ? request.input : undefined;
      const reply: WorkerReply = { type: 'result', id: request.id, data, dims: out.dims, ...(input ? { input } : {}) };
      port.postMessage(reply, [data.buffer as ArrayBuffer, ...(input ? [input.buffer as ArrayBuffer] : [])]);
      return;
    }
    case 'run-feeds': {
      const entry = sessions.get(request.session);
      if (!entry) throw new Error('the session was released');
      const feeds: Record<string, ort.Tensor> = {};
      for (const feed of request.feeds) {
        feeds[feed.name] = new ort.Tensor(feed.data instanceof BigInt64Array ? 'int64' : 'float32', feed.data, feed.dims);
      }
      const result = await entry.session.run(feeds);
      const out = result[entry.outputName];
      if (!out || out.type !== 'float32') throw new Error(`output "${entry.outputName}" is not a float32 tensor`);
      const data = out.data as Float32Array;
      port.postMessage({ type: 'feeds-result', id: request.id, data, dims: out.dims } satisfies WorkerReply, [data.buffer as ArrayBuffer]);
      return;
    }
    case 'forget': {
      sessions.get(request.session)?.shared.delete(request.shared);
      return;
    }
    case 'release': {
      await sessions.get(request.session)?.session.release();
      sessions.delete(request.session);
      port.postMessage({ type: 'released', id: request.id } satisfies WorkerReply);
      return;
    }
    case 'cpu': {
      // The first call switches accounting on; later calls report what was counted since.
      if (!profile.enabled) Object.assign(profile, { enabled: true, tid: threadId() });
      let sharedBatches = 0;
      for (const entry of sessions.values()) sharedBatches += entry.shared.size;
      const cpu = { tid: profile.tid, runNs: profile.runNs, threadNs: threadCpuNs(), runs: profile.runs, sharedBatches };
      port.postMessage({ type: 'cpu', id: request.id, cpu } satisfies WorkerReply);
      return;
    }
  }
}

port.on('message', (request: WorkerRequest) => {
  handle(request).catch((error: unknown) => {
    const input = request.type === 'run' && request.input instanceof Float32Array ? request.input : undefined;
    const reply: WorkerReply = { type: 'error', id: request.id, message: firstLine(error), ...(input ? { input } : {}) };
    port.postMessage(reply, input && input.buffer.byteLength > 0 ? [input.buffer as ArrayBuffer] : []);
  });
});
