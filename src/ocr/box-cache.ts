/**
 * What the text detector and recogniser found, cached on disk, so a poster is
 * run through them once: re-cleaning it for new views, a new dilation or
 * in-painting radius, or another model only in-paints again; reading it again
 * (or with another confidence floor) reads nothing.
 *
 * One append-only JSON Lines file per model file and settings (`key`), one
 * line per poster keyed by its content hash and decoded size. Numbers are
 * stored at full precision, so cached boxes give exactly the masks fresh ones
 * would. A line torn by a crash is skipped on reading (that poster is simply
 * done again), and the next line starts on a line of its own.
 */
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { asWriteError } from '../errors.js';
import type { TextBox } from './detector.js';

/** The poster fields a cache entry is keyed by. */
export type PosterKey = { contentHash: string; width: number; height: number };

/** How one value is written into (and read back from) its JSON line, beside the key `k`. */
export interface RecordCodec<T> {
  encode(value: T): Record<string, unknown>;
  /** The value, or undefined when the line is not one of ours (it is then ignored). */
  decode(line: Record<string, unknown>): T | undefined;
}

export class PosterRecordCache<T> {
  private readonly entries = new Map<string, T>();
  private readonly path: string;
  private needsNewline = false;

  /**
   * @example
   *   const cache = new PosterRecordCache('/home/u/.cache/posterscope/text', 'ppocr-v4-rec-…', codec);
   *   cache.get(poster) // -> undefined, then the value once put
   */
  constructor(dir: string, key: string, private readonly codec: RecordCodec<T>) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, `${key}.jsonl`);
    let text = '';
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return;
    }
    this.needsNewline = text.length > 0 && !text.endsWith('\n');
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        const value = typeof parsed.k === 'string' ? codec.decode(parsed) : undefined;
        if (value !== undefined) this.entries.set(parsed.k as string, value);
      } catch {
        /* torn line: that poster is done again */
      }
    }
  }

  static keyOf(poster: PosterKey): string {
    return `${poster.contentHash}:${poster.width}x${poster.height}`;
  }

  get(poster: PosterKey): T | undefined {
    return this.entries.get(PosterRecordCache.keyOf(poster));
  }

  put(poster: PosterKey, value: T): void {
    const k = PosterRecordCache.keyOf(poster);
    this.entries.set(k, value);
    const line = JSON.stringify({ k, ...this.codec.encode(value) });
    try {
      appendFileSync(this.path, `${this.needsNewline ? '\n' : ''}${line}\n`);
    } catch (error) {
      throw asWriteError(this.path, error);
    }
    this.needsNewline = false;
  }

  get size(): number {
    return this.entries.size;
  }
}

/** A box as one flat row: x0, y0, x1, y1, score, then a slanted box's 8 corner coordinates. */
export function boxToRow(box: TextBox): number[] {
  return [box.x0, box.y0, box.x1, box.y1, box.score, ...(box.quad ? box.quad.flat() : [])];
}

/** The inverse of `boxToRow`; undefined for a row that is not one. */
export function boxFromRow(row: unknown): TextBox | undefined {
  if (!Array.isArray(row) || (row.length !== 5 && row.length !== 13) || !row.every((v) => typeof v === 'number')) return undefined;
  const [x0, y0, x1, y1, score, ...corners] = row as number[];
  const box: TextBox = { x0: x0!, y0: y0!, x1: x1!, y1: y1!, score: score! };
  if (corners.length === 8) box.quad = [0, 2, 4, 6].map((i) => [corners[i]!, corners[i + 1]!] as [number, number]);
  return box;
}

const boxCodec: RecordCodec<TextBox[]> = {
  encode: (boxes) => ({ b: boxes.map(boxToRow) }),
  decode: (line) => {
    if (!Array.isArray(line.b)) return undefined;
    const boxes = line.b.map(boxFromRow);
    return boxes.every((b) => b !== undefined) ? (boxes as TextBox[]) : undefined;
  },
};

/** Detected boxes per poster, under the detector's id (boxes do not depend on how they are dilated, in-painted or read). */
export class BoxCache extends PosterRecordCache<TextBox[]> {
  /**
   * @example
   *   const cache = new BoxCache('/home/u/.cache/posterscope/boxes', 'ppocr-v4-det-30a86f573118-p2-s640u2-b0.3-0.6-1.5');
   *   cache.get(poster) // -> undefined, then [{ x0: 5.3, ... }] once put
   */
  constructor(dir: string, key: string) {
    super(dir, key, boxCodec);
  }
}
