/**
 * The lean path for the common poster: a small, plain JPEG.
 *
 * sharp spends 2-3 ms of CPU per call on set-up around a decode that takes
 * libjpeg well under 1 ms for a 224x330 poster (bench:embed --profile). For
 * JPEGs that need none of what sharp adds (no EXIF orientation, no ICC
 * profile, no Adobe colour transform, 8-bit 3-component Huffman, already
 * within maxSide) this module reads the frame header and decodes with the
 * system's libjpeg-turbo through native/jpeg.c when it was built (about 0.45
 * core-ms for a poster, straight into our buffer; a progressive file's scans
 * go through native/phuff.c, a faster entropy decoder giving the same
 * coefficients), else with mozjpeg
 * compiled to WebAssembly (1.3 core-ms and an RGBA copy). Both are the
 * decoder family sharp's libvips uses, with its defaults (accurate integer
 * IDCT, fancy upsampling), so the pixels are bit-identical (checked on every
 * poster of ../shared, and by unit tests against sharp). Anything unusual —
 * and any warning the decoder prints — goes back to sharp, which then gives
 * the one-line error.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { recycleBuffer, takeBuffer } from './buffers.js';
import { nativeJpeg } from './native.js';

/** What the frame header says, read without decoding a pixel. */
export interface JpegHeader {
  width: number;
  height: number;
  components: number;
  /** True when the lean decoder gives exactly sharp's pixels for this file. */
  plain: boolean;
}

const SOF_PLAIN = new Set([0xc0, 0xc1, 0xc2]);
const SOF_ANY = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

const startsWith = (bytes: Uint8Array, at: number, text: string): boolean => {
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
  return true;
};

/**
 * Reads a JPEG's markers up to its frame header. Undefined when the bytes are
 * not a JPEG or the header is damaged (sharp then decides what is wrong).
 *
 * @example
 *   readJpegHeader(bytes) // -> { width: 224, height: 332, components: 3, plain: true }
 */
export function readJpegHeader(bytes: Uint8Array): JpegHeader | undefined {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  let plain = true;
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return undefined;
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return undefined; // image data before a frame header
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    if (length < 2 || at + 2 + length > bytes.length) return undefined;
    const body = at + 4;
    if (marker === 0xe1 && startsWith(bytes, body, 'Exif')) plain = false; // orientation: sharp rotates
    if (marker === 0xe2 && startsWith(bytes, body, 'ICC_PROFILE')) plain = false; // sharp converts to sRGB
    if (marker === 0xee && startsWith(bytes, body, 'Adobe')) plain = false; // CMYK / colour transform
    if (SOF_ANY.has(marker)) {
      if (length < 8) return undefined;
      const precision = bytes[body]!;
      const height = (bytes[body + 1]! << 8) | bytes[body + 2]!;
      const width = (bytes[body + 3]! << 8) | bytes[body + 4]!;
      const components = bytes[body + 5]!;
      if (width === 0 || height === 0) return undefined;
      return { width, height, components, plain: plain && SOF_PLAIN.has(marker) && precision === 8 && components === 3 };
    }
    at += 2 + length;
  }
  return undefined;
}

interface MozJpegModule {
  decode(data: Uint8Array, preserveOrientation: boolean): { data: Uint8ClampedArray; width: number; height: number } | null;
}
type ModuleFactory = (overrides: Record<string, unknown>) => Promise<MozJpegModule>;

const require = createRequire(import.meta.url);
let compiled: { factory: ModuleFactory; wasm: WebAssembly.Module } | undefined;
let instance: Promise<MozJpegModule> | undefined;
/** What the decoder printed during the current call: libjpeg warnings ("Premature end of JPEG file") and errors. */
let messages: string[] = [];
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

async function decoder(): Promise<MozJpegModule> {
  if (!compiled) {
    const wasm = new WebAssembly.Module(readFileSync(require.resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm')));
    const glue = await import('@jsquash/jpeg/codec/dec/mozjpeg_dec.js');
    compiled = { factory: glue.default as unknown as ModuleFactory, wasm };
  }
  const { factory, wasm } = compiled;
  instance ??= factory({
    noInitialRun: true,
    print: (line: string) => messages.push(line),
    printErr: (line: string) => messages.push(line),
    instantiateWasm: (imports: WebAssembly.Imports, done: (instance: WebAssembly.Instance) => void) => {
      const created = new WebAssembly.Instance(wasm, imports);
      done(created);
      return created.exports;
    },
  });
  return instance;
}

/** Which decoder decodePlainJpeg uses: libjpeg-turbo when it was built, else WebAssembly (tests name one). */
export type JpegDecoderName = 'libjpeg-turbo' | 'wasm';
export const defaultDecoder: JpegDecoderName = nativeJpeg ? 'libjpeg-turbo' : 'wasm';

/**
 * Decodes a plain JPEG (see `readJpegHeader`) to interleaved RGB, or returns
 * undefined when the decoder reports anything at all — a warning included —
 * so the caller can let sharp produce the canonical result or error.
 *
 * @example
 *   const rgb = await decodePlainJpeg(bytes, header); // -> <Buffer …> of 224*332*3 bytes
 */
export async function decodePlainJpeg(bytes: Uint8Array, header: JpegHeader, via: JpegDecoderName = defaultDecoder): Promise<Buffer | undefined> {
  if (via === 'libjpeg-turbo' && nativeJpeg) {
    const pixels = takeBuffer(header.width * header.height * 3);
    if (nativeJpeg.decode(bytes, pixels, header.width, header.height)) return pixels;
    recycleBuffer(pixels);
    return undefined;
  }
  const module = await decoder();
  messages = [];
  let image: ReturnType<MozJpegModule['decode']>;
  try {
    image = module.decode(bytes, false);
  } catch {
    // libjpeg's error exit ends the emscripten program; start a fresh instance next time.
    instance = undefined;
    return undefined;
  }
  if (!image || messages.length > 0 || image.width !== header.width || image.height !== header.height) return undefined;
  const count = image.width * image.height;
  const pixels = takeBuffer(count * 3);
  const data = image.data;
  if (data.byteOffset % 4 === 0 && LITTLE_ENDIAN) {
    // One 32-bit read per RGBA pixel (R in the low byte); byte stores keep the low 8 bits.
    const words = new Uint32Array(data.buffer, data.byteOffset, count);
    for (let i = 0, q = 0; i < count; i++, q += 3) {
      const v = words[i]!;
      pixels[q] = v;
      pixels[q + 1] = v >>> 8;
      pixels[q + 2] = v >>> 16;
    }
  } else {
    for (let p = 0, q = 0; q < pixels.length; p += 4, q += 3) {
      pixels[q] = data[p]!;
      pixels[q + 1] = data[p + 1]!;
      pixels[q + 2] = data[p + 2]!;
    }
  }
  return pixels;
}
