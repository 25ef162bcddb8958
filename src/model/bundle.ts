/**
 * The model bundle: a directory with a versioned JSON manifest, one binary
 * file of float32 tensors and the data split. It carries everything needed to
 * predict (backbone row and checksum, views, genres, standardisation, head,
 * thresholds) plus what was measured (metrics, per-epoch history), and never
 * depends on code layout the way a pickle would.
 *
 *   bundle/manifest.json   format, backbone, views, genres, tensors index, ...
 *   bundle/weights.bin     float32 little-endian tensors, offsets in the manifest
 *   bundle/split.json      train / validation / test poster ids and hashes
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic-file.js';
import { join } from 'node:path';
import type { BackboneSpec } from '../backbone/registry.js';
import type { CleanRecord } from '../clean/clean.js';
import { PosterscopeError } from '../errors.js';
import type { HeadSpec } from '../train/head.js';
import type { ThresholdPolicy } from './thresholds.js';

export const BUNDLE_FORMAT = 'posterscope-bundle';
export const BUNDLE_VERSION = 1;

/** Where a tensor lives in weights.bin, in float32 elements. */
export interface TensorRef {
  offset: number;
  length: number;
}

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  formatVersion: number;
  createdAt: string;
  posterscopeVersion: string;
  backbone: { id: string; sha256: string; spec: BackboneSpec };
  /** Views whose embeddings are averaged to score a poster (test-time augmentation). */
  views: string[];
  /** Text removed from posters before embedding (absent: posters used as they are). */
  clean?: CleanRecord;
  genres: string[];
  standardize: { mean: TensorRef; scale: TensorRef };
  head: { spec: HeadSpec; layers: Array<{ inputs: number; outputs: number; weight: TensorRef; bias: TensorRef }> };
  thresholds: ThresholdPolicy & { tuned?: Record<string, unknown> };
  /** Snapshot of what evaluation measured when the bundle was made. */
  metrics?: Record<string, unknown>;
  history?: Array<Record<string, number>>;
  training?: Record<string, unknown>;
  weights: { file: 'weights.bin'; sha256: string; bytes: number };
}

export interface SplitRecord {
  seed: number;
  fractions: [number, number, number];
  data: string;
  train: Array<{ id: string; hash: string }>;
  validation: Array<{ id: string; hash: string }>;
  test: Array<{ id: string; hash: string }>;
}

export interface Bundle {
  manifest: BundleManifest;
  /** Tensors by the refs in the manifest. */
  tensor(ref: TensorRef): Float32Array;
}

/** Collects tensors into one buffer while a manifest is being built. */
export class TensorWriter {
  private readonly chunks: Float32Array[] = [];
  private length = 0;

  add(values: Float32Array): TensorRef {
    const ref = { offset: this.length, length: values.length };
    this.chunks.push(values);
    this.length += values.length;
    return ref;
  }

  bytes(): Buffer {
    const all = new Float32Array(this.length);
    let offset = 0;
    for (const chunk of this.chunks) {
      all.set(chunk, offset);
      offset += chunk.length;
    }
    return Buffer.from(all.buffer);
  }
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * Writes a bundle directory. Files are written to temporaries and renamed,
 * the manifest last, so a crash never leaves a manifest pointing at missing
 * weights.
 */
export async function saveBundle(
  dir: string,
  manifest: Omit<BundleManifest, 'weights' | 'format' | 'formatVersion'>,
  weights: TensorWriter,
  split?: SplitRecord,
): Promise<BundleManifest> {
  await mkdir(dir, { recursive: true });
  const bytes = weights.bytes();
  const full: BundleManifest = {
    format: BUNDLE_FORMAT,
    formatVersion: BUNDLE_VERSION,
    ...manifest,
    weights: { file: 'weights.bin', sha256: sha256(bytes), bytes: bytes.length },
  };
  const put = (name: string, data: string | Buffer) => writeFileAtomic(join(dir, name), data);
  await put('weights.bin', bytes);
  if (split) await put('split.json', `${JSON.stringify(split)}\n`);
  await put('manifest.json', `${JSON.stringify(full, null, 2)}\n`);
  return full;
}

function invalid(dir: string, reason: string): PosterscopeError {
  return new PosterscopeError('MODEL_INVALID', `${dir} is not a posterscope model bundle: ${reason}`, { subject: dir });
}

/**
 * Reads and checks a bundle directory (or its manifest.json).
 *
 * @example
 *   (await readBundle('models/default')).manifest.genres.length // -> 25
 */
export async function readBundle(path: string): Promise<Bundle> {
  const dir = path.endsWith('manifest.json') ? join(path, '..') : path;
  let text: string;
  try {
    text = await readFile(join(dir, 'manifest.json'), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new PosterscopeError('MODEL_NOT_FOUND', `${dir}: no model bundle here (no manifest.json)`, { subject: dir });
    if (code === 'ENOTDIR') throw invalid(dir, 'expected a bundle directory, got a file');
    throw invalid(dir, `cannot read manifest.json (${code})`);
  }
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(text) as BundleManifest;
  } catch {
    throw invalid(dir, 'manifest.json is not valid JSON');
  }
  if (manifest.format !== BUNDLE_FORMAT) throw invalid(dir, `manifest.json has format "${String(manifest.format)}"`);
  if (manifest.formatVersion > BUNDLE_VERSION) {
    throw invalid(dir, `format version ${manifest.formatVersion} is newer than this posterscope reads (${BUNDLE_VERSION}); upgrade posterscope`);
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(join(dir, manifest.weights?.file ?? 'weights.bin'));
  } catch {
    throw invalid(dir, 'weights.bin is missing');
  }
  if (bytes.length !== manifest.weights.bytes || sha256(bytes) !== manifest.weights.sha256) {
    throw invalid(dir, 'weights.bin does not match its checksum in manifest.json (corrupt or from another bundle)');
  }
  const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  const tensor = (ref: TensorRef) => {
    if (!ref || ref.offset < 0 || ref.offset + ref.length > values.length) throw invalid(dir, 'a tensor lies outside weights.bin');
    return values.subarray(ref.offset, ref.offset + ref.length);
  };
  // Shapes must agree, so a hand-edited manifest fails here and not mid-prediction.
  const genres = manifest.genres?.length ?? 0;
  const layers = manifest.head?.layers ?? [];
  if (genres === 0 || layers.length === 0) throw invalid(dir, 'manifest.json lacks genres or head layers');
  if (layers[layers.length - 1]!.outputs !== genres) throw invalid(dir, 'head outputs do not match the genre list');
  for (const layer of layers) {
    if (tensor(layer.weight).length !== layer.inputs * layer.outputs || tensor(layer.bias).length !== layer.outputs) {
      throw invalid(dir, 'a head layer has the wrong number of weights');
    }
  }
  if (tensor(manifest.standardize.mean).length !== layers[0]!.inputs) throw invalid(dir, 'standardisation does not match the head input');
  return { manifest, tensor };
}

export async function readSplit(dir: string): Promise<SplitRecord | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, 'split.json'), 'utf8')) as SplitRecord;
  } catch {
    return undefined;
  }
}
