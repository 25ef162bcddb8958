/**
 * The one module that imports `onnxruntime-node`. Everything else sees
 * `InferenceRunner`: a float32 batch in, a float32 feature batch out.
 */
import { availableParallelism } from 'node:os';
import ort from 'onnxruntime-node';
import { PosterscopeError } from '../errors.js';

export interface RunnerOptions {
  inputName: string;
  outputName: string;
  /** Intra-op threads. Default: 0, one per available core. */
  threads?: number;
}

export interface InferenceRunner {
  /** Runs one batch; `shape` is the input shape, e.g. [16, 3, 224, 224]. Returns [N, dim] features. */
  run(input: Float32Array, shape: readonly number[]): Promise<{ data: Float32Array; dims: readonly number[] }>;
  release(): Promise<void>;
}

export async function createRunner(model: Uint8Array, options: RunnerOptions): Promise<InferenceRunner> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(model, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      // ONNX Runtime's own default uses one thread in some containers; ask for every core.
      intraOpNumThreads: options.threads || availableParallelism(),
      interOpNumThreads: 1,
      // Spinning workers burn the CPU that image decoding needs on small machines.
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
  } catch (cause) {
    throw new PosterscopeError('MODEL_INVALID', `ONNX Runtime could not load the model: ${firstLine(cause)}`, { cause });
  }
  for (const [kind, names, name] of [
    ['input', session.inputNames, options.inputName],
    ['output', session.outputNames, options.outputName],
  ] as const) {
    if (!names.includes(name)) {
      await session.release();
      throw new PosterscopeError('MODEL_INVALID', `ONNX model has no ${kind} "${name}" (it has ${names.join(', ')})`);
    }
  }
  return {
    async run(input, shape) {
      const tensor = new ort.Tensor('float32', input, shape as number[]);
      // No fetch list: onnxruntime-node 1.23 mislabels outputs when asked for a subset.
      const result = await session.run({ [options.inputName]: tensor });
      const out = result[options.outputName];
      if (!out || out.type !== 'float32') {
        throw new PosterscopeError('MODEL_INVALID', `output "${options.outputName}" is not a float32 tensor`);
      }
      return { data: out.data as Float32Array, dims: out.dims };
    },
    release: () => session.release(),
  };
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split('\n')[0] ?? '';
}
