/**
 * A small labelled poster set made on the fly: colour tells the genre (red
 * Action, green Comedy, blue Drama; two-colour posters carry both genres),
 * so a head on the tiny test backbone can learn it, and results are checkable.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { Random } from '../../src/random.js';

export const GENRES = ['Action', 'Comedy', 'Drama'] as const;
const COLOURS: Record<(typeof GENRES)[number], [number, number, number]> = {
  Action: [220, 40, 40],
  Comedy: [40, 200, 60],
  Drama: [40, 60, 220],
};

export interface PosterSet {
  dir: string;
  images: string;
  csv: string;
  rows: Array<{ id: string; genres: string[]; path: string }>;
}

export async function makePosterSet(dir: string, count: number, seed = 1): Promise<PosterSet> {
  const random = new Random(seed);
  const images = join(dir, 'images');
  await mkdir(images, { recursive: true });
  const rows: PosterSet['rows'] = [];
  for (let i = 0; i < count; i++) {
    const first = GENRES[i % 3]!;
    const second = i % 4 === 0 ? GENRES[(i + 1) % 3]! : undefined;
    const genres = second ? [first, second] : [first];
    const [top, bottom] = [COLOURS[first], COLOURS[second ?? first]];
    const jitter = () => Math.round((random.next() - 0.5) * 50);
    const paint = ([r, g, b]: [number, number, number]) => ({ r: r + jitter(), g: g + jitter(), b: b + jitter() });
    const base = sharp({ create: { width: 40, height: 60, channels: 3, background: paint(top) } });
    const half = await sharp({ create: { width: 40, height: 30, channels: 3, background: paint(bottom) } }).png().toBuffer();
    const id = `tt${String(1000 + i)}`;
    const path = join(images, `${id}.jpg`);
    await base.composite([{ input: half, top: 30, left: 0 }]).jpeg().toFile(path);
    rows.push({ id, genres, path });
  }
  const csv = join(dir, 'labels.csv');
  const header = ['Id', 'Genre', ...GENRES].join(',');
  const lines = rows.map((r) => [r.id, `"${JSON.stringify(r.genres).replace(/"/g, "'")}"`, ...GENRES.map((g) => (r.genres.includes(g) ? 1 : 0))].join(','));
  await writeFile(csv, `${[header, ...lines].join('\n')}\n`);
  return { dir, images, csv, rows };
}
