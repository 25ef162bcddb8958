/**
 * `npm run bench:clean`: how well text removal works, measured.
 *
 * 1. Synthetic posters with known text boxes (test/helpers/text-posters.ts;
 *    titles, taglines and credits in several fonts, sizes and colours over
 *    gradients and photo-like scenes), at 448x640 and at the 224x320 size of
 *    ../shared posters:
 *    - detection recall and precision of text lines at IoU 0.5;
 *    - after cleaning, the share of the original boxes the detector still
 *      finds (IoU 0.5, and the stricter "any detection covering >= 25% of
 *      the box");
 *    - in-painting error outside the text: mean |cleaned - background| over
 *      the masked pixels (how close the fill is to the artwork under the text).
 * 2. Real posters from ../shared ($POSTERSCOPE_SHARED): text boxes per poster
 *    and cleaning throughput (decode + detect + in-paint, no file writing).
 *
 * Env: BENCH_SYNTHETIC (posters per size, default 100), BENCH_REAL (default 200).
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadCleaner } from '../src/clean/clean.js';
import { buildMask, type TextBox } from '../src/clean/mask.js';
import { decodePoster, type Poster } from '../src/image/poster.js';
import { type Box, matchBoxes, renderTextPoster } from '../test/helpers/text-posters.js';

const shared = resolve(process.env.POSTERSCOPE_SHARED ?? '../shared');
const synthetic = Number(process.env.BENCH_SYNTHETIC ?? 100);
const realCount = Number(process.env.BENCH_REAL ?? 200);

const cleaner = await loadCleaner({}, { mirrors: [] });
console.log(`cleaner ${cleaner.id}`);

function covered(truth: Box, found: readonly Box[], share: number): boolean {
  const area = (truth.x1 - truth.x0) * (truth.y1 - truth.y0);
  return found.some((f) => {
    const w = Math.min(truth.x1, f.x1) - Math.max(truth.x0, f.x0);
    const h = Math.min(truth.y1, f.y1) - Math.max(truth.y0, f.y0);
    return w > 0 && h > 0 && (w * h) / area >= share;
  });
}

for (const [width, height] of [
  [448, 640],
  [224, 320],
] as const) {
  let truthBoxes = 0;
  let foundBoxes = 0;
  let matched = 0;
  let afterMatched = 0;
  let afterCovered = 0;
  let errorSum = 0;
  let maskedSum = 0;
  const byKind = new Map<string, { truth: number; matched: number }>();
  for (let seed = 1; seed <= synthetic; seed++) {
    const sample = await renderTextPoster(seed, { width, height });
    const poster: Poster = { source: `synthetic-${seed}`, contentHash: String(seed), width, height, pixels: sample.pixels };
    const { poster: cleaned, boxes } = await cleaner.clean(poster);
    const m = matchBoxes(sample.boxes, boxes, 0.5);
    truthBoxes += sample.boxes.length;
    foundBoxes += boxes.length;
    matched += m.matched;
    for (const box of sample.boxes) {
      const kind = byKind.get(box.kind) ?? { truth: 0, matched: 0 };
      kind.truth++;
      if (matchBoxes([box], boxes, 0.5).matched > 0) kind.matched++;
      byKind.set(box.kind, kind);
    }
    const again: TextBox[] = await cleaner.detector.detect(cleaned);
    afterMatched += matchBoxes(sample.boxes, again, 0.5).matched;
    afterCovered += sample.boxes.filter((b) => covered(b, again, 0.25)).length;
    const mask = buildMask(width, height, boxes, cleaner.settings.dilate);
    for (let p = 0; p < mask.length; p++) {
      if (!mask[p]) continue;
      maskedSum++;
      for (let c = 0; c < 3; c++) errorSum += Math.abs(cleaned.pixels[p * 3 + c]! - sample.background[p * 3 + c]!) / 3;
    }
  }
  console.log(`\nsynthetic ${width}x${height}, ${synthetic} posters, ${truthBoxes} text lines`);
  console.log(`  detection recall @IoU0.5  ${(matched / truthBoxes).toFixed(3)}   (target >= 0.9)`);
  console.log(`  detection precision       ${(matched / Math.max(foundBoxes, 1)).toFixed(3)}   (${foundBoxes} boxes found)`);
  for (const [kind, k] of byKind) console.log(`    recall ${kind.padEnd(8)} ${(k.matched / k.truth).toFixed(3)} of ${k.truth}`);
  console.log(`  after cleaning, found @IoU0.5        ${(afterMatched / truthBoxes).toFixed(3)}   (target <= 0.10)`);
  console.log(`  after cleaning, any box covers >=25%  ${(afterCovered / truthBoxes).toFixed(3)}`);
  console.log(`  in-painted pixels vs true background: mean abs error ${(errorSum / Math.max(maskedSum, 1)).toFixed(1)} grey levels`);
}

const dir = join(shared, 'data/posters/images');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.jpg'))
  .sort()
  .slice(0, realCount)
  .map((f) => join(dir, f));
let boxes = 0;
let masked = 0;
let withText = 0;
const started = performance.now();
let next = 0;
// Two posters in flight, as `posterscope clean` runs: one is detected while the other is in-painted.
await Promise.all(
  [0, 1].map(async () => {
    for (let i = next++; i < files.length; i = next++) {
      const poster = await decodePoster(files[i]!);
      const result = await cleaner.clean(poster);
      boxes += result.boxes.length;
      if (result.boxes.length > 0) withText++;
      masked += result.maskedPixels / (poster.width * poster.height);
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
console.log(`\nreal posters (${files.length} from ${dir})`);
console.log(`  text boxes per poster ${(boxes / files.length).toFixed(2)}; posters with text ${withText}/${files.length}; pixels in-painted ${((masked / files.length) * 100).toFixed(1)}%`);
console.log(`  throughput ${(files.length / seconds).toFixed(1)} posters/s (${seconds.toFixed(1)} s)`);
await cleaner.release();
