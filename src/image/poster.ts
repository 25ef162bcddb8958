/**
 * Turning poster files into pixels: read, hash, sniff, bound-check and decode
 * untrusted images into one canonical layout (8-bit sRGB RGB, HWC).
 *
 * Error codes, all `PosterscopeError` with a one-line message naming the file:
 * - IMAGE_NOT_FOUND: no such file (or it cannot be opened).
 * - IMAGE_IS_DIRECTORY: the path is a directory.
 * - IMAGE_EMPTY: zero bytes.
 * - IMAGE_UNSUPPORTED: not one of the accepted formats, including "not an image at all".
 * - IMAGE_CORRUPT: an accepted format whose data is truncated or damaged.
 * - IMAGE_TOO_LARGE: more than `maxBytes` bytes or `maxPixels` pixels.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { getSystemErrorName } from 'node:util';
import sharp, {
  type FailOnOptions,
  type FormatEnum,
  type Metadata,
  type OutputInfo,
  type SharpOptions,
} from 'sharp';

import { PosterscopeError, checkInteger, invalidParameterError, posterLabel } from '../errors.js';
import { type NativeRead, nativeFile } from '../native.js';
import { printable } from '../printable.js';
import { recycleBuffer, takeBuffer } from './buffers.js';
import { decodePlainJpeg, readJpegHeader } from './jpeg.js';

/**
 * A decoded poster: 8-bit sRGB, 3 channels, interleaved HWC, EXIF orientation
 * applied, alpha flattened (onto white), grey expanded to RGB.
 *
 * @example
 *   const poster = await decodePoster('tt0084867.jpg');
 *   // -> { source: 'tt0084867.jpg', contentHash: '5592e439…1183', width: 224, height: 312, pixels: <Buffer … 209664 bytes> }
 */
export interface Poster {
  /** Where it came from (file path, or '<buffer>'). */
  source: string;
  /** sha256 hex of the encoded bytes (the file's content) – used as cache key. */
  contentHash: string;
  width: number;
  height: number;
  /** width*height*3 bytes, RGB interleaved. */
  pixels: Buffer;
}

/**
 * Limits applied to untrusted poster files.
 *
 * @example
 *   await decodePoster('scan.tif', { maxPixels: 200_000_000, maxSide: 512 });
 */
export interface DecodeOptions {
  /** Refuse images with more pixels than this (width*height), before decoding any pixel. Default 50_000_000. */
  maxPixels?: number;
  /** Largest encoded size accepted, bytes. Default 50 MiB (52_428_800). */
  maxBytes?: number;
  /**
   * Shrink so the poster fits within maxSide x maxSide, keeping the aspect
   * ratio, only if it is larger; smaller images are never enlarged. Default 1024.
   */
  maxSide?: number;
}

/** Defaults for {@link DecodeOptions}. */
export const DEFAULT_DECODE_OPTIONS: Readonly<Required<DecodeOptions>> = Object.freeze({
  maxPixels: 50_000_000,
  maxBytes: 50 * 1024 * 1024,
  maxSide: 1024,
});

type AcceptedFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif';

interface FormatFacts {
  label: string;
  /** What sharp's metadata() reports for it. */
  sharpFormat: keyof FormatEnum;
}

const FORMATS: Readonly<Record<AcceptedFormat, FormatFacts>> = {
  jpeg: { label: 'JPEG', sharpFormat: 'jpeg' },
  png: { label: 'PNG', sharpFormat: 'png' },
  webp: { label: 'WebP', sharpFormat: 'webp' },
  gif: { label: 'GIF', sharpFormat: 'gif' },
  tiff: { label: 'TIFF', sharpFormat: 'tiff' },
  avif: { label: 'AVIF', sharpFormat: 'heif' },
};

// libvips' operation cache (up to 50 MB by default) only helps when the same
// image is processed twice; posterscope never does that, and in a long-running
// server the cache shows up as resident memory that does not come back.
sharp.cache(false);

