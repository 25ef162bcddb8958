/**
 * `posterscope clean` as a library call: poster files in, text-free posters
 * with the same file names out, plus `boxes.jsonl` (one line per poster: the
 * boxes found and the pixels replaced) and optional before/after previews.
 *
 * Resumable: a poster is skipped when its output file exists and
 * `boxes.jsonl` already records it cleaned with the same settings from the
 * same source bytes (sha256): a replaced poster is cleaned again. Outputs are written to a temporary file
 * and renamed, and the record is appended only after, so a crash never
 * leaves a half-written poster counted as done.
 */
import { createReadStream } from 'node:fs';
import { appendFile, mkdir, open, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { createInterface } from 'node:readline';
import pMap from 'p-map';
import sharp from 'sharp';
import { writeFileAtomic } from '../atomic-file.js';
import { PosterscopeError, asPosterError, asWriteError, checkInteger } from '../errors.js';
import { type DecodeOptions, type Poster, decodePosterBytes, readPosterFile } from '../image/poster.js';
import { type Progress, silentProgress } from '../progress.js';
import type { PosterCleaner } from './clean.js';
import type { TextBox } from './mask.js';

export const BOXES_FILE = 'boxes.jsonl';

export interface CleanFilesOptions {
  cleaner: PosterCleaner;
  /** Folder for the cleaned posters and boxes.jsonl (created if needed). */
  out: string;
  /** Folder for before/after previews (original with boxes | cleaned). */
  preview?: string;
  /** Clean again even posters already done. Default false. */
  force?: boolean;
  /** Posters in flight: one is detected while another is in-painted and encoded. Default 2. */
  concurrency?: number;
  /** JPEG/WebP/AVIF quality of cleaned posters. Default 95. */
  quality?: number;
  decode?: DecodeOptions;
  progress?: Progress;
  /** Called for every poster that fails; the batch goes on. */
  onError?: (error: PosterscopeError) => void;
}

/** One line of boxes.jsonl. */
export interface BoxesRecord {
  file: string;
  source: string;
  sha256: string;
  width: number;
  height: number;
  boxes: TextBox[];
  /** Share of the poster's pixels that were in-painted. */
  masked: number;
  cleaner: string;
}

export interface CleanFilesSummary {
  posters: number;
  cleaned: number;
  skipped: number;
  failed: number;
  /** Text boxes found in the posters cleaned by this run. */
  boxes: number;
  seconds: number;
  errors: Array<{ file: string; code: string; message: string }>;
}

const OUTPUT_FORMATS: Record<string, 'jpeg' | 'png' | 'webp' | 'avif' | 'tiff' | 'gif'> = {
  '.jpg': 'jpeg',
  '.jpeg': 'jpeg',
  '.png': 'png',
  '.webp': 'webp',
  '.avif': 'avif',
  '.tif': 'tiff',
  '.tiff': 'tiff',
  '.gif': 'gif',
};

/** Reads boxes.jsonl, skipping a torn last line; the last record of a file wins. */
export async function readBoxesFile(path: string): Promise<Map<string, BoxesRecord>> {
  const records = new Map<string, BoxesRecord>();
  try {
    await stat(path);
  } catch {
    return records;
  }
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    try {
      const record = JSON.parse(line) as BoxesRecord;
      if (typeof record.file === 'string') records.set(record.file, record);
    } catch {
      /* a line torn by a crash: that poster is simply cleaned again */
    }
  }
  return records;
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** A crash can leave a torn last line; start the next record on a line of its own. */
async function endWithNewline(path: string): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch {
    return;
  }
  try {
    const { size } = await handle.stat();
    if (size === 0) return;
    const last = Buffer.alloc(1);
    await handle.read(last, 0, 1, size - 1);
    if (last[0] !== 0x0a) await appendFile(path, '\n');
  } finally {
    await handle.close();
  }
}

function encode(poster: Poster, format: 'jpeg' | 'png' | 'webp' | 'avif' | 'tiff' | 'gif', quality: number): Promise<Buffer> {
  const image = sharp(poster.pixels, { raw: { width: poster.width, height: poster.height, channels: 3 } });
  return image.toFormat(format, format === 'png' || format === 'gif' ? {} : { quality }).toBuffer();
}

