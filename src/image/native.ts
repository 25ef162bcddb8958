/**
 * The C parts, when `npm install` could build them (node-gyp runs at
 * install; scripts/build-native.mjs). Each has a fallback that gives the same
 * bytes, so nothing but CPU depends on them; POSTERSCOPE_NATIVE=0 turns both off.
 * - The pixel kernels (`native/pixels.c`): views.ts's enlarge, reduceRows
 *   and writeCrop, with the arithmetic its JavaScript does, bit for bit.
 *   Needs a C compiler; else the JavaScript runs.
 * - The JPEG decoder (`native/jpeg.c`): the system's libjpeg-turbo, set as
 *   sharp's libvips sets it, decoding into a buffer we own. Needs
 *   libjpeg-turbo's headers at install; else jpeg.ts's WebAssembly decoder runs.
 */
import { createHash } from 'node:crypto';
import { loadAddon } from '../native.js';

export interface PixelKernels {
  /** RGB `width` x `height` to `outWidth` x `outHeight` (neither smaller) in `out`, as views.ts's enlarge. */
  enlarge(pixels: Uint8Array, width: number, height: number, out: Uint8Array, outWidth: number, outHeight: number): void;
  /** RGB rows shrunk from `height` to `outHeight` (by 1.5x at most) in `out`, as views.ts's reduceRows. */
  reduceRows(pixels: Uint8Array, width: number, height: number, out: Uint8Array, outHeight: number): void;
  writeCrop(crop: Uint8Array, t0: Float32Array, t1: Float32Array, t2: Float32Array, nchw: boolean, batch: Float32Array, index: number): void;
}

export interface JpegDecoder {
  /**
   * Decodes to interleaved RGB in out; false on any libjpeg warning or error,
   * another size, or more than maxScans (default 500) progressive scans: each
   * is a pass over the whole image, and a crafted file holds thousands.
   * A progressive file's scans go through posterscope's own entropy decoder
   * (native/phuff.c: same coefficients, less CPU) unless fast is false; where
   * it meets what it does not copy from libjpeg, libjpeg decodes the file again.
   */
  decode(bytes: Uint8Array, out: Uint8Array, width: number, height: number, maxScans?: number, fast?: boolean): boolean;
  /** How many decodes native/phuff.c gave up on (libjpeg redid them) since the addon was loaded. */
  fallbacks(): number;
}

/** The kernels, or undefined when they were not built (or are turned off). */
export const nativeKernels: PixelKernels | undefined = loadAddon<PixelKernels>('posterscope_pixels');

/**
 * A 23x19 4:2:0 JPEG and the SHA-256 of sharp's RGB pixels for it. The
 * libjpeg-turbo found at run time must reproduce them before it is used: a
 * different build (another version's upsampling, say) falls back rather than
 * give pixels sharp would not.
 */
const PROBE =
  '/9j/2wBDAAoHBwgHBgoICAgLCgoLDhgQDg0NDh0VFhEYIx8lJCIfIiEmKzcvJik0KSEiMEExNDk7Pj4+JS5ESUM8SDc9Pjv/2wBDAQoLCw4NDhwQEBw7KCIoOzs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozv/wAARCAATABcDASIAAhEBAxEB/8QAGQABAQADAQAAAAAAAAAAAAAAAAUBAwQG/8QAJxAAAgIBAwQBBAMAAAAAAAAAAQIDEQQAEiEFEyIxQSNCUWFxgZH/xAAZAQACAwEAAAAAAAAAAAAAAAACBAEDBQb/xAArEQABAgQCCAcAAAAAAAAAAAABAhEAAwQhQXETIjFRgaGx8AUSM2GRwfH/2gAMAwEAAhEDEQA/AKPSek40T7oY41VTbRJJyQ3wbPF1/VD96x1/q6wY+PJjzLMAV7MSwSIWBryD+qUCQgqaPr1d85ZoBmxGYRZWaFAeJjLJkKGsEDyAHbulBFfjldsxcdsXqMw2NEsk25VhYoJDGCwtSQOOBZ5PNmzYpQCs6Reqkc8uycLQSwKcFa1ObNyfA7OHvuM9sfL6rJ33kxpZWO6R1XbRKqCL21XgDZ93+zbXosaKGDZC8qKJPqF0dV7fu/Ehq4KegeGApQeWpm1EhJYEcQr6DdMoRKJ1QdIlmyf8jikhiUCRYkDLGteI+5ZSw/ix61U6RBGcCI7a3jyCkhTd/A4+T/ummgrCVJ1r2PUQx4t6p72+V/mNGN1DJizceJGRVKp6iW/OMu3NXRYA6aaa0ZkqWES2SLpGEdFR0shcp1IBucBvj//Z';
const PROBE_PIXELS = '52fa2e2c6a8967f4b49539148e4fa86c51c5b50cdd558800f38f51bf6f69de70';

function checked(decoder: JpegDecoder | undefined): JpegDecoder | undefined {
  if (!decoder) return undefined;
  const out = new Uint8Array(23 * 19 * 3);
  const ok = decoder.decode(Buffer.from(PROBE, 'base64'), out, 23, 19);
  return ok && createHash('sha256').update(out).digest('hex') === PROBE_PIXELS ? decoder : undefined;
}

/** The libjpeg-turbo decoder, or undefined when it was not built, is turned off, or fails the probe. */
export const nativeJpeg: JpegDecoder | undefined = checked(loadAddon<JpegDecoder>('posterscope_jpeg'));