// Decided once from the installed libvips build, so a sharp without (say) AVIF
// reports AVIF as unsupported instead of failing later as "corrupt".
const READABLE = new Set<AcceptedFormat>(
  (Object.keys(FORMATS) as AcceptedFormat[]).filter((f) => sharp.format[FORMATS[f].sharpFormat]?.input.buffer === true),
);
const ACCEPTED_LIST = [...READABLE].map((f) => FORMATS[f].label).join(', ');

type Sniffed =
  | { kind: 'accepted'; format: AcceptedFormat }
  | { kind: 'refused'; label: string; why?: string }
  | { kind: 'unknown' };

const ascii = (bytes: Buffer, start: number, end: number): string => bytes.toString('latin1', start, end);

// ISO-BMFF ('ftyp' box) brands: AVIF and HEIC share a container, only the codec differs.
const AVIF_BRANDS = new Set(['avif', 'avis']);
const HEIC_BRANDS = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'hevm', 'hevs']);

function sniffIsoMedia(bytes: Buffer): Sniffed {
  const boxSize = bytes.readUInt32BE(0);
  const end = Math.min(bytes.length, boxSize >= 16 ? boxSize : 16, 4096);
  const brands = [ascii(bytes, 8, 12)];
  for (let at = 16; at + 4 <= end; at += 4) brands.push(ascii(bytes, at, at + 4));
  if (brands.some((b) => AVIF_BRANDS.has(b))) return { kind: 'accepted', format: 'avif' };
  if (brands.some((b) => HEIC_BRANDS.has(b) || b === 'mif1')) {
    return { kind: 'refused', label: 'HEIC', why: 'its HEVC codec is not available; convert it to JPEG or AVIF' };
  }
  return { kind: 'refused', label: `ISO media (brand "${brands[0]?.trim()}")`, why: 'this is a video/container file' };
}

