/**
 * The model bundle, known in this one place: a directory with a versioned
 * JSON manifest, one binary file of float32 tensors and the data split. It
 * carries everything needed to predict (backbone row and checksum, views,
 * genres, per-input heads with their standardisation, thresholds) plus what
 * was measured (metrics, per-epoch history, training settings), and never
 * depends on code layout the way a pickle would.
 *
 *   bundle/manifest.json   format, backbone, views, genres, heads (tensor offsets), ...
 *   bundle/weights.bin     float32 little-endian tensors, offsets in the manifest
 *   bundle/split.json      train / validation / test poster ids and hashes (checksum in the manifest)
 *
 * `writeBundle` takes tensors as arrays and `readBundle` gives them back the
 * same way: nothing outside this file sees offsets, checksums or the file
 * format. Every file is checked against its schema when read, and an error
 * names the file and the field. Format 1 bundles (one head, no split
 * checksum) are read and upgraded in memory.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { readableDirectory, writeDirectoryAtomic, writeFileAtomic } from '../atomic-file.js';
import { type BackboneSpec, checkBackboneSpec } from '../backbone/registry.js';
import type { CleanRecord } from '../clean/clean.js';
import { PosterscopeError } from '../errors.js';
import { parseViews } from '../image/views.js';
import type { ThresholdPolicy } from '../eval/decide.js';
import type { EvaluationReport } from '../eval/report.js';
import type { StoredTextEncoder, TextEncoderRow } from '../text/encoders.js';
import type { TfidfSettings } from '../text/tfidf.js';
import { MODEL_INPUTS, type ModelInput } from './inputs.js';
import type { DenseLayer, HeadSpec, HeadWeights, Standardizer } from './head.js';

export const BUNDLE_FORMAT = 'posterscope-bundle';
/**
 * 2: a list of heads, each for one input with its own standardisation; split.json's checksum.
 * 3: heads for text inputs (title, plot) with their fitted text encoder, a fusion of the
 *    heads' logits, the inputs the model accepts and was tuned on; no backbone for a text-only model.
 */
export const BUNDLE_VERSION = 3;

const count = z.number().int().nonnegative();
const positive = z.number().int().positive();
const unit = z.number().min(0).max(1);
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 hex digits');
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Where a tensor lives in weights.bin, in float32 elements. */
const tensorRef = z.object({ offset: count, length: count });
export type TensorRef = z.infer<typeof tensorRef>;

const headSpec: z.ZodType<HeadSpec> = z.discriminatedUnion('type', [
  z.object({ type: z.literal('linear') }),
  z.object({ type: z.literal('mlp'), hidden: positive, dropout: z.number().min(0).lt(1) }),
]);
const layerRef = z.object({ inputs: positive, outputs: positive, weight: tensorRef, bias: tensorRef });
const standardizeRef = z.object({ mean: tensorRef, scale: tensorRef });
const modelInput = z.enum(MODEL_INPUTS);
const ngramRange = z.tuple([positive, positive]);
const tfidfSettings: z.ZodType<TfidfSettings> = z.object({
  wordNgrams: ngramRange,
  charNgrams: ngramRange.nullable(),
  maxFeatures: positive,
  charShare: unit,
  minDf: positive,
  sublinearTf: z.boolean(),
});
const textEncoderRow: z.ZodType<TextEncoderRow> = z.object({ id: z.string(), kind: z.literal('tfidf'), description: z.string(), settings: tfidfSettings });
/** A fitted text encoder: its row, its vocabulary here, its idf in weights.bin. */
const textEncoderRef = z.object({ row: textEncoderRow, terms: z.array(z.string()), idf: tensorRef });
/** How the heads' logits become one score: summed around the genre prior, each head weighted (per-branch calibration). */
const fusionRecord = z.object({
  type: z.literal('sum'),
  /** Logit of the training prior per genre: the point every head's logits are centred on. */
  center: z.array(z.number()),
  /** Per-head weight, tuned on validation over every subset of inputs. */
  weights: z.partialRecord(modelInput, z.number()),
  /**
   * Weights for one subset of inputs (tuned on validation rows that have it): summed evidence
   * from partly redundant heads is over-confident, so each subset gets its own calibration.
   */
  subsets: z
    .array(
      z.object({
        inputs: z.array(modelInput).min(1),
        weights: z.partialRecord(modelInput, z.number()),
        /** Added to the subset's fused logit, so the bundle's one threshold suits every subset. */
        shift: z.number().optional(),
      }),
    )
    .optional(),
});
export type FusionRecord = z.infer<typeof fusionRecord>;
/**
 * `concat`: the inputs' features (standardised image embedding, TF-IDF rows)
 * concatenated in `inputs` order, zeros for an absent input, then one
 * presence flag per input, into an MLP (trained with branch dropout).
 */
