/**
 * A loaded backbone: a frozen pretrained image model that turns batches of
 * input-size crops into feature vectors. Which model, where its file comes
 * from and how it is fed are all read from its `BackboneSpec` row.
 */
import { readModelFile, type ResolveOptions } from '../models/resolve.js';
import { type Crop, type ViewInput, normalizationTables, writeCrop } from '../image/views.js';
import { createRunner, type InferenceRunner, sharedBatch } from './onnx-runtime.js';
import { FEATURE_OUTPUT, prepareBackboneGraph } from './onnx-graph.js';
import { type BackboneSpec, getBackboneSpec } from './registry.js';
import { PosterscopeError } from '../errors.js';

export interface LoadBackboneOptions extends ResolveOptions {
  /** Intra-op threads per inference worker. Default 1. */
  threads?: number;
  /** Inference worker threads holding the model (batches run in parallel). Default: one per core. */
  workers?: number;
}

export interface Backbone {
  readonly spec: BackboneSpec;
  /** sha256 of the model file actually loaded. */
  readonly sha256: string;
  /** Identifies features from this exact model: `<id>-<first 16 hex of sha256>`. */
  readonly fingerprint: string;
  readonly dim: number;
  /** Input geometry and resize policy, as views need it. */
  readonly viewInput: ViewInput;
  /** Values in one input-size crop (height x width x 3). */
  readonly cropSize: number;
  /** Batches worth keeping in flight: one per inference worker. */
  readonly parallelism: number;
  /** A batch buffer for `crops` crops, shared with the inference workers (what `run` takes best). */
  createBatch(crops: number): Float32Array;
  /** Normalises `crops` into `batch` (which must hold at least crops.length crops). */
  pack(crops: readonly Crop[], batch: Float32Array): void;
  /**
   * Features for the first `count` crops in `batch`, a [count, dim] row-major
   * array. `batch` is handed to the inference worker; reuse the one returned.
   */
  run(batch: Float32Array, count: number): Promise<{ features: Float32Array; batch: Float32Array }>;
  release(): Promise<void>;
}

/**
 * Resolves, checks and loads a backbone.
 *
 * @example
 *   const backbone = await loadBackbone('mobilenetv2', { mirrors: ['/media/models'] });
 *   backbone.dim // -> 1280
 */
export async function loadBackbone(
  idOrSpec: string | BackboneSpec,
  options: LoadBackboneOptions = {},
): Promise<Backbone> {
  const spec = typeof idOrSpec === 'string' ? getBackboneSpec(idOrSpec) : idOrSpec;
  // The bytes loaded are the bytes hashed: the fingerprint vectors are cached under is the model's own.
  const { file, bytes } = await readModelFile(spec.file, options);
  let model: Uint8Array;
  try {
    model = prepareBackboneGraph(bytes, spec);
  } catch (error) {
    if (error instanceof PosterscopeError) {
      throw new PosterscopeError(error.code, `${file.path}: ${error.message}`, { subject: file.path, cause: error });
    }
    throw error;
  }
  const runner: InferenceRunner = await createRunner(model, {
    inputName: spec.input.name,
    outputName: FEATURE_OUTPUT,
    ...(options.threads === undefined ? {} : { threads: options.threads }),
    ...(options.workers === undefined ? {} : { workers: options.workers }),
  });
  const { height, width, layout } = spec.input;
  const cropSize = height * width * 3;
  const tables = normalizationTables(spec.normalization);

  return {
    spec,
    sha256: file.sha256,
    fingerprint: `${spec.id}-${file.sha256.slice(0, 16)}`,
    dim: spec.feature.dim,
    viewInput: { height, width, policy: spec.resize.policy, kernel: spec.resize.kernel },
    cropSize,
    parallelism: runner.workers,
    createBatch: (crops) => sharedBatch(crops * cropSize),
    pack(crops, batch) {
      for (let i = 0; i < crops.length; i++) {
        const crop = crops[i]!;
        if (crop.length !== cropSize) {
          throw new PosterscopeError('INVALID_ARGUMENT', `crop ${i} has ${crop.length} bytes, expected ${cropSize}`);
        }
        writeCrop(crop, tables, layout, batch, i);
      }
    },
    async run(batch, count) {
      const input = batch.length === count * cropSize ? batch : batch.subarray(0, count * cropSize);
      const out = await runner.run(input, layout === 'NCHW' ? [count, 3, height, width] : [count, height, width, 3]);
      const returned = new Float32Array(out.input.buffer as ArrayBuffer);
      const dim = out.dims[out.dims.length - 1];
      if (out.dims[0] !== count || dim !== spec.feature.dim || out.data.length !== count * spec.feature.dim) {
        throw new PosterscopeError(
          'MODEL_INVALID',
          `${spec.id}: feature output has shape [${out.dims.join(', ')}], expected [${count}, ${spec.feature.dim}]`,
        );
      }
      return { features: out.data, batch: returned };
    },
    release: () => runner.release(),
  };
}