/** The original with its boxes outlined in red, beside the cleaned poster. */
async function renderPreview(before: Poster, after: Poster, boxes: readonly TextBox[]): Promise<Buffer> {
  const { width, height } = before;
  const stroke = Math.max(1, Math.round(width / 200));
  const outlines = boxes
    .map((b) => {
      const corners = b.quad ?? [[b.x0, b.y0], [b.x1, b.y0], [b.x1, b.y1], [b.x0, b.y1]];
      return `<polygon points="${corners.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>`;
    })
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><g fill="none" stroke="#ff2020" stroke-width="${stroke}">${outlines}</g></svg>`;
  const gap = Math.max(4, Math.round(width / 40));
  const raw = { width, height, channels: 3 as const };
  const left = await sharp(before.pixels, { raw }).composite([{ input: Buffer.from(svg) }]).png().toBuffer();
  return sharp({ create: { width: width * 2 + gap, height, channels: 3, background: '#ffffff' } })
    .composite([
      { input: left, left: 0, top: 0 },
      { input: after.pixels, raw, left: width + gap, top: 0 },
    ])
    .png()
    .toBuffer();
}

function round1(box: TextBox): TextBox {
  const r = (v: number) => Math.round(v * 10) / 10;
  return {
    x0: r(box.x0),
    y0: r(box.y0),
    x1: r(box.x1),
    y1: r(box.y1),
    score: Math.round(box.score * 1000) / 1000,
    ...(box.quad ? { quad: box.quad.map(([x, y]) => [r(x), r(y)] as [number, number]) } : {}),
  };
}

/**
 * Cleans poster files into `out`.
 *
 * @example
 *   const cleaner = await loadCleaner();
 *   const summary = await cleanPosterFiles(['posters/a.jpg', 'posters/b.png'], { cleaner, out: 'clean/', preview: 'check/' });
 *   // -> { posters: 2, cleaned: 2, skipped: 0, failed: 0, boxes: 7, seconds: 0.4, errors: [] }
 */
export async function cleanPosterFiles(files: readonly string[], options: CleanFilesOptions): Promise<CleanFilesSummary> {
  const { cleaner, out } = options;
  const progress = options.progress ?? silentProgress;
  const quality = options.quality ?? 95;
  const concurrency = checkInteger('concurrency', options.concurrency ?? 2, 1, 64);
  const started = performance.now();
  await mkdir(out, { recursive: true });
  if (options.preview) await mkdir(options.preview, { recursive: true });
  const boxesPath = join(out, BOXES_FILE);
  const done = options.force ? new Map<string, BoxesRecord>() : await readBoxesFile(boxesPath);
  await endWithNewline(boxesPath);
  const summary: CleanFilesSummary = { posters: files.length, cleaned: 0, skipped: 0, failed: 0, boxes: 0, seconds: 0, errors: [] };
  const fail = (file: string, error: unknown) => {
    const e = asPosterError(file, error);
    summary.failed++;
    summary.errors.push({ file, code: e.code, message: e.message });
    options.onError?.(e);
  };

  // Output names must be unique: two inputs called poster.jpg would overwrite each other.
  const owner = new Map<string, string>();
  const jobs: Array<{ file: string; name: string }> = [];
  for (const file of files) {
    const name = basename(file);
    const first = owner.get(name);
    if (first !== undefined) {
      fail(file, new PosterscopeError('INVALID_ARGUMENT', `${file}: another input (${first}) is also named ${name}; the output would be overwritten`, { subject: file }));
      continue;
    }
    owner.set(name, file);
    jobs.push({ file, name });
  }

  progress.start('clean', files.length, 'posters');
  progress.tick(summary.failed);
  const cleanOne = async (job: { file: string; name: string }) => {
    const target = join(out, job.name);
    try {
      const decode = { maxSide: 100_000_000, ...options.decode };
      // Hashing is cheap next to cleaning: a poster replaced since it was cleaned is cleaned again.
      const { bytes, contentHash } = await readPosterFile(job.file, decode);
      const record = done.get(job.name);
      if (record?.cleaner === cleaner.id && record.sha256 === contentHash && (await exists(target))) {
        summary.skipped++;
        return;
      }
      const format = OUTPUT_FORMATS[extname(job.name).toLowerCase()] ?? 'png';
      const poster = await decodePosterBytes(bytes, job.file, contentHash, decode);
      const result = await cleaner.clean(poster);
      await writeFileAtomic(target, await encode(result.poster, format, quality));
      if (options.preview) {
        const previewName = `${basename(job.name, extname(job.name))}.png`;
        await writeFileAtomic(join(options.preview, previewName), await renderPreview(poster, result.poster, result.boxes));
      }
      const cleaned: BoxesRecord = {
        file: job.name,
        source: job.file,
        sha256: poster.contentHash,
        width: poster.width,
        height: poster.height,
        boxes: result.boxes.map(round1),
        masked: Math.round((result.maskedPixels / (poster.width * poster.height)) * 10_000) / 10_000,
        cleaner: cleaner.id,
      };
      await appendFile(boxesPath, `${JSON.stringify(cleaned)}\n`).catch((error: unknown) => {
        throw asWriteError(boxesPath, error);
      });
      summary.cleaned++;
      summary.boxes += result.boxes.length;
    } catch (error) {
      // A full disk fails every poster after this one too: stop with one line (posters done so far are kept).
      if (error instanceof PosterscopeError && error.code === 'WRITE_FAILED') throw error;
      fail(job.file, error);
    } finally {
      progress.tick();
    }
  };
  await pMap(jobs, cleanOne, { concurrency });
  summary.seconds = (performance.now() - started) / 1000;
  progress.done(`cleaned ${summary.cleaned} (${summary.boxes} text boxes), skipped ${summary.skipped}, failed ${summary.failed}`);
  return summary;
}