const concatRef = z.object({
  type: z.literal('concat'),
  /** Logit of the training prior per genre (the score of a row with no input, in evaluate). */
  center: z.array(z.number()),
  inputs: z.array(modelInput).min(1),
  /** Feature width of each input, in `inputs` order. */
  dims: z.array(positive),
  spec: headSpec,
  layers: z.array(layerRef).min(1),
});
/** A concat fusion with its layers as arrays. */
export interface ConcatFusion {
  type: 'concat';
  center: number[];
  inputs: ModelInput[];
  dims: number[];
  spec: HeadSpec;
  layers: DenseLayer[];
}
export type Fusion = FusionRecord | ConcatFusion;
const inputsRecord = z.object({
  /** Inputs the model reads: a prediction may give any non-empty subset of them. */
  accepts: z.array(modelInput).min(1),
  /** The subsets of inputs the threshold policy and fusion weights were tuned on (validation split). */
  tunedOn: z.array(z.array(modelInput).min(1)),
});
export type InputsRecord = z.infer<typeof inputsRecord>;

/** How the threshold policy was tuned (recorded by `train`). */
const tuningRecord = z.looseObject({
  mode: z.string(),
  /** Micro-F1 of the tuned policy (topK and atLeastOne included) on the validation split. */
  validationMicroF1: z.number(),
  /** Genres that fell back to the global threshold (0 in global mode). */
  fellBack: count,
});
export type TuningRecord = z.infer<typeof tuningRecord>;

const policy: z.ZodType<ThresholdPolicy & { tuned?: TuningRecord }> = z.object({
  global: unit,
  perGenre: z.array(unit.nullable()).optional(),
  topK: positive.optional(),
  atLeastOne: z.boolean().optional(),
  tuned: tuningRecord.optional(),
});

/** One training epoch, as `train` logs it and the bundle keeps it. */
const epochRecord = z.object({
  epoch: positive,
  trainLoss: z.number(),
  validationLoss: z.number(),
  /** Validation micro-F1 at the best single global threshold, and mAP. */
  validationMicroF1: z.number(),
  validationMAP: z.number(),
  seconds: z.number(),
});
export type EpochRecord = z.infer<typeof epochRecord>;

/** The settings a bundle was trained with, and the training split's label prior. */
const trainingRecord = z.looseObject({
  data: z.string(),
  images: z.array(z.string()),
  trainViews: z.array(z.string()),
  loss: z.string(),
  learningRate: z.number(),
  weightDecay: z.number(),
  batchSize: positive,
  patience: positive,
  seed: count,
  bestEpoch: count,
  samples: count,
  /** Per-genre positive rate on the training split: the prior baseline for later evaluations. */
  prior: z.array(unit),
  unreadable: count,
});
export type TrainingRecord = z.infer<typeof trainingRecord>;

/** The test evaluation snapshot: checked for what readers show (the web page, the model card); the rest is the report as `train` wrote it. */
const evaluationSnapshot = z.custom<EvaluationReport>(
  (v) =>
    isObject(v) &&
    ['microF1', 'macroF1', 'precision', 'recall', 'f05', 'exactMatch', 'mAP', 'rows'].every((k) => typeof v[k] === 'number') &&
    Array.isArray(v.perGenre) &&
    isObject(v.baselines) &&
    isObject(v.baselines.prior) &&
    isObject(v.baselines.random),
  { message: 'expected an evaluation report (microF1, macroF1, precision, recall, f05, exactMatch, mAP, rows, perGenre, baselines)' },
);
const metricsRecord = z.looseObject({
  test: evaluationSnapshot,
  split: z.object({ train: count, validation: count, test: count }),
});
export type BundleMetrics = z.infer<typeof metricsRecord>;

const cleanRecord = z.custom<CleanRecord>(
  (v) => isObject(v) && typeof v.id === 'string' && typeof v.sha256 === 'string' && /^[0-9a-f]{64}$/.test(v.sha256) && isObject(v.settings),
  { message: 'expected { id, sha256, settings } of the text cleaner' },
);

