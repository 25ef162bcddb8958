/**
 * Test fixtures made on the fly: tiny posters encoded with sharp into a temp
 * dir, and hand-crafted hostile files. Nothing binary is committed.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import { crc32 } from '../../src/embed/crc32.js';

/** CRC-32 as PNG chunks use it: the project's own implementation. */
export { crc32 };

/**
 * A scratch directory for one test file; `remove()` it in `after()`.
 *
 * @example
 *   const dir = await makeTempDir();
 *   const path = await dir.write('a.txt', Buffer.from('hi')); // -> '/tmp/posterscope-Xq3/a.txt'
 */
export interface TempDir {
  path: string;
  /** Absolute path of `name` inside the dir (the file need not exist). */
  file(name: string): string;
  /** Writes `bytes` to `name` and returns its absolute path. */
  write(name: string, bytes: Buffer | string): Promise<string>;
  remove(): Promise<void>;
}

/** @example const dir = await makeTempDir('poster-test-'); */
export async function makeTempDir(prefix = 'posterscope-'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return {
    path,
    file: (name) => join(path, name),
    write: async (name, bytes) => {
      const target = join(path, name);
      await writeFile(target, bytes);
      return target;
    },
    remove: () => rm(path, { recursive: true, force: true }),
  };
}

/**
 * Empty files named `names` in `folder` (created if needed): enough where only
 * names, links and existence matter.
 *
 * @example
 *   await touchFiles(dir.file('posters'), 'tt1.jpg', 'tt2.PNG');
 */
export async function touchFiles(folder: string, ...names: string[]): Promise<void> {
  await mkdir(folder, { recursive: true });
  for (const name of names) await writeFile(join(folder, name), '');
}

export type Rgb = readonly [number, number, number];
export type Rgba = readonly [number, number, number, number];

/**
 * Raw interleaved pixels where `paint(x, y)` gives each pixel's colour.
 *
 * @example
 *   rawImage(2, 1, (x) => (x === 0 ? [255, 0, 0] : [0, 0, 255])) // -> <Buffer ff 00 00 00 00 ff>
 */
export function rawImage(width: number, height: number, paint: (x: number, y: number) => Rgb | Rgba): Buffer {
  const channels = paint(0, 0).length;
  const out = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const c = paint(x, y);
      for (let k = 0; k < channels; k++) out[(y * width + x) * channels + k] = c[k] as number;
    }
  }
  return out;
}

/**
 * A sharp pipeline over painted pixels, ready for `.png()`, `.jpeg()` etc.
 *
 * @example
 *   const png = await painted(4, 4, () => [255, 0, 0]).png().toBuffer();
 */
export function painted(width: number, height: number, paint: (x: number, y: number) => Rgb | Rgba): Sharp {
  const channels = paint(0, 0).length as 3 | 4;
  return sharp(rawImage(width, height, paint), { raw: { width, height, channels } });
}

/**
 * Deterministic pseudo-random noise, so JPEG scan data is big enough to cut in half.
 *
 * @example const jpeg = await painted(64, 64, noise(1)).jpeg().toBuffer();
 */
export function noise(seed: number): (x: number, y: number) => Rgb {
  return (x, y) => {
    const h = (Math.imul(x + 1, 73856093) ^ Math.imul(y + 1, 19349663) ^ Math.imul(seed, 83492791)) >>> 0;
    return [h & 0xff, (h >>> 8) & 0xff, (h >>> 16) & 0xff];
  };
}

/**
 * An animated GIF whose frames are solid colours.
 *
 * @example const gif = await animatedGif(8, 6, [[255, 0, 0], [0, 0, 255]]);
 */
export async function animatedGif(width: number, height: number, frames: Rgb[]): Promise<Buffer> {
  const pngs = await Promise.all(frames.map((c) => painted(width, height, () => c).png().toBuffer()));
  return sharp(pngs, { join: { animated: true } }).gif().toBuffer();
}


/** @example pngChunk('IEND', Buffer.alloc(0)) // -> <Buffer 00 00 00 00 49 45 4e 44 ae 42 60 82> */
export function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typeAndData = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndData));
  return Buffer.concat([length, typeAndData, crc]);
}

/**
 * A "decompression bomb": a PNG whose header claims `width`x`height` 1-bit grey
 * pixels but whose IDAT holds only a few rows. A few dozen bytes on disk; decoding
 * it for real would need width*height*3 bytes.
 *
 * @example craftedHugePng(30000, 30000).length // -> 94
 */
export function craftedHugePng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // colour type: greyscale
  // compression, filter and interlace methods stay 0
  const rowBytes = 1 + Math.ceil(width / 8);
  const idat = deflateSync(Buffer.alloc(rowBytes * 4));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', idat),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * The start of an ISO-BMFF file with the given brands, enough for format sniffing.
 *
 * @example isoMediaHeader('heic', ['mif1', 'heic']) // -> <Buffer 00 00 00 18 66 74 79 70 68 65 69 63 …>
 */
export function isoMediaHeader(major: string, compatible: string[]): Buffer {
  const size = 16 + 4 * compatible.length;
  const box = Buffer.alloc(size);
  box.writeUInt32BE(size, 0);
  box.write('ftyp', 4, 'latin1');
  box.write(major, 8, 'latin1');
  compatible.forEach((b, i) => box.write(b, 16 + 4 * i, 'latin1'));
  return Buffer.concat([box, Buffer.alloc(64)]);
}

/**
 * The RGB triple at (x, y) of an interleaved 3-channel image.
 *
 * @example pixelAt({ width: 1, pixels: Buffer.from([1, 2, 3]) }, 0, 0) // -> [1, 2, 3]
 */
export function pixelAt(image: { width: number; pixels: Buffer }, x: number, y: number): [number, number, number] {
  const i = (y * image.width + x) * 3;
  return [image.pixels[i] as number, image.pixels[i + 1] as number, image.pixels[i + 2] as number];
}
