/**
 * Detected text boxes cached on disk, so a poster is run through the text
 * detector once: re-cleaning it for new views, a new dilation or in-painting
 * radius, or another model only in-paints again.
 *
 * One append-only JSON Lines file per detector file and detection settings
 * (boxes do not depend on how they are dilated or in-painted), keyed by the
 * poster's content hash and decoded size. Numbers are stored at full
 * precision, so cached boxes give exactly the masks fresh ones would. A line
 * torn by a crash is skipped on reading.
 */
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TextBox } from './mask.js';

/** A box as one flat row: x0, y0, x1, y1, score, then a slanted box's 8 corner coordinates. */
function toRow(box: TextBox): number[] {
  return [box.x0, box.y0, box.x1, box.y1, box.score, ...(box.quad ? box.quad.flat() : [])];
}

function fromRow(row: number[]): TextBox {
  const [x0, y0, x1, y1, score, ...corners] = row;
  const box: TextBox = { x0: x0!, y0: y0!, x1: x1!, y1: y1!, score: score! };
  if (corners.length === 8) box.quad = [0, 2, 4, 6].map((i) => [corners[i]!, corners[i + 1]!] as [number, number]);
  return box;
}

export class BoxCache {
  private readonly entries = new Map<string, TextBox[]>();
  private readonly path: string;
  private needsNewline = false;

  /**
   * @example
   *   const cache = new BoxCache('/home/u/.cache/posterscope/boxes', 'ppocr-v4-det-30a86f573118-s640u2-b0.3-0.6-1.5');
   *   cache.get(poster) // -> undefined, then [{ x0: 5.3, ... }] once put
   */
  constructor(dir: string, key: string) {
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
        const { k, b } = JSON.parse(line) as { k: string; b: number[][] };
        if (typeof k === 'string' && Array.isArray(b)) this.entries.set(k, b.map(fromRow));
      } catch {
        /* torn line: that poster is detected again */
      }
    }
  }

  static keyOf(poster: { contentHash: string; width: number; height: number }): string {
    return `${poster.contentHash}:${poster.width}x${poster.height}`;
  }

  get(poster: { contentHash: string; width: number; height: number }): TextBox[] | undefined {
    return this.entries.get(BoxCache.keyOf(poster));
  }

  put(poster: { contentHash: string; width: number; height: number }, boxes: readonly TextBox[]): void {
    const k = BoxCache.keyOf(poster);
    this.entries.set(k, [...boxes]);
    const line = JSON.stringify({ k, b: boxes.map(toRow) });
    appendFileSync(this.path, `${this.needsNewline ? '\n' : ''}${line}\n`);
    this.needsNewline = false;
  }

  get size(): number {
    return this.entries.size;
  }
}