const common = {
  format: z.literal(BUNDLE_FORMAT),
  createdAt: z.string(),
  posterscopeVersion: z.string(),
  // The row itself is checked by the backbone registry's own check, after this schema.
  backbone: z.object({ id: z.string(), sha256: sha256Hex, spec: z.custom<BackboneSpec>(isObject, { message: 'expected a backbone row object' }) }),
  /** Views whose embeddings are averaged to score a poster (test-time augmentation). */
  views: z.array(z.string()).min(1),
  /** Text removed from posters before embedding (absent: posters used as they are). */
  clean: cleanRecord.optional(),
  genres: z.array(z.string().min(1)).min(1),
  thresholds: policy,
  /** Snapshot of what evaluation measured when the bundle was made. */
  metrics: metricsRecord.optional(),
  history: z.array(epochRecord).optional(),
  training: trainingRecord.optional(),
  weights: z.object({ file: z.literal('weights.bin'), sha256: sha256Hex, bytes: count }),
};

const headRef = z.object({ input: modelInput, encoder: textEncoderRef.optional(), standardize: standardizeRef, spec: headSpec, layers: z.array(layerRef).min(1) });

const manifestV3 = z
  .object({
    ...common,
    formatVersion: z.literal(3),
    /** Absent for a model without an image head (text only). */
    backbone: common.backbone.optional(),
    views: common.views.optional(),
    /** One head per input the model reads (image, title, plot), each at most once. */
    heads: z.array(headRef).min(1),
    fusion: z.discriminatedUnion('type', [fusionRecord, concatRef]).optional(),
    inputs: inputsRecord,
    split: z.object({ file: z.literal('split.json'), sha256: sha256Hex }).optional(),
  })
  .superRefine((m, ctx) => {
    const inputs = m.heads.map((h) => h.input);
    if (new Set(inputs).size !== inputs.length) ctx.addIssue({ code: 'custom', path: ['heads'], message: `expected one head per input, got ${inputs.join(', ')}` });
    if (m.heads.length > 1 && !m.fusion) ctx.addIssue({ code: 'custom', path: ['fusion'], message: 'expected a fusion for several heads' });
    if (inputs.includes('image') && (!m.backbone || !m.views)) ctx.addIssue({ code: 'custom', path: ['backbone'], message: 'expected a backbone and views for the image head' });
    m.heads.forEach((h, i) => {
      if ((h.input === 'image') !== (h.encoder === undefined)) ctx.addIssue({ code: 'custom', path: ['heads', i, 'encoder'], message: h.input === 'image' ? 'the image head has no text encoder' : 'expected the text encoder of a text head' });
    });
    if (m.fusion && m.fusion.center.length !== m.genres.length) ctx.addIssue({ code: 'custom', path: ['fusion', 'center'], message: `expected ${m.genres.length} values (one per genre)` });
  });
export type BundleManifest = z.infer<typeof manifestV3>;

const manifestV2 = z.object({
  ...common,
  formatVersion: z.literal(2),
  /** One head per input the model reads; today one, for the poster image. */
  heads: z.array(z.object({ input: z.literal('image'), standardize: standardizeRef, spec: headSpec, layers: z.array(layerRef).min(1) })).length(1, 'expected exactly one head (the image head)'),
  /** split.json, tied to this manifest by its checksum. */
  split: z.object({ file: z.literal('split.json'), sha256: sha256Hex }).optional(),
});

const manifestV1 = z.object({
  ...common,
  formatVersion: z.literal(1),
  standardize: standardizeRef,
  head: z.object({ spec: headSpec, layers: z.array(layerRef).min(1) }),
});

const splitMember = z.object({ id: z.string(), hash: z.string() });
const splitSchema = z.object({
  seed: count,
  fractions: z.tuple([unit, unit, unit]),
  data: z.string(),
  train: z.array(splitMember),
  validation: z.array(splitMember),
  test: z.array(splitMember),
});
export type SplitRecord = z.infer<typeof splitSchema>;

/** A head for one input, with the standardisation of its features (and, for text, the fitted encoder), as arrays. */
export interface InputHead extends HeadWeights {
  readonly input: ModelInput;
  readonly standardizer: Standardizer;
  /** Title and plot heads: the text encoder that makes their features. */
  readonly encoder?: StoredTextEncoder;
}
/** The head of a format 2 bundle (kept for callers written against it). */
export type ImageHead = InputHead;

