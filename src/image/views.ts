/**
 * Views: the ways one poster is shown to the backbone, described as data.
 *
 * A view renders one or more input-size crops from a decoded poster; its
 * embedding is the mean of its crops' features. Views have canonical names
 * (`full`, `crop-top`, `tiles-2x`, `aug-3`, ...) that key the embedding cache,
 * so a name always means the same pixels.
 *
 * No view flips the poster: titles and composition read left to right.
 */
import sharp, { type Sharp } from 'sharp';
import { PosterscopeError, invalidParameterError } from '../errors.js';
import { Random } from '../random.js';
import { recycleBuffer, takeBuffer } from './buffers.js';
import { nativeKernels } from './native.js';
import type { Poster } from './poster.js';

export type ViewSpec =
  /** The backbone's own resize policy (squash, or shorter side + centre crop). */
  | { kind: 'native' }
  /** The whole poster squashed to the input size. */
  | { kind: 'full' }
  /** A square crop as wide as the poster, at the centre, top or bottom. */
  | { kind: 'crop'; anchor: 'center' | 'top' | 'bottom' }
  /** The poster enlarged to `zoom` input widths, covered by evenly spaced input-size tiles. */
  | { kind: 'tiles'; zoom: number }
  /** A seeded random poster-safe augmentation: rotation <= 5 degrees, zoom 85-100%, mild colour jitter. */
  | { kind: 'aug'; seed: number };

export interface ViewInput {
  height: number;
  width: number;
  policy: 'squash' | 'shorter-side-crop';
  kernel: 'linear' | 'cubic';
}

/** Named view sets accepted wherever a list of views is. */
export const VIEW_SETS: Readonly<Record<string, readonly string[]>> = {
  single: ['native'],
  crops: ['full', 'crop-top', 'crop-center', 'crop-bottom'],
  tiles: ['tiles-1.5x', 'tiles-2x', 'tiles-3x'],
  'tiles-small': ['tiles-1.5x', 'tiles-2x'],
};

const MAX_ROTATION_DEGREES = 5;
const MAX_ZOOM = 4;
/**
 * Longest side over shortest side that a view accepts. Tiles scale the
 * poster's shorter side to the input size, so the work grows with this ratio:
 * capped, a view costs at most MAX_ASPECT * zoom^2 input-size crops whatever
 * the poster's shape (a 10x10000 strip would otherwise be enlarged to ~917k
 * pixels tall).
 */
export const MAX_ASPECT = 8;

/**
 * @example
 *   viewName({ kind: 'tiles', zoom: 2 }) // -> 'tiles-2x'
 */
export function viewName(view: ViewSpec): string {
  switch (view.kind) {
    case 'native':
    case 'full':
      return view.kind;
    case 'crop':
      return `crop-${view.anchor}`;
    case 'tiles':
      return `tiles-${view.zoom}x`;
    case 'aug':
      return `aug-${view.seed}`;
  }
}

/**
 * @example
 *   parseView('crop-top') // -> { kind: 'crop', anchor: 'top' }
 */
export function parseView(name: string): ViewSpec {
  const expected = 'native, full, crop-top|center|bottom, tiles-<zoom>x (1-4), aug-<seed>';
  if (name === 'native' || name === 'full') return { kind: name };
  const crop = /^crop-(center|top|bottom)$/.exec(name);
  if (crop) return { kind: 'crop', anchor: crop[1] as 'center' | 'top' | 'bottom' };
  const tiles = /^tiles-(\d+(?:\.\d+)?)x$/.exec(name);
  if (tiles) {
    const zoom = Number(tiles[1]);
    if (zoom >= 1 && zoom <= MAX_ZOOM) return { kind: 'tiles', zoom };
  }
  const aug = /^aug-(\d{1,9})$/.exec(name);
  if (aug) return { kind: 'aug', seed: Number(aug[1]) };
  throw invalidParameterError('view', expected, name);
}

/**
 * Expands a comma-separated list of view names and set names into views.
 *
 * @example
 *   parseViews('single,crop-top').map(viewName) // -> ['native', 'crop-top']
 */
export function parseViews(list: string | readonly string[]): ViewSpec[] {
  const names = (typeof list === 'string' ? list.split(',') : list).map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw invalidParameterError('views', 'at least one view name', list);
  const out = new Map<string, ViewSpec>();
  for (const name of names) {
    for (const member of VIEW_SETS[name] ?? [name]) {
      const view = parseView(member);
      out.set(viewName(view), view);
    }
  }
  return [...out.values()];
}

