/**
 * The C pixel kernels (`native/pixels.c`), when `npm install` could build
 * them (it needs a C compiler; node-gyp runs at install). They do the inner
 * loops of views.ts's enlarge, reduceRows and writeCrop with the arithmetic
 * JavaScript does, bit for bit; without them the JavaScript loops run and
 * nothing else changes. POSTERSCOPE_NATIVE=0 turns them off.
 */
import { createRequire } from 'node:module';

export interface PixelKernels {
  enlarge(
    pixels: Uint8Array,
    width: number,
    left: Int32Array,
    right: Int32Array,
    fraction: Int32Array,
    rows0: Int32Array,
    rows1: Int32Array,
    yfraction: Int32Array,
    out: Uint8Array,
    outWidth: number,
    outHeight: number,
  ): void;
  reduceRows(pixels: Uint8Array, stride: number, rows: Int32Array, weights: Int32Array, taps: number, out: Uint8Array, outHeight: number): void;
  writeCrop(crop: Uint8Array, t0: Float32Array, t1: Float32Array, t2: Float32Array, nchw: boolean, batch: Float32Array, index: number): void;
}

function load(): PixelKernels | undefined {
  if (process.env.POSTERSCOPE_NATIVE === '0') return undefined;
  try {
    // Two levels below the package root from src/image and from dist/image alike.
    return createRequire(import.meta.url)('../../build/Release/posterscope_pixels.node') as PixelKernels;
  } catch {
    return undefined;
  }
}

/** The kernels, or undefined when they were not built (or are turned off). */
export const nativeKernels: PixelKernels | undefined = load();