/** What `writeBundle` needs: the manifest's content with tensors as arrays (format, offsets and checksums are the writer's job). */
export interface BundleContents {
  createdAt: string;
  posterscopeVersion: string;
  backbone?: BundleManifest['backbone'];
  views?: string[];
  clean?: CleanRecord;
  genres: string[];
  heads: InputHead[];
  fusion?: Fusion;
  /** Default: every head's input accepted, tuned on all of them together. */
  inputs?: InputsRecord;
  thresholds: BundleManifest['thresholds'];
  metrics?: BundleMetrics;
  history?: EpochRecord[];
  training?: TrainingRecord;
}

export interface Bundle {
  /** The directory the bundle was read from. */
  readonly path: string;
  readonly manifest: BundleManifest;
  /** The heads with their tensors, shapes checked against each other and the genres. */
  readonly heads: readonly InputHead[];
  /** How the heads are combined (absent for one head), tensors as arrays. */
  readonly fusion?: Fusion;
}

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

function invalid(dir: string, reason: string): PosterscopeError {
  return new PosterscopeError('MODEL_INVALID', `${dir} is not a posterscope model bundle: ${reason}`, { subject: dir });
}

/** `heads[0].layers[1].weight` from a schema issue's path. */
function fieldName(path: readonly PropertyKey[]): string {
  return path.map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i > 0 ? '.' : ''}${String(key)}`)).join('') || '(top level)';
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, dir: string, file: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw invalid(dir, `${file} field ${fieldName(issue.path)}: ${issue.message}`);
}

async function readJson(dir: string, file: string): Promise<{ text: string; value: unknown } | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, file), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') throw invalid(dir, 'expected a bundle directory, got a file');
    throw invalid(dir, `cannot read ${file} (${code})`);
  }
  try {
    return { text, value: JSON.parse(text) };
  } catch {
    throw invalid(dir, `${file} is not valid JSON`);
  }
}

type ManifestV2 = z.infer<typeof manifestV2>;

/** A format 2 manifest in today's shape: an image-only model, tuned on the image. */
function upgradeV2(v2: ManifestV2): BundleManifest {
  return { ...v2, formatVersion: 3, inputs: { accepts: ['image'], tunedOn: [['image']] } };
}

/** A format 1 manifest in format 2's shape: its one head becomes the image head. */
function upgradeV1(v1: z.infer<typeof manifestV1>): ManifestV2 {
  const { format, createdAt, posterscopeVersion, backbone, views, clean, genres, standardize, head, thresholds, metrics, history, training, weights } = v1;
  return {
    format,
    formatVersion: 2,
    createdAt,
    posterscopeVersion,
    backbone,
    views,
    ...(clean ? { clean } : {}),
    genres,
    heads: [{ input: 'image', standardize, spec: head.spec, layers: head.layers }],
    thresholds,
    ...(metrics ? { metrics } : {}),
    ...(history ? { history } : {}),
    ...(training ? { training } : {}),
    weights,
  };
}

/** Checks and upgrades a manifest's JSON (any format this posterscope reads) to the current shape. */
export function parseManifest(value: unknown, dir: string): BundleManifest {
  if (!isObject(value)) throw invalid(dir, 'manifest.json is not a JSON object');
  if (value.format !== BUNDLE_FORMAT) throw invalid(dir, `manifest.json has format ${JSON.stringify(value.format)}, expected "${BUNDLE_FORMAT}"`);
  const version = value.formatVersion;
  if (typeof version === 'number' && version > BUNDLE_VERSION) {
    throw invalid(dir, `format version ${version} is newer than this posterscope reads (${BUNDLE_VERSION}); upgrade posterscope`);
  }
  const manifest =
    version === 1
      ? upgradeV2(upgradeV1(parseWith(manifestV1, value, dir, 'manifest.json')))
      : version === 2
        ? upgradeV2(parseWith(manifestV2, value, dir, 'manifest.json'))
        : parseWith(manifestV3, value, dir, 'manifest.json');
  try {
    if (manifest.backbone) checkBackboneSpec(manifest.backbone.spec, 'backbone.spec');
  } catch (error) {
    throw invalid(dir, `manifest.json field ${(error as Error).message}`);
  }
  try {
    // A hand-edited view list is the bundle's fault (MODEL_INVALID), not the command line's.
    if (manifest.views) parseViews(manifest.views);
  } catch (error) {
    throw invalid(dir, `manifest.json field views: ${(error as Error).message}`);
  }
  return manifest;
}

/** Tensors laid out in weights.bin in a fixed order: per head the standardisation, then each layer's weight and bias. */
function packTensors(heads: readonly InputHead[], fusion?: Fusion) {
  const chunks: Float32Array[] = [];
  let length = 0;
  const add = (values: Float32Array): TensorRef => {
    chunks.push(values);
    length += values.length;
    return { offset: length - values.length, length: values.length };
  };
  const refs = heads.map((head) => ({
    input: head.input,
    ...(head.encoder ? { encoder: { row: head.encoder.row, terms: head.encoder.model.terms, idf: add(head.encoder.model.idf) } } : {}),
    standardize: { mean: add(head.standardizer.mean), scale: add(head.standardizer.scale) },
    spec: head.spec,
    layers: head.layers.map((l) => ({ inputs: l.inputs, outputs: l.outputs, weight: add(l.weight), bias: add(l.bias) })),
  }));
  const fusionRef =
    fusion?.type === 'concat'
      ? { ...fusion, layers: fusion.layers.map((l) => ({ inputs: l.inputs, outputs: l.outputs, weight: add(l.weight), bias: add(l.bias) })) }
      : fusion;
  const all = new Float32Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return { refs, fusionRef, bytes: Buffer.from(all.buffer) };
}

/** The manifest's JSON text: keys in a fixed order, so the same bundle always gives the same bytes. */
export function manifestText(m: BundleManifest): string {
  const ordered: BundleManifest = {
    format: m.format,
    formatVersion: m.formatVersion,
    createdAt: m.createdAt,
    posterscopeVersion: m.posterscopeVersion,
    ...(m.backbone ? { backbone: m.backbone } : {}),
    ...(m.views ? { views: m.views } : {}),
    ...(m.clean ? { clean: m.clean } : {}),
    genres: m.genres,
    heads: m.heads,
    ...(m.fusion ? { fusion: m.fusion } : {}),
    inputs: m.inputs,
    thresholds: m.thresholds,
    ...(m.metrics ? { metrics: m.metrics } : {}),
    ...(m.history ? { history: m.history } : {}),
    ...(m.training ? { training: m.training } : {}),
    ...(m.split ? { split: m.split } : {}),
    weights: m.weights,
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

/**
 * Writes a bundle directory in one piece: the new bundle is written and
 * flushed beside the old one, then swapped in (see `writeDirectoryAtomic`),
 * so a crash at any moment leaves the old bundle or the new one, never a
 * mix. Refuses to replace a directory that is not a bundle.
 *
 * @example
 *   const manifest = await writeBundle('my-model', { ...contents, heads: [{ input: 'image', standardizer, spec, layers }] }, split);
 *   manifest.weights.bytes // -> 138340
 */
export interface WriteBundleOptions {
  /**
   * More files for the bundle, made from its final manifest and written
   * inside the new bundle before the swap (so they always match it): `train`
   * adds report.html this way.
   */
  files?: (manifest: BundleManifest) => Promise<Record<string, string | Uint8Array>>;
}

export async function writeBundle(dir: string, contents: BundleContents, split?: SplitRecord, options: WriteBundleOptions = {}): Promise<BundleManifest> {
  // Replacing swaps the whole directory: never do that to a folder that is not a bundle.
  const entries = await readdir(dir).catch((error: NodeJS.ErrnoException): string[] => {
    if (error.code === 'ENOENT') return [];
    throw new PosterscopeError('INVALID_ARGUMENT', `${dir} is not a folder a model bundle can be written to (${error.code})`, { subject: dir });
  });
  if (entries.length > 0 && !entries.includes('manifest.json')) {
    throw new PosterscopeError('INVALID_ARGUMENT', `${dir} holds other files and no model bundle: write the bundle to a new or empty folder`, { subject: dir });
  }
  for (const head of contents.heads) checkImageHead(head, contents.genres.length, (reason) => new PosterscopeError('INVALID_ARGUMENT', `cannot write ${dir}: ${reason}`, { subject: 'heads' }));
  if (contents.fusion?.type === 'concat') checkConcat(contents.fusion, contents.genres.length, (reason) => new PosterscopeError('INVALID_ARGUMENT', `cannot write ${dir}: ${reason}`, { subject: 'fusion' }));
  const { refs, fusionRef, bytes } = packTensors(contents.heads, contents.fusion);
  const splitText = split ? `${JSON.stringify(split)}\n` : undefined;
  const { heads: _heads, inputs, fusion: _fusion, ...rest } = contents;
  const accepts = contents.heads.map((h) => h.input);
  const manifest: BundleManifest = {
    ...rest,
    format: BUNDLE_FORMAT,
    formatVersion: BUNDLE_VERSION,
    heads: refs as BundleManifest['heads'],
    ...(fusionRef ? { fusion: fusionRef as BundleManifest['fusion'] } : {}),
    inputs: inputs ?? { accepts, tunedOn: [accepts] },
    ...(splitText ? { split: { file: 'split.json' as const, sha256: sha256(splitText) } } : {}),
    weights: { file: 'weights.bin', sha256: sha256(bytes), bytes: bytes.length },
  };
  await writeDirectoryAtomic(dir, async (staging) => {
    await writeFile(join(staging, 'weights.bin'), bytes);
    if (splitText) await writeFile(join(staging, 'split.json'), splitText);
    await writeFile(join(staging, 'manifest.json'), manifestText(manifest));
    for (const [name, data] of Object.entries((await options.files?.(manifest)) ?? {})) await writeFile(join(staging, basename(name)), data);
  });
  return manifest;
}

function checkConcat(fusion: ConcatFusion, genres: number, refuse: (reason: string) => PosterscopeError): void {
  const width = fusion.dims.reduce((a, b) => a + b, 0) + fusion.inputs.length;
  if (fusion.dims.length !== fusion.inputs.length) throw refuse(`the concat fusion has ${fusion.dims.length} widths for ${fusion.inputs.length} inputs`);
  checkImageHead({ input: 'image', spec: fusion.spec, layers: fusion.layers, standardizer: { mean: new Float32Array(width), scale: new Float32Array(width) } }, genres, (reason) =>
    refuse(`the concat fusion${reason.replace(/^the image head/, '')}`),
  );
}

/** Shapes must agree, so a hand-edited manifest fails on load and not mid-prediction. */
function checkImageHead(head: InputHead, genres: number, refuse: (reason: string) => PosterscopeError): void {
  const fail = (what: string) => refuse(`the ${head.input} head ${what}`);
  const layers = head.layers;
  const expected = head.spec.type === 'mlp' ? 2 : 1;
  if (layers.length !== expected) throw fail(`has ${layers.length} layers, a ${head.spec.type} head has ${expected}`);
  layers.forEach((layer, k) => {
    if (k > 0 && layer.inputs !== layers[k - 1]!.outputs) throw fail(`layer ${k} takes ${layer.inputs} inputs, the layer before gives ${layers[k - 1]!.outputs}`);
    if (layer.weight.length !== layer.inputs * layer.outputs || layer.bias.length !== layer.outputs) throw fail(`layer ${k} has the wrong number of weights`);
  });
  if (layers[layers.length - 1]!.outputs !== genres) throw fail(`gives ${layers[layers.length - 1]!.outputs} outputs for ${genres} genres (head outputs do not match the genre list)`);
  const inputs = layers[0]!.inputs;
  if (head.encoder && head.encoder.model.terms.length !== inputs) throw fail(`text encoder gives ${head.encoder.model.terms.length} features, the head takes ${inputs}`);
  if (head.encoder && head.encoder.model.idf.length !== inputs) throw fail(`text encoder has ${head.encoder.model.idf.length} idf values for ${inputs} terms`);
  if (head.standardizer.mean.length !== inputs || head.standardizer.scale.length !== inputs) throw fail(`standardisation does not match the head input (${inputs})`);
}

/**
 * Reads and checks a bundle directory (or its manifest.json): schema, the
 * weights' checksum, every tensor's place and every shape.
 *
 * @example
 *   const bundle = await readBundle('models/default');
 *   [bundle.manifest.genres.length, bundle.heads[0].layers[0].inputs] // -> [25, 1280]
 */
export async function readBundle(path: string): Promise<Bundle> {
  const given = basename(path) === 'manifest.json' ? dirname(path) : path;
  const dir = await readableDirectory(given);
  const json = await readJson(dir, 'manifest.json');
  if (!json) throw new PosterscopeError('MODEL_NOT_FOUND', `${given}: no model bundle here (no manifest.json)`, { subject: given });
  const manifest = parseManifest(json.value, given);
  let bytes: Buffer;
  try {
    bytes = await readFile(join(dir, manifest.weights.file));
  } catch {
    throw invalid(given, 'weights.bin is missing');
  }
  if (bytes.length !== manifest.weights.bytes || sha256(bytes) !== manifest.weights.sha256) {
    throw invalid(given, 'weights.bin does not match its checksum in manifest.json (corrupt or from another bundle)');
  }
  const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  const tensor = (ref: TensorRef, field: string) => {
    if (ref.offset + ref.length > values.length) throw invalid(given, `manifest.json field ${field} lies outside weights.bin`);
    return values.subarray(ref.offset, ref.offset + ref.length);
  };
  const heads = manifest.heads.map((h, i): InputHead => {
    const at = `heads[${i}]`;
    const layers: DenseLayer[] = h.layers.map((l, k) => ({
      inputs: l.inputs,
      outputs: l.outputs,
      weight: tensor(l.weight, `${at}.layers[${k}].weight`),
      bias: tensor(l.bias, `${at}.layers[${k}].bias`),
    }));
    const standardizer = { mean: tensor(h.standardize.mean, `${at}.standardize.mean`), scale: tensor(h.standardize.scale, `${at}.standardize.scale`) };
    const encoder = h.encoder ? { encoder: { row: h.encoder.row, model: { settings: h.encoder.row.settings, terms: h.encoder.terms, idf: tensor(h.encoder.idf, `${at}.encoder.idf`) } } } : {};
    return { input: h.input, spec: h.spec, layers, standardizer, ...encoder };
  });
  for (const head of heads) checkImageHead(head, manifest.genres.length, (reason) => invalid(given, reason));
  let fusion: Fusion | undefined = manifest.fusion?.type === 'sum' ? manifest.fusion : undefined;
  if (manifest.fusion?.type === 'concat') {
    const f = manifest.fusion;
    const layers = f.layers.map((l, k) => ({ inputs: l.inputs, outputs: l.outputs, weight: tensor(l.weight, `fusion.layers[${k}].weight`), bias: tensor(l.bias, `fusion.layers[${k}].bias`) }));
    fusion = { ...f, layers };
    checkConcat(fusion, manifest.genres.length, (reason) => invalid(given, reason));
  }
  return { path: given, manifest, heads, ...(fusion ? { fusion } : {}) };
}

/**
 * The bundle's data split, checked against its schema and against the
 * checksum its manifest recorded (format 1 bundles recorded none).
 * `undefined` when the bundle has no split.json.
 *
 * @example
 *   (await readSplit(await readBundle('models/default')))!.test.length // -> 609
 */
export async function readSplit(bundle: Pick<Bundle, 'path' | 'manifest'>): Promise<SplitRecord | undefined> {
  const dir = await readableDirectory(bundle.path);
  const json = await readJson(dir, 'split.json');
  if (!json) {
    if (bundle.manifest.split) throw invalid(bundle.path, 'split.json is missing (manifest.json records one)');
    return undefined;
  }
  if (bundle.manifest.split && sha256(json.text) !== bundle.manifest.split.sha256) {
    throw invalid(bundle.path, 'split.json does not match its checksum in manifest.json (edited, or from another bundle)');
  }
  return parseWith(splitSchema, json.value, bundle.path, 'split.json');
}

/**
 * Rewrites a bundle's manifest.json in the current format (weights.bin and
 * split.json untouched; the split is tied to the manifest by its checksum).
 * Older bundles load without it: this is for keeping them current.
 *
 * @example
 *   (await upgradeBundle('models/default')).formatVersion // -> 3
 */
export async function upgradeBundle(dir: string): Promise<BundleManifest> {
  const { path, manifest: read } = await readBundle(dir);
  const split = await readJson(path, 'split.json');
  if (split) parseWith(splitSchema, split.value, path, 'split.json');
  const { weights, split: _split, ...rest } = read;
  const manifest: BundleManifest = { ...rest, ...(split ? { split: { file: 'split.json', sha256: sha256(split.text) } } : {}), weights };
  await writeFileAtomic(join(path, 'manifest.json'), manifestText(manifest));
  return manifest;
}