/** One rendered crop: input-size RGB, interleaved. */
export type Crop = Buffer;

/** A reused buffer for the enlarged poster that tiles are cut from (cut synchronously, never kept). */
let enlargeScratch = Buffer.alloc(0);

function raw(poster: Pick<Poster, 'pixels' | 'width' | 'height'>) {
  return sharp(poster.pixels, { raw: { width: poster.width, height: poster.height, channels: 3 } });
}

function kernelOf(input: ViewInput) {
  return input.kernel === 'cubic' ? sharp.kernel.cubic : sharp.kernel.linear;
}

async function squash(image: Sharp, input: ViewInput): Promise<Crop> {
  return image.resize(input.width, input.height, { fit: 'fill', kernel: kernelOf(input) }).raw().toBuffer();
}

/**
 * The whole poster squashed to the input size: in-process when that gives
 * sharp's exact pixels (a linear kernel, at most 1.5x shorter, any amount
 * narrower or taller; as libvips does it, rows shrink first), else sharp.
 */
async function squashPoster(poster: Poster, input: ViewInput): Promise<Crop> {
  const { width: w, height: h } = poster;
  if (w === input.width && h === input.height) return Buffer.from(poster.pixels);
  if (input.kernel === 'linear' && w <= input.width && 2 * h <= 3 * input.height) {
    const rows = h > input.height ? reduceRows(poster.pixels, w, h, input.height) : poster.pixels;
    const height = Math.min(h, input.height);
    if (w === input.width && height === input.height) return rows;
    const out = enlarge(rows, w, height, input.width, input.height);
    // The shrunk rows were only a step (a poster both narrower and taller than the input): back to the pool.
    if (rows !== poster.pixels) recycleBuffer(rows);
    return out;
  }
  return squash(raw(poster), input);
}

// libvips' fixed-point resampling constants (VIPS_TRANSFORM_SCALE, VIPS_INTERPOLATE_SHIFT).
const SUBPIXELS = 64;
const FIXED_SHIFT = 12;
const FIXED_ONE = 1 << FIXED_SHIFT;

/** One tap set: the non-zero weights of a mask and the tap index of the first. */
interface Taps {
  first: number;
  weights: Int32Array;
}
const reduceMasks = new Map<number, Taps[]>();

/** libvips reducev's linear masks for one shrink factor, one per 1/64 pixel offset, zero taps dropped. */
function linearMasks(shrink: number, points: number): Taps[] {
  let masks = reduceMasks.get(shrink);
  if (masks) return masks;
  masks = [];
  for (let t = 0; t <= SUBPIXELS; t++) {
    const half = Math.fround(t / SUBPIXELS) + points / 2 - 1;
    const weights = new Float64Array(points);
    let sum = 0;
    for (let i = 0; i < points; i++) {
      const d = Math.abs((i - half) / shrink);
      weights[i] = d < 1 ? 1 - d : 0;
      sum += weights[i]!;
    }
    const fixed = Int32Array.from(weights, (v) => Math.trunc((v / sum) * FIXED_ONE));
    let first = 0;
    let last = points - 1;
    while (first < last && fixed[first] === 0) first++;
    while (last > first && fixed[last] === 0) last--;
    masks.push({ first, weights: fixed.slice(first, last + 1) });
  }
  if (reduceMasks.size > 64) reduceMasks.clear();
  reduceMasks.set(shrink, masks);
  return masks;
}

/** Per output row of a vertical reduction, its source rows (byte offsets) and fixed-point weights. */
interface ReducePlan {
  points: number;
  rows: Int32Array;
  fixed: Int32Array;
}
const reducePlans = new Map<string, ReducePlan>();

