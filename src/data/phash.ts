/**
 * Perceptual hashes for finding the same poster saved twice: resized,
 * re-encoded or lightly retouched copies get hashes a few bits apart, while
 * unrelated posters differ in about half of their 64 bits.
 *
 * The hash is the classic DCT pHash: the poster in greyscale squashed to
 * 32x32, a 2-D DCT-II, and one bit per low-frequency coefficient (the top-left
 * 8x8, row-major, first bit = most significant) telling whether it is above the
 * median of those 64 coefficients. Written as 16 lower-case hex digits.
 */
import sharp from 'sharp';
import { invalidParameterError } from '../errors.js';
import { type DecodeOptions, decodePoster } from '../image/poster.js';

const SIZE = 32;
const LOW = 8;

/** Decoded RGB pixels, like a `Poster`. */
export interface RgbImage {
  width: number;
  height: number;
  /** width*height*3 bytes, RGB interleaved. */
  pixels: Buffer;
}

// COS[k * SIZE + n] = cos(pi / SIZE * (n + 0.5) * k), for the LOW frequencies only.
const COS = Float64Array.from({ length: LOW * SIZE }, (_, i) => Math.cos((Math.PI / SIZE) * ((i % SIZE) + 0.5) * Math.floor(i / SIZE)));

function isRgbImage(input: unknown): input is RgbImage {
  const image = input as RgbImage;
  return (
    typeof input === 'object' && input !== null && !Buffer.isBuffer(input) && Number.isInteger(image.width) && Number.isInteger(image.height) &&
    image.width > 0 && image.height > 0 && Buffer.isBuffer(image.pixels) && image.pixels.length === image.width * image.height * 3
  );
}

/** 64 bits from a 32x32 greyscale thumbnail. */
function hashThumbnail(grey: Buffer): string {
  // Separable DCT, computing only the 8 lowest frequencies in each direction.
  const rows = new Float64Array(SIZE * LOW);
  for (let y = 0; y < SIZE; y++) {
    for (let k = 0; k < LOW; k++) {
      let sum = 0;
      for (let x = 0; x < SIZE; x++) sum += grey[y * SIZE + x]! * COS[k * SIZE + x]!;
      rows[y * LOW + k] = sum;
    }
  }
  const coefficients = new Float64Array(LOW * LOW);
  for (let v = 0; v < LOW; v++) {
    for (let u = 0; u < LOW; u++) {
      let sum = 0;
      for (let y = 0; y < SIZE; y++) sum += rows[y * LOW + u]! * COS[v * SIZE + y]!;
      coefficients[v * LOW + u] = sum;
    }
  }
  const sorted = Float64Array.from(coefficients).sort();
  const median = (sorted[31]! + sorted[32]!) / 2;
  let hex = '';
  for (let nibble = 0; nibble < 16; nibble++) {
    let value = 0;
    for (let bit = 0; bit < 4; bit++) value = (value << 1) | (coefficients[nibble * 4 + bit]! > median ? 1 : 0);
    hex += value.toString(16);
  }
  return hex;
}

/**
 * The 64-bit DCT perceptual hash of a poster: a file path or encoded bytes
 * (decoded with `decodePoster`, so bad files throw its `PosterscopeError`s),
 * or already-decoded RGB pixels such as a `Poster`.
 *
 * @example
 *   await perceptualHash('posters/tt0084867.jpg')                    // -> '9def12006a3f2bc6'
 *   await perceptualHash(await decodePoster('posters/tt0084867.jpg'))  // -> '9def12006a3f2bc6' (from pixels already decoded)
 */
export async function perceptualHash(input: string | Buffer | RgbImage, options?: DecodeOptions): Promise<string> {
  let image: RgbImage;
  if (isRgbImage(input)) image = input;
  else if (typeof input === 'string' || Buffer.isBuffer(input)) image = await decodePoster(input, { maxSide: 256, ...options });
  else throw invalidParameterError('input', 'file path, encoded image Buffer or { width, height, pixels } RGB image', input);
  const grey = await sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 3 } })
    .greyscale()
    .resize(SIZE, SIZE, { fit: 'fill', kernel: 'cubic' })
    .raw()
    .toBuffer();
  return hashThumbnail(grey);
}

function checkHash(name: string, hash: unknown): string {
  if (typeof hash !== 'string' || !/^[0-9a-f]{16}$/i.test(hash)) throw invalidParameterError(name, '16 hex digits (a 64-bit perceptual hash)', hash);
  return hash;
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}

/**
 * Number of differing bits between two perceptual hashes (0 to 64).
 *
 * @example
 *   hammingDistance('9def12006a3f2bc6', 'b6854df2704bbb06') // -> 30 (tt0084867 vs tt0151137: unrelated posters)
 *   hammingDistance('9def12006a3f2bc6', '9def12006a3f2bc4') // -> 1
 */
export function hammingDistance(a: string, b: string): number {
  checkHash('a', a);
  checkHash('b', b);
  return popcount((parseInt(a.slice(0, 8), 16) ^ parseInt(b.slice(0, 8), 16)) >>> 0) + popcount((parseInt(a.slice(8), 16) ^ parseInt(b.slice(8), 16)) >>> 0);
}

/** A pair of near-identical hashes: indices into the list given, `a < b`. */
export interface NearPair {
  a: number;
  b: number;
  distance: number;
}

/**
 * Every pair of hashes at most `maxDistance` bits apart (identical hashes
 * included), by brute force over 32-bit halves: 6,000 hashes take ~50 ms.
 *
 * @example
 *   nearPairs(['d5c3b6f0a9f19281', 'ffffffff00000000', 'd5c3b6f0a9f19283'], 4)
 *   // -> [{ a: 0, b: 2, distance: 1 }]
 */
export function nearPairs(hashes: readonly string[], maxDistance: number): NearPair[] {
  if (!Number.isInteger(maxDistance) || maxDistance < 0 || maxDistance > 64) throw invalidParameterError('maxDistance', 'integer between 0 and 64', maxDistance);
  const n = hashes.length;
  const hi = new Uint32Array(n);
  const lo = new Uint32Array(n);
  hashes.forEach((hash, i) => {
    checkHash(`hashes[${i}]`, hash);
    hi[i] = parseInt(hash.slice(0, 8), 16);
    lo[i] = parseInt(hash.slice(8), 16);
  });
  const pairs: NearPair[] = [];
  for (let a = 0; a < n; a++) {
    const h = hi[a]!;
    const l = lo[a]!;
    for (let b = a + 1; b < n; b++) {
      const distance = popcount((h ^ hi[b]!) >>> 0) + popcount((l ^ lo[b]!) >>> 0);
      if (distance <= maxDistance) pairs.push({ a, b, distance });
    }
  }
  return pairs;
}