/** Decides the format from magic bytes only; file names are never trusted. */
function sniffFormat(bytes: Buffer): Sniffed {
  const startsWith = (...sig: number[]): boolean => sig.every((b, i) => bytes[i] === b);
  if (startsWith(0xff, 0xd8, 0xff)) return { kind: 'accepted', format: 'jpeg' };
  if (startsWith(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return { kind: 'accepted', format: 'png' };
  const head = ascii(bytes, 0, 12);
  if (head.startsWith('GIF87a') || head.startsWith('GIF89a')) return { kind: 'accepted', format: 'gif' };
  if (head.startsWith('RIFF') && head.slice(8, 12) === 'WEBP') return { kind: 'accepted', format: 'webp' };
  // Classic and BigTIFF, both byte orders.
  if (['II*\0', 'MM\0*', 'II+\0', 'MM\0+'].includes(head.slice(0, 4))) return { kind: 'accepted', format: 'tiff' };
  if (bytes.length >= 12 && head.slice(4, 8) === 'ftyp') return sniffIsoMedia(bytes);

  if (head.startsWith('%PDF')) return { kind: 'refused', label: 'PDF' };
  if (head.startsWith('8BPS')) return { kind: 'refused', label: 'Photoshop (PSD)' };
  if (startsWith(0xff, 0x4f, 0xff, 0x51) || head === '\0\0\0\x0cjP  \r\n') return { kind: 'refused', label: 'JPEG 2000' };
  if (startsWith(0xff, 0x0a) || head === '\0\0\0\x0cJXL \r\n') return { kind: 'refused', label: 'JPEG XL' };
  if (head.startsWith('BM') && bytes.length >= 18 && [12, 40, 52, 56, 64, 108, 124].includes(bytes.readUInt32LE(14))) {
    return { kind: 'refused', label: 'BMP' };
  }
  // sharp would happily render SVG through librsvg, a large attack surface (XML
  // parsing, fonts, filters) for no gain: posters are raster images.
  const text = ascii(bytes, 0, 1024).replace(/^\xef\xbb\xbf/, '').trimStart();
  if (text.startsWith('<') && /<svg[\s>]/i.test(text)) {
    return { kind: 'refused', label: 'SVG', why: 'vector images are refused for safety; convert it to PNG or JPEG' };
  }
  return { kind: 'unknown' };
}

/** A short, single-line, printable peek at the first bytes, for "not an image" messages. */
function describeStart(bytes: Buffer): string {
  const head = bytes.subarray(0, 16);
  const printable = head.every((b) => (b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d);
  if (printable) {
    const firstLine = ascii(head, 0, head.length).split(/[\r\n]/)[0]?.trim() ?? '';
    if (firstLine.length > 0) return `file starts with "${firstLine}"`;
  }
  const hex = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  return `file starts with bytes ${hex}`;
}

/** Multi-line libvips errors as one line. */
function oneLine(text: string): string {
  return printable(text.replace(/\s*\n\s*/g, ' ').trim());
}

function fail(code: PosterscopeError['code'], source: string, reason: string, cause?: unknown): PosterscopeError {
  // The name escaped as everywhere else (a hostile name stays one line and recognisable).
  return new PosterscopeError(code, `${posterLabel(source)}: ${oneLine(reason)}`, {
    subject: source,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Options resolveDecodeOptions made (frozen): given again, they are used as they are. */
const resolvedOptions = new WeakSet<object>();

/**
 * Decode options with every default filled in and every bound checked, for a
 * caller that reads and decodes many posters with the same options (the
 * embedding pipeline): each call given the result skips the work again.
 *
 * @example
 *   resolveDecodeOptions({ maxSide: 512 }) // -> { maxPixels: 50000000, maxBytes: 52428800, maxSide: 512 }
 *   resolveDecodeOptions({ maxSide: 0 }) // throws PosterscopeError INVALID_ARGUMENT
 */
export function resolveDecodeOptions(options: DecodeOptions | undefined): Readonly<Required<DecodeOptions>> {
  // (WeakSet.has is false for anything but an object it holds: undefined, null and numbers included.)
  if (resolvedOptions.has(options as object)) return options as Required<DecodeOptions>;
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw invalidParameterError('options', 'object', options);
  }
  const o = { ...DEFAULT_DECODE_OPTIONS, ...stripUndefined(options ?? {}) };
  checkInteger('maxPixels', o.maxPixels, 1, Number.MAX_SAFE_INTEGER);
  checkInteger('maxBytes', o.maxBytes, 1, Number.MAX_SAFE_INTEGER);
  // sharp's own resize bound.
  checkInteger('maxSide', o.maxSide, 1, 100_000_000);
  resolvedOptions.add(Object.freeze(o));
  return o;
}

function stripUndefined(options: DecodeOptions): DecodeOptions {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as DecodeOptions;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / (1024 * 1024)).toFixed(1)} MiB` : `${n} bytes`;
}

function checkSize(source: string, size: number, maxBytes: number): void {
  if (size === 0) throw fail('IMAGE_EMPTY', source, 'file is empty (0 bytes)');
  if (size > maxBytes) {
    throw fail(
      'IMAGE_TOO_LARGE',
      source,
      `${formatBytes(size)} exceeds the limit of ${maxBytes} bytes (set maxBytes / --max-bytes to allow it)`,
    );
  }
}

function fsError(source: string, error: unknown): PosterscopeError | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return fail('IMAGE_NOT_FOUND', source, 'no such file', error);
    case 'EISDIR':
      return fail('IMAGE_IS_DIRECTORY', source, 'is a directory, not an image file', error);
    // No dedicated code: for the caller an unreadable file is as absent as a missing one.
    case 'EACCES':
    case 'EPERM':
      return fail('IMAGE_NOT_FOUND', source, 'cannot be read (permission denied)', error);
    case 'ENAMETOOLONG':
    case 'ELOOP':
      return fail('IMAGE_NOT_FOUND', source, `cannot be opened (${code})`, error);
    // A socket, or a device with nothing behind it.
    case 'ENXIO':
    case 'ENODEV':
      return fail('IMAGE_UNSUPPORTED', source, 'not a regular file', error);
    default:
      return undefined;
  }
}

/**
 * True when the bytes start like an image posterscope reads: magic bytes
 * only, nothing decoded (what a server checks before queueing work).
 *
 * @example
 *   looksLikePoster(Buffer.from('<html>')) // -> false
 */
export function looksLikePoster(bytes: Buffer): boolean {
  return bytes.length > 0 && sniffFormat(bytes).kind === 'accepted';
}

/** How readPosterFile reads: the C reader (native/file.c) when it was built, else Node's fs (tests name one). */
export type FileReaderName = 'native' | 'fs';
export const defaultFileReader: FileReaderName = nativeFile ? 'native' : 'fs';

/**
 * Reads a poster file and hashes it, refusing missing, directory, empty and
 * oversized files before reading their content.
 *
 * @example
 *   const { bytes, contentHash } = await readPosterFile('posters/tt0084867.jpg');
 *   // -> bytes: <Buffer ff d8 ff db …>, contentHash: '5592e43972eca65f11cf931926a18910d860631968ae886550647ef96b1b1183'
 */
export async function readPosterFile(
  path: string,
  options?: DecodeOptions,
  via: FileReaderName = defaultFileReader,
): Promise<{ bytes: Buffer; contentHash: string }> {
  if (typeof path !== 'string' || path.length === 0) throw invalidParameterError('path', 'non-empty file path', path);
  const { maxBytes } = resolveDecodeOptions(options);
  // No file has one; the system would read the name only up to it.
  if (path.includes('\0')) throw fail('IMAGE_NOT_FOUND', path, 'cannot be opened (its name contains a NUL byte)');
  let bytes: Buffer;
  try {
    // From the buffer pool: the embedding pipeline gives a poster's bytes back once decoded.
    bytes = via === 'native' && nativeFile ? await readInOneTask(nativeFile.read, path, maxBytes) : await readWithFs(path, maxBytes);
  } catch (error) {
    if (error instanceof PosterscopeError) throw error;
    throw fsError(path, error) ?? error;
  }
  // The file may have shrunk between fstat() and read().
  checkSize(path, bytes.length, maxBytes);
  return { bytes, contentHash: sha256(bytes) };
}

/** The first read's buffer: the last poster's size, within 64 KiB to 1 MiB (a larger file is read twice). */
const FIRST_READ = { min: 64 * 1024, max: 1024 * 1024 };
let firstRead = FIRST_READ.min;

/** Reads with native/file.c: open, fstat, read and close in one task on libuv's pool. */
async function readInOneTask(read: (path: string, into: Uint8Array) => Promise<NativeRead>, path: string, maxBytes: number): Promise<Buffer> {
  let into = takeBuffer(Math.min(firstRead, maxBytes));
  let found = await read(path, into);
  if (found.errno === 0 && found.kind === 0 && found.size > into.length && found.size <= maxBytes) {
    // Larger than guessed: once more, with room for all of it.
    recycleBuffer(into);
    into = takeBuffer(found.size);
    found = await read(path, into);
  }
  try {
    if (found.errno !== 0) {
      const code = getSystemErrorName(-found.errno);
      throw Object.assign(new Error(`${found.syscall ?? 'read'} ${code} '${path}'`), { code, errno: -found.errno, syscall: found.syscall, path });
    }
    if (found.kind === 1) throw fail('IMAGE_IS_DIRECTORY', path, 'is a directory, not an image file');
    if (found.kind !== 0) throw fail('IMAGE_UNSUPPORTED', path, 'not a regular file');
    checkSize(path, found.size, maxBytes);
  } catch (error) {
    recycleBuffer(into);
    throw error;
  }
  firstRead = Math.min(FIRST_READ.max, Math.max(FIRST_READ.min, Math.ceil(found.size / FIRST_READ.min) * FIRST_READ.min));
  return into.subarray(0, found.read);
}

/** Reads with Node's fs: open (non-blocking), fstat, read, close, each a task on libuv's pool. */
async function readWithFs(path: string, maxBytes: number): Promise<Buffer> {
  // Non-blocking, so that opening a FIFO does not wait for a writer; fstat then refuses it.
  const handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    const info = await handle.stat();
    if (info.isDirectory()) throw fail('IMAGE_IS_DIRECTORY', path, 'is a directory, not an image file');
    if (!info.isFile()) throw fail('IMAGE_UNSUPPORTED', path, 'not a regular file');
    checkSize(path, info.size, maxBytes);
    // At most the size fstat gave, which is within maxBytes: a file growing meanwhile is read as it was.
    const bytes = takeBuffer(info.size);
    let length = 0;
    while (length < bytes.length) {
      const { bytesRead } = await handle.read(bytes, length, bytes.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return bytes.subarray(0, length);
  } finally {
    await handle.close();
  }
}

// 'warning' is sharp's strictest level: libjpeg reports damaged entropy data
// only as a warning, so anything laxer returns half-grey posters. All 5988
// posters of the reference data set decode at this level.
const FAIL_ON = 'warning' satisfies FailOnOptions;

function decodeFailure(source: string, label: string, error: unknown): PosterscopeError {
  const reason = error instanceof Error ? error.message : String(error);
  if (/pixel limit/i.test(reason)) {
    return fail('IMAGE_TOO_LARGE', source, `${label} exceeds the pixel limit (set maxPixels / --max-pixels to allow it)`, error);
  }
  return fail('IMAGE_CORRUPT', source, `${label} data is truncated or corrupt (${reason})`, error);
}

/** Grey comes back from libvips as 3 bands already; this guards other builds. */
function toRgb(data: Buffer, channels: number, source: string): Buffer {
  if (channels === 3) return data;
  if (channels === 1) {
    const rgb = Buffer.allocUnsafe(data.length * 3);
    for (let i = 0; i < data.length; i++) {
      const v = data[i] as number;
      rgb[3 * i] = v;
      rgb[3 * i + 1] = v;
      rgb[3 * i + 2] = v;
    }
    return rgb;
  }
  throw fail('IMAGE_UNSUPPORTED', source, `decodes to ${channels} channels, expected RGB`);
}

async function decodeBytes(
  bytes: Buffer,
  source: string,
  contentHash: string,
  options: Required<DecodeOptions>,
): Promise<Poster> {
  checkSize(source, bytes.length, options.maxBytes);
  const sniffed = sniffFormat(bytes);
  if (sniffed.kind === 'unknown') throw fail('IMAGE_UNSUPPORTED', source, `not an image (${describeStart(bytes)})`);
  if (sniffed.kind === 'refused' || !READABLE.has(sniffed.format)) {
    const label = sniffed.kind === 'refused' ? sniffed.label : FORMATS[sniffed.format].label;
    const why = sniffed.kind === 'refused' && sniffed.why !== undefined ? ` (${sniffed.why})` : '';
    throw fail('IMAGE_UNSUPPORTED', source, `${label} is not supported${why}; accepted formats: ${ACCEPTED_LIST}`);
  }
  const { label, sharpFormat } = FORMATS[sniffed.format];

  const input: SharpOptions = {
    failOn: FAIL_ON,
    limitInputPixels: options.maxPixels,
    sequentialRead: true,
    // First frame of animations, first page of multi-page TIFFs.
    pages: 1,
    page: 0,
  };

  // A JPEG's frame header gives its size without sharp; the plain small ones
  // (most posters) are decoded without sharp too, bit for bit the same.
  const jpeg = sniffed.format === 'jpeg' ? readJpegHeader(bytes) : undefined;
  let size: { width: number; height: number };
  if (jpeg) size = jpeg;
  else {
    // metadata() reads only the header, so it is safe without a limit, and with one
    // sharp 0.35 throws a bare "exceeds pixel limit"; checking ourselves lets the
    // message give the bomb's real dimensions before any pixel is allocated.
    let meta: Metadata;
    try {
      meta = await sharp(bytes, { ...input, limitInputPixels: false }).metadata();
    } catch (error) {
      throw decodeFailure(source, label, error);
    }
    if (meta.format !== sharpFormat || (sniffed.format === 'avif' && meta.compression === 'hevc')) {
      const actual = meta.compression === undefined ? meta.format : `${meta.format}/${meta.compression}`;
      throw fail('IMAGE_CORRUPT', source, `starts like ${label} but decodes as ${actual}`);
    }
    size = meta;
  }
  if (size.width * size.height > options.maxPixels) {
    throw fail(
      'IMAGE_TOO_LARGE',
      source,
      `${size.width}x${size.height} pixels exceeds the limit of ${options.maxPixels} (set maxPixels / --max-pixels to allow it)`,
    );
  }
  if (jpeg?.plain && jpeg.width <= options.maxSide && jpeg.height <= options.maxSide) {
    const pixels = await decodePlainJpeg(bytes, jpeg);
    if (pixels) return { source, contentHash, width: jpeg.width, height: jpeg.height, pixels };
  }

  let data: Buffer;
  let info: OutputInfo;
  try {
    ({ data, info } = await sharp(bytes, input)
      .autoOrient()
      // Lets libjpeg shrink-on-load huge scans, which is most of the speed win.
      .resize({ width: options.maxSide, height: options.maxSide, fit: 'inside', withoutEnlargement: true })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true }));
  } catch (error) {
    throw decodeFailure(source, label, error);
  }
  const pixels = toRgb(data, info.channels, source);
  return { source, contentHash, width: info.width, height: info.height, pixels };
}

/**
 * The size a poster will decode to (orientation applied, shrunk to fit
 * `maxSide`), read from its header alone; undefined when the header cannot be
 * read (decoding will then fail with the reason). A server prices a request
 * with it before any pixel is decoded.
 *
 * @example
 *   await posterSize(await readFile('poster.jpg')) // -> { width: 224, height: 336 }
 */
export async function posterSize(bytes: Buffer, options?: DecodeOptions): Promise<{ width: number; height: number } | undefined> {
  const { maxSide } = resolveDecodeOptions(options);
  if (!looksLikePoster(bytes)) return undefined;
  let width: number;
  let height: number;
  try {
    const meta = await sharp(bytes, { limitInputPixels: false, pages: 1, page: 0 }).metadata();
    ({ width, height } = meta.autoOrient ?? meta);
  } catch {
    return undefined;
  }
  if (!(width > 0 && height > 0)) return undefined;
  const scale = Math.min(1, maxSide / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/**
 * `decodePoster` for bytes already read and hashed (the embedding pipeline
 * reads each file once and hashes it once).
 *
 * @example
 *   const { bytes, contentHash } = await readPosterFile('poster.jpg');
 *   const poster = await decodePosterBytes(bytes, 'poster.jpg', contentHash);
 */
export async function decodePosterBytes(bytes: Buffer, source: string, contentHash: string, options?: DecodeOptions): Promise<Poster> {
  return decodeBytes(bytes, source, contentHash, resolveDecodeOptions(options));
}

/**
 * Decodes an untrusted poster (JPEG, PNG, WebP, GIF first frame, AVIF, TIFF)
 * into 8-bit sRGB pixels, sniffing the format from its bytes and refusing bad
 * input with a `PosterscopeError` before any pixel is decoded where possible.
 *
 * @example
 *   const p = await decodePoster('posters/tt0084867.jpg', { maxSide: 512 });
 *   console.log(p.width, p.height, p.pixels.length); // -> 224 312 209664
 *   await decodePoster('notes.jpg');
 *   // throws PosterscopeError IMAGE_UNSUPPORTED 'notes.jpg: not an image (file starts with "<html>")'
 */
export async function decodePoster(
  input: string | Buffer | { bytes: Buffer; source: string },
  options?: DecodeOptions,
): Promise<Poster> {
  const resolved = resolveDecodeOptions(options);
  if (typeof input === 'string' && input.length > 0) {
    const { bytes, contentHash } = await readPosterFile(input, resolved);
    return decodeBytes(bytes, input, contentHash, resolved);
  }
  if (Buffer.isBuffer(input)) return decodeBytes(input, '<buffer>', sha256(input), resolved);
  if (
    input !== null &&
    typeof input === 'object' &&
    Buffer.isBuffer((input as { bytes?: unknown }).bytes) &&
    typeof (input as { source?: unknown }).source === 'string'
  ) {
    return decodeBytes(input.bytes, input.source, sha256(input.bytes), resolved);
  }
  throw invalidParameterError('input', 'file path, Buffer or { bytes: Buffer, source: string }', input);
}