/** The plan for shrinking `height` rows of `width` pixels to `outHeight`, made once per shape (native/pixels.c makes its own). */
function reducePlan(width: number, height: number, outHeight: number): ReducePlan {
  const key = `${width}x${height}>${outHeight}`;
  let plan = reducePlans.get(key);
  if (plan) return plan;
  const shrink = height / outHeight;
  const points = Math.ceil(2 * shrink) + 1;
  const masks = linearMasks(shrink, points);
  const pad = Math.ceil(points / 2) - 1;
  const stride = width * 3;
  const extra = outHeight * shrink - height;
  const offset = (1 + extra) / 2 - 0.5;
  const row = (i: number) => Math.min(height - 1, Math.max(0, i)) * stride;
  // Per output row, `points` source rows and their fixed-point weights; masks
  // with fewer taps are padded with zero weights (a zero tap adds nothing).
  const rows = new Int32Array(points * outHeight);
  const fixed = new Int32Array(points * outHeight);
  let y = 0.5 * shrink - 0.5 - offset;
  for (let o = 0; o < outHeight; o++, y += shrink) {
    const { first, weights } = masks[((Math.trunc(y * SUBPIXELS * 2) & (SUBPIXELS * 2 - 1)) + 1) >> 1]!;
    const top = Math.trunc(y) + first - pad;
    for (let i = 0; i < points; i++) {
      rows[o * points + i] = row(top + Math.min(i, weights.length - 1));
      fixed[o * points + i] = i < weights.length ? weights[i]! : 0;
    }
  }
  plan = { points, rows, fixed };
  if (reducePlans.size >= 64) reducePlans.clear();
  reducePlans.set(key, plan);
  return plan;
}

/**
 * Shrinks an RGB image vertically from `height` to `outHeight` rows (by 1.5x
 * at most) with a linear kernel, bit for bit as sharp 0.35 / libvips 8.18
 * `resize(fit: 'fill', kernel: 'linear')` does; a test compares the two. One
 * sharp call costs ~2 ms of set-up for a fraction of that in arithmetic.
 */
export function reduceRows(pixels: Uint8Array, width: number, height: number, outHeight: number): Buffer {
  if (!(height > outHeight && 2 * height <= 3 * outHeight)) throw invalidParameterError('outHeight', `a height between ${Math.ceil((2 * height) / 3)} and ${height - 1}`, outHeight);
  const out = takeBuffer(width * 3 * outHeight);
  if (nativeKernels) nativeKernels.reduceRows(pixels, width, height, out, outHeight);
  else reduceRowsInJavaScript(pixels, width, height, out, outHeight);
  return out;
}

/** reduceRows without the C kernels (the arithmetic native/pixels.c copies). */
function reduceRowsInJavaScript(pixels: Uint8Array, width: number, height: number, out: Buffer, outHeight: number): void {
  const { points, rows, fixed } = reducePlan(width, height, outHeight);
  const stride = width * 3;
  // Weights are non-negative and sum to at most FIXED_ONE: no clamping below 0 is needed.
  // Shrinking by at most 1.5x always gives 4 points; the general loop is a guard.
  for (let o = 0, t = 0, at = 0; o < outHeight; o++, t += points, at += stride) {
    if (points === 4) {
      const k0 = fixed[t]!, k1 = fixed[t + 1]!, k2 = fixed[t + 2]!, k3 = fixed[t + 3]!;
      const r0 = rows[t]!, r1 = rows[t + 1]!, r2 = rows[t + 2]!, r3 = rows[t + 3]!;
      for (let z = 0; z < stride; z++) {
        const v = ((FIXED_ONE >> 1) + k0 * pixels[r0 + z]! + k1 * pixels[r1 + z]! + k2 * pixels[r2 + z]! + k3 * pixels[r3 + z]!) >> FIXED_SHIFT;
        out[at + z] = v > 255 ? 255 : v;
      }
    } else {
      for (let z = 0; z < stride; z++) {
        let v = FIXED_ONE >> 1;
        for (let i = 0; i < points; i++) v += fixed[t + i]! * pixels[rows[t + i]! + z]!;
        v >>= FIXED_SHIFT;
        out[at + z] = v > 255 ? 255 : v;
      }
    }
  }
}

/** The size a tiles view enlarges a poster to: `zoom` input widths wide, no side below the input size. */
function tilesSize(w: number, h: number, zoom: number, input: ViewInput): { width: number; height: number } {
  const scale = Math.max((zoom * input.width) / w, input.height / h, input.width / w);
  return { width: Math.round(w * scale), height: Math.round(h * scale) };
}

/** Tiles along one side: what `tileOffsets` gives. */
function tileCount(length: number, size: number): number {
  return length <= size ? 1 : Math.ceil(length / size);
}

/**
 * Backbone passes (input-size crops) one view costs for a poster of this
 * decoded size: what `renderView` will produce, known before decoding (a
 * server caps a request's cost with it). 0 for a shape every view refuses.
 *
 * @example
 *   viewPasses({ kind: 'tiles', zoom: 2 }, 224, 336, input) // -> 6
 *   viewPasses({ kind: 'native' }, 224, 336, input) // -> 1
 */
