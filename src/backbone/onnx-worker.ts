/**
 * The one module that imports `onnxruntime-node`. It runs in a worker thread
 * so that a backbone pass never blocks the main thread: while ONNX Runtime
 * works on one batch, sharp decodes the next posters on libuv's thread pool
 * and the main thread crops and normalises them.
 *
 * One such worker serves every session of the process (ONNX Runtime's native
 * addon loads into one thread only). Each request carries an id; buffers are
 * transferred both ways, never copied.
 */
import { parentPort } from 'node:worker_threads';
import ort from 'onnxruntime-node';

export type WorkerRequest =
  | { type: 'load'; id: number; model: Uint8Array; inputName: string; outputName: string; threads: number }
  | { type: 'run'; id: number; session: number; input: Float32Array; shape: number[] }
  | { type: 'release'; id: number; session: number };

export type WorkerReply =
  | { type: 'loaded'; id: number; inputNames: readonly string[]; outputNames: readonly string[] }
  | { type: 'result'; id: number; data: Float32Array; dims: readonly number[]; input: Float32Array }
  | { type: 'released'; id: number }
  | { type: 'error'; id: number; message: string; input?: Float32Array };

const port = parentPort!;
const sessions = new Map<number, { session: ort.InferenceSession; inputName: string; outputName: string }>();

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
      sessions.set(request.id, { session, inputName: request.inputName, outputName: request.outputName });
      port.postMessage({ type: 'loaded', id: request.id, inputNames: session.inputNames, outputNames: session.outputNames } satisfies WorkerReply);
      return;
    }
    case 'run': {
      const entry = sessions.get(request.session);
      if (!entry) throw new Error('the session was released');
      const tensor = new ort.Tensor('float32', request.input, request.shape);
      // No fetch list: onnxruntime-node 1.23 mislabels outputs when asked for a subset.
      const result = await entry.session.run({ [entry.inputName]: tensor });
      const out = result[entry.outputName];
      if (!out || out.type !== 'float32') throw new Error(`output "${entry.outputName}" is not a float32 tensor`);
      const data = out.data as Float32Array;
      const reply: WorkerReply = { type: 'result', id: request.id, data, dims: out.dims, input: request.input };
      port.postMessage(reply, [data.buffer as ArrayBuffer, request.input.buffer as ArrayBuffer]);
      return;
    }
    case 'release': {
      await sessions.get(request.session)?.session.release();
      sessions.delete(request.session);
      port.postMessage({ type: 'released', id: request.id } satisfies WorkerReply);
      return;
    }
  }
}

port.on('message', (request: WorkerRequest) => {
  handle(request).catch((error: unknown) => {
    const input = request.type === 'run' ? request.input : undefined;
    const reply: WorkerReply = { type: 'error', id: request.id, message: firstLine(error), ...(input ? { input } : {}) };
    port.postMessage(reply, input && input.buffer.byteLength > 0 ? [input.buffer as ArrayBuffer] : []);
  });
});
