/**
 * Poster-like test images with structure at every scale (coloured blocks on a
 * gradient, plus fine grain), so perceptual hashes of unrelated scenes differ
 * while resized or re-encoded copies of one scene stay close.
 */
import type { Sharp } from 'sharp';
import { Random } from '../../src/random.js';
import { type Rgb, painted } from './images.js';

/**
 * @example const jpeg = await scene(3).jpeg().toBuffer(); // 180x270, the same pixels for the same seed
 */
export function scene(seed: number, width = 180, height = 270): Sharp {
  const random = new Random(seed);
  const colour = (): Rgb => [Math.floor(random.next() * 256), Math.floor(random.next() * 256), Math.floor(random.next() * 256)];
  const [from, to] = [colour(), colour()];
  const blocks = Array.from({ length: 7 }, () => {
    const [x, y] = [random.next() * width * 0.8, random.next() * height * 0.8];
    return { x, y, w: (0.15 + random.next() * 0.45) * width, h: (0.1 + random.next() * 0.35) * height, c: colour() };
  });
  return painted(width, height, (x, y) => {
    const grain = ((Math.imul(x + 1, 73856093) ^ Math.imul(y + 1, 19349663) ^ seed) >>> 0) % 17 - 8;
    let block: (typeof blocks)[number] | undefined;
    for (const b of blocks) if (x >= b.x && x < b.x + b.w && y >= b.y && y < b.y + b.h) block = b; // the last one is on top
    const t = y / height;
    const base: readonly number[] = block ? block.c : [0, 1, 2].map((k) => from[k]! * (1 - t) + to[k]! * t);
    const [r, g, b] = base.map((v) => Math.max(0, Math.min(255, Math.round(v + grain))));
    return [r!, g!, b!];
  });
}