export function viewPasses(view: ViewSpec, width: number, height: number, input: ViewInput): number {
  if (!(width > 0 && height > 0) || Math.max(width / height, height / width) > MAX_ASPECT) return 0;
  if (view.kind !== 'tiles') return 1;
  const size = tilesSize(width, height, view.zoom, input);
  return tileCount(size.height, input.height) * tileCount(size.width, input.width);
}

const INTERPOLATE_SHIFT = 12;
const INTERPOLATE_ONE = 1 << INTERPOLATE_SHIFT;

/**
 * Enlarges an RGB image to `outWidth` x `outHeight` (neither smaller than
 * the input), bit for bit as sharp 0.35 / libvips 8.18 `resize(fit: 'fill',
 * kernel: 'linear')` does when nothing shrinks: an affine transform with the
 * bilinear interpolator and input pixels displaced by half a pixel (so an
 * axis that keeps its size still averages neighbours: output row 0 is the
 * mean of rows -1 and 0, the edges repeated). Positions follow libvips'
 * arithmetic to the last bit: scales 1 / (in / out), the inverse through
 * 1 / det, coordinates taken in the input embedded in a one-pixel border,
 * the column position accumulated along each row. Tests compare the two.
 */
export function enlarge(pixels: Uint8Array, width: number, height: number, outWidth: number, outHeight: number, into?: Buffer): Buffer {
  if (!(Number.isInteger(outWidth) && outWidth >= width)) throw invalidParameterError('outWidth', `a whole number from ${width}`, outWidth);
  if (!(Number.isInteger(outHeight) && outHeight >= height)) throw invalidParameterError('outHeight', `a whole number from ${height}`, outHeight);
  // libvips resamples nothing at scale 1 on both axes.
  if (outWidth === width && outHeight === height) return Buffer.from(pixels);
  const out = into && into.length >= outWidth * 3 * outHeight ? into : takeBuffer(outWidth * 3 * outHeight);
  if (nativeKernels) nativeKernels.enlarge(pixels, width, height, out, outWidth, outHeight);
  else enlargeInJavaScript(pixels, width, height, out, outWidth, outHeight);
  return out;
}

/** enlarge without the C kernels (the arithmetic native/pixels.c copies). */
function enlargeInJavaScript(pixels: Uint8Array, width: number, height: number, out: Buffer, outWidth: number, outHeight: number): void {
  const hscale = 1 / (width / outWidth);
  const vscale = 1 / (height / outHeight);
  const inverse = 1 / (hscale * vscale);
  const ia = inverse * vscale;
  const id = inverse * hscale;
  const left = new Int32Array(outWidth);
  const right = new Int32Array(outWidth);
  const fraction = new Int32Array(outWidth);
  let x = 0.5;
  for (let o = 0; o < outWidth; o++, x += ia) {
    const whole = Math.trunc(x);
    fraction[o] = Math.trunc((x - whole) * INTERPOLATE_ONE);
    left[o] = Math.min(width - 1, Math.max(0, whole - 1)) * 3;
    right[o] = Math.min(width - 1, whole) * 3;
  }
  const stride = width * 3;
  const outStride = outWidth * 3;
  // Per output row: the two source rows (byte offsets) and the y fraction.
  const rows0 = new Int32Array(outHeight);
  const rows1 = new Int32Array(outHeight);
  const yfraction = new Int32Array(outHeight);
  for (let oy = 0; oy < outHeight; oy++) {
    const y = id * oy + 0.5;
    const whole = Math.trunc(y);
    yfraction[oy] = Math.trunc((y - whole) * INTERPOLATE_ONE);
    rows0[oy] = Math.min(height - 1, Math.max(0, whole - 1)) * stride;
    rows1[oy] = Math.min(height - 1, whole) * stride;
  }
  const half = INTERPOLATE_ONE >> 1;
  for (let oy = 0; oy < outHeight; oy++) {
    const yf = yfraction[oy]!;
    const yd = INTERPOLATE_ONE - yf;
    const r0 = rows0[oy]!;
    const r1 = rows1[oy]!;
    let q = oy * outStride;
    for (let o = 0; o < outWidth; o++, q += 3) {
      const xf = fraction[o]!;
      const c4 = (yf * xf) >> INTERPOLATE_SHIFT;
      const c2 = (yd * xf) >> INTERPOLATE_SHIFT;
      const c3 = yf - c4;
      const c1 = yd - c2;
      const a0 = r0 + left[o]!;
      const b0 = r0 + right[o]!;
      const a1 = r1 + left[o]!;
      const b1 = r1 + right[o]!;
      // The weights sum to INTERPOLATE_ONE: the result stays within 0..255.
      out[q] = (c1 * pixels[a0]! + c2 * pixels[b0]! + c3 * pixels[a1]! + c4 * pixels[b1]! + half) >> INTERPOLATE_SHIFT;
      out[q + 1] = (c1 * pixels[a0 + 1]! + c2 * pixels[b0 + 1]! + c3 * pixels[a1 + 1]! + c4 * pixels[b1 + 1]! + half) >> INTERPOLATE_SHIFT;
      out[q + 2] = (c1 * pixels[a0 + 2]! + c2 * pixels[b0 + 2]! + c3 * pixels[a1 + 2]! + c4 * pixels[b1 + 2]! + half) >> INTERPOLATE_SHIFT;
    }
  }
}

