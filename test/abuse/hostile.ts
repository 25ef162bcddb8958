/**
 * The abuse corpus: hostile files and requests generated on the fly (nothing
 * is committed), and a way to run the CLI under them with its peak memory
 * measured. Every single hostile input must stay under MEMORY_BUDGET_MB.
 */
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { CLI, ROOT } from '../helpers/cli.js';

export const MEMORY_BUDGET_MB = 600;

export interface MeasuredRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Peak resident set size of the CLI process, MiB. */
  peakMb: number;
}

/** Runs the built CLI in a child whose peak RSS (getrusage maxRSS) is reported back through a preloaded hook. */
export async function runMeasured(args: string[], options: { env?: NodeJS.ProcessEnv; tmp: string; cwd?: string }): Promise<MeasuredRun> {
  const rssFile = join(options.tmp, `rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const child = spawn(process.execPath, ['--import', join(ROOT, 'test', 'helpers', 'peak-rss.mjs'), CLI, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', POSTERSCOPE_PEAK_RSS_FILE: rssFile, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, s) => resolve([c, s]));
  });
  const kib = Number(await readFile(rssFile, 'utf8').catch(() => 'NaN'));
  await rm(rssFile, { force: true });
  return { code, signal, stdout, stderr, peakMb: kib / 1024 };
}

/** Peak RSS of a running process (VmHWM), MiB. */
export async function peakRssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
  return kib / 1024;
}

/** A poster-like image of any shape in one format. */
export async function image(width: number, height: number, format: 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif'): Promise<Buffer> {
  const noise = Buffer.alloc(Math.min(width * height * 3, 64 * 64 * 3));
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
  const base = sharp({ create: { width, height, channels: 3, background: { r: 90, g: 30, b: 140 } } }).composite(
    width >= 64 && height >= 64 ? [{ input: noise, raw: { width: 64, height: 64, channels: 3 }, left: 0, top: 0 }] : [],
  );
  return base.toFormat(format, format === 'avif' ? { quality: 40, effort: 0 } : {}).toBuffer();
}

/** Every accepted format, cut in half: truncated data. */
export async function truncatedImages(): Promise<Array<[string, Buffer]>> {
  const out: Array<[string, Buffer]> = [];
  for (const format of ['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif'] as const) {
    const whole = await image(224, 336, format);
    out.push([`cut.${format}`, whole.subarray(0, Math.floor(whole.length / 2))]);
  }
  return out;
}

/**
 * A real decompression bomb: a 7000x7000 PNG (49 Mpx, under the 50 Mpx
 * default limit) of one colour, a few hundred KB on disk, ~147 MB of pixels.
 */
export async function pngBomb(side = 7000): Promise<Buffer> {
  return sharp({ create: { width: side, height: side, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png({ compressionLevel: 9 }).toBuffer();
}

/** A name no terminal should print raw: control characters, escapes, and length. */
export function hostileName(length: number): string {
  const core = 'evil\n\r\x1b[31mred\x1b[0m\t\x00\x07';
  return core + 'x'.repeat(Math.max(0, length - core.length));
}