/** Evenly spaced offsets of `count` windows of `size` covering `length`. */
function tileOffsets(length: number, size: number): number[] {
  if (length <= size) return [0];
  const count = tileCount(length, size);
  return Array.from({ length: count }, (_, i) => Math.round((i * (length - size)) / (count - 1)));
}

/** Copies a `width` x `height` window at (left, top) out of an RGB buffer. */
function cut(pixels: Buffer, stride: number, left: number, top: number, width: number, height: number): Crop {
  const out = takeBuffer(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * stride + left) * 3;
    pixels.copy(out, y * width * 3, from, from + width * 3);
  }
  return out;
}

/** Deterministic randomness seeded from a view seed and the poster's hash. */
function seededRandom(seed: number, contentHash: string): () => number {
  const random = new Random(seed ^ Number.parseInt(contentHash.slice(0, 8) || '0', 16));
  return () => random.next();
}

/** Brightness, contrast and saturation jitter, in place. */
export function jitterColours(crop: Crop, brightness: number, contrast: number, saturation: number): void {
  let sum = 0;
  for (let i = 0; i < crop.length; i++) sum += crop[i]!;
  const mean = sum / crop.length;
  for (let i = 0; i < crop.length; i += 3) {
    const r = crop[i]!;
    const g = crop[i + 1]!;
    const b = crop[i + 2]!;
    const grey = 0.299 * r + 0.587 * g + 0.114 * b;
    for (let c = 0; c < 3; c++) {
      let v = crop[i + c]!;
      v = grey + (v - grey) * saturation;
      v = mean + (v - mean) * contrast;
      crop[i + c] = Math.max(0, Math.min(255, Math.round(v * brightness)));
    }
  }
}

async function augment(poster: Poster, seed: number, input: ViewInput): Promise<Crop> {
  const random = seededRandom(seed, poster.contentHash);
  const between = (lo: number, hi: number) => lo + (hi - lo) * random();
  const degrees = between(-MAX_ROTATION_DEGREES, MAX_ROTATION_DEGREES);
  const zoom = between(0.85, 1);
  const { width: w, height: h } = poster;
  const rad = (Math.abs(degrees) * Math.PI) / 180;
  const [cos, sin] = [Math.cos(rad), Math.sin(rad)];
  // Largest centred rectangle of the poster's shape that stays inside the rotated poster.
  const fit = Math.min(w / (w * cos + h * sin), h / (w * sin + h * cos));
  const rotated = await raw(poster).rotate(degrees, { background: '#808080' }).raw().toBuffer({ resolveWithObject: true });
  const cropW = Math.max(1, Math.floor(w * fit * zoom));
  const cropH = Math.max(1, Math.floor(h * fit * zoom));
  const slackX = rotated.info.width - cropW;
  const slackY = rotated.info.height - cropH;
  // Stay within the region that excludes the rotated corners: centre +- the zoom slack.
  const left = Math.round(slackX / 2 + (random() - 0.5) * w * fit * (1 - zoom));
  const top = Math.round(slackY / 2 + (random() - 0.5) * h * fit * (1 - zoom));
  const crop = await sharp(rotated.data, { raw: { width: rotated.info.width, height: rotated.info.height, channels: 3 } })
    .extract({ left: clamp(left, 0, slackX), top: clamp(top, 0, slackY), width: cropW, height: cropH })
    .resize(input.width, input.height, { fit: 'fill', kernel: kernelOf(input) })
    .raw()
    .toBuffer();
  jitterColours(crop, between(0.9, 1.1), between(0.9, 1.1), between(0.85, 1.15));
  return crop;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, v));
}

/**
 * Renders a view of a decoded poster into input-size RGB crops.
 *
 * @example
 *   (await renderView(poster, { kind: 'tiles', zoom: 2 }, input)).length // -> 6 for a 2:3 poster
 */
export async function renderView(poster: Poster, view: ViewSpec, input: ViewInput): Promise<Crop[]> {
  const { width: w, height: h } = poster;
  const aspect = Math.max(w / h, h / w);
  if (aspect > MAX_ASPECT) {
    throw new PosterscopeError(
      'IMAGE_UNSUPPORTED',
      `${poster.source}: aspect ratio ${aspect >= 10 ? aspect.toFixed(0) : aspect.toFixed(1)}:1 (${w}x${h} decoded) is beyond ${MAX_ASPECT}:1; posters this thin or this wide are refused`,
      { subject: poster.source },
    );
  }
  switch (view.kind) {
    case 'native':
      if (input.policy === 'squash') return [await squashPoster(poster, input)];
      return [
        await raw(poster)
          .resize(input.width, input.height, { fit: 'cover', position: 'centre', kernel: kernelOf(input) })
          .raw()
          .toBuffer(),
      ];
    case 'full':
      return [await squashPoster(poster, input)];
    case 'crop': {
      const side = Math.min(w, h);
      const top = view.anchor === 'top' ? 0 : view.anchor === 'bottom' ? h - side : Math.floor((h - side) / 2);
      const left = Math.floor((w - side) / 2);
      if (side === input.width && side === input.height) return [cut(poster.pixels, w, left, top, side, side)];
      return [await squash(raw(poster).extract({ left, top, width: side, height: side }), input)];
    }
    case 'tiles': {
      const { width, height } = tilesSize(w, h, view.zoom, input);
      let big: Buffer;
      if (input.kernel === 'linear' && width >= w && height >= h) {
        // Enlarged into a reused buffer: the tiles are cut from it before anything else runs.
        if (enlargeScratch.length < width * height * 3) enlargeScratch = Buffer.allocUnsafe(width * height * 3);
        big = enlarge(poster.pixels, w, h, width, height, enlargeScratch);
      } else {
        big = await raw(poster).resize(width, height, { fit: 'fill', kernel: kernelOf(input) }).raw().toBuffer();
      }
      const crops: Crop[] = [];
      for (const top of tileOffsets(height, input.height)) {
        for (const left of tileOffsets(width, input.width)) crops.push(cut(big, width, left, top, input.width, input.height));
      }
      return crops;
    }
    case 'aug':
      return [await augment(poster, view.seed, input)];
  }
}

/** Per-channel lookup tables turning a byte into its normalised float. */
export function normalizationTables(n: { scale: number; mean: readonly number[]; std: readonly number[] }): Float32Array[] {
  return [0, 1, 2].map((c) => {
    const table = new Float32Array(256);
    for (let v = 0; v < 256; v++) table[v] = (v * n.scale - n.mean[c]!) / n.std[c]!;
    return table;
  });
}

/**
 * Writes a crop, normalised, into slot `index` of a batch tensor.
 * NCHW puts each channel in its own plane; NHWC keeps pixels interleaved.
 */
export function writeCrop(
  crop: Crop,
  tables: Float32Array[],
  layout: 'NCHW' | 'NHWC',
  batch: Float32Array,
  index: number,
): void {
  const [t0, t1, t2] = tables as [Float32Array, Float32Array, Float32Array];
  if (nativeKernels) {
    nativeKernels.writeCrop(crop, t0, t1, t2, layout === 'NCHW', batch, index);
    return;
  }
  const plane = crop.length / 3;
  const base = index * crop.length;
  if (layout === 'NCHW') {
    for (let i = 0, p = 0; i < plane; i++, p += 3) {
      batch[base + i] = t0[crop[p]!]!;
      batch[base + plane + i] = t1[crop[p + 1]!]!;
      batch[base + 2 * plane + i] = t2[crop[p + 2]!]!;
    }
  } else {
    for (let p = 0; p < crop.length; p += 3) {
      batch[base + p] = t0[crop[p]!]!;
      batch[base + p + 1] = t1[crop[p + 1]!]!;
      batch[base + p + 2] = t2[crop[p + 2]!]!;
    }
  }
}
