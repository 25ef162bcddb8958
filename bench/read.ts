/**
 * `npm run bench:read`: how well and how fast posterscope reads a poster's
 * own text (PP-OCRv4 detector + recogniser), measured.
 *
 * 1. Synthetic posters with known text (test/helpers/text-posters.ts:
 *    titles, taglines and credits in several fonts, sizes and colours over
 *    gradients and photo-like scenes), at 448x640 and at the 224x320 size of
 *    ../shared posters: character error rate (edit distance / characters,
 *    spaces normalised), the same ignoring spaces and case, exact lines,
 *    per kind of line, and lines read where there is no text.
 * 2. Real posters from ../shared ($POSTERSCOPE_SHARED): throughput (decode +
 *    detect + recognise, cache off; CPU time per poster from the process's
 *    own counters, since wall time on a shared machine is noisy), lines per
 *    poster, and how often the metadata.csv title is found in what was read
 *    (case, punctuation and spaces ignored, one wrong character in five
 *    allowed), with a sample of titles beside the text read.
 *
 * Env: BENCH_SYNTHETIC (posters per size, default 100), BENCH_REAL (default
 * 200), BENCH_SAMPLE (real posters printed, default 20), BENCH_MIN_CONFIDENCE
 * (default 0.5).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { readTable, cellText, findColumn } from '../src/data/table.js';
import { editDistance } from '../src/errors.js';
import { loadPosterReader } from '../src/ocr/read.js';
import { decodePoster, type Poster } from '../src/image/poster.js';
import { addScores, normalizeSpaces, scoreReading, titleFound, type ReadingScore } from '../test/helpers/read-metrics.js';
import { renderTextPoster } from '../test/helpers/text-posters.js';

const shared = resolve(process.env.POSTERSCOPE_SHARED ?? '../shared');
const synthetic = Number(process.env.BENCH_SYNTHETIC ?? 100);
const realCount = Number(process.env.BENCH_REAL ?? 200);
const sampleCount = Number(process.env.BENCH_SAMPLE ?? 20);
const minConfidence = Number(process.env.BENCH_MIN_CONFIDENCE ?? 0.5);

const reader = await loadPosterReader({}, { mirrors: [], cache: false });
console.log(`reader ${reader.id}\nmin confidence ${minConfidence}`);

const pct = (n: number, d: number) => `${((100 * n) / Math.max(d, 1)).toFixed(1)}%`;

function report(label: string, score: ReadingScore): void {
  console.log(`\n${label}: ${score.lines} text lines, ${score.characters} characters`);
  console.log(`  character error rate       ${(score.errors / score.characters).toFixed(4)}   (unit test bound <= 0.2)`);
  console.log(`  CER ignoring spaces, case  ${(score.errorsNoSpace / score.charactersNoSpace).toFixed(4)}`);
  console.log(`  exact lines                ${pct(score.exactLines, score.lines)} (${score.exactLines}/${score.lines})`);
  for (const kind of ['title', 'tagline', 'credits'] as const) {
    const pairs = score.pairs.filter((p) => p.kind === kind);
    const chars = pairs.reduce((n, p) => n + p.truth.length, 0);
    const exact = pairs.filter((p) => p.read === p.truth).length;
    const missed = pairs.filter((p) => p.read === '').length;
    const sub = pairs.reduce((n, p) => n + editDistance(p.read, p.truth), 0);
    console.log(`    ${kind.padEnd(8)} CER ${(sub / Math.max(chars, 1)).toFixed(4)}  exact ${pct(exact, pairs.length)}  not read ${missed}/${pairs.length}`);
  }
  console.log(`  lines read where no text is: ${score.spurious}`);
  const wrong = score.pairs.filter((p) => p.read !== p.truth).slice(0, 6);
  for (const p of wrong) console.log(`    e.g. "${p.truth}" read as "${p.read}"`);
}

for (const [width, height] of [
  [448, 640],
  [224, 320],
] as const) {
  const scores: ReadingScore[] = [];
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let seed = 1; seed <= synthetic; seed++) {
    const sample = await renderTextPoster(seed, { width, height });
    const poster: Poster = { source: `synthetic-${seed}`, contentHash: String(seed), width, height, pixels: sample.pixels };
    const { lines } = await reader.read(poster, { minConfidence });
    scores.push(scoreReading(sample.boxes, lines));
  }
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  report(`synthetic ${width}x${height}, ${synthetic} posters (rendering included in time: ${seconds.toFixed(1)} s, ${((used.user + used.system) / 1e6).toFixed(1)} CPU s)`, addScores(scores));
}

// ---------------------------------------------------------------- real posters
const dir = join(shared, 'data/posters/images');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.jpg'))
  .sort()
  .slice(0, realCount)
  .map((f) => join(dir, f));
const metadata = await readTable(join(shared, 'data/posters/metadata.csv'));
const idColumn = findColumn(metadata, ['id']);
const titleColumn = findColumn(metadata, ['title']);
const titles = new Map(metadata.rows.map((row) => [cellText(row, idColumn) ?? '', cellText(row, titleColumn) ?? '']));

const load = loadavg();
const cpu = process.cpuUsage();
const started = performance.now();
const texts: Array<{ file: string; text: string; lines: number }> = [];
let next = 0;
// Two posters in flight, as `posterscope read` runs: one is decoded and cut into lines while the other is in the network.
await Promise.all(
  [0, 1].map(async () => {
    for (let i = next++; i < files.length; i = next++) {
      const poster = await decodePoster(files[i]!, { maxSide: 100_000_000 });
      const { text, lines } = await reader.read(poster, { minConfidence });
      texts[i] = { file: files[i]!, text, lines: lines.length };
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
const used = process.cpuUsage(cpu);
const loadAfter = loadavg();
const cpuPerPoster = (used.user + used.system) / 1000 / files.length;

const withTitle = texts.filter((t) => titles.get(basename(t.file, '.jpg')));
const found = withTitle.filter((t) => titleFound(titles.get(basename(t.file, '.jpg'))!, t.text));
// A title's main part: before a colon or " - ", without a leading article (posters often show only that).
const main = (title: string) => title.split(/:| - /)[0]!.replace(/^(the|a|an)\s+/i, '');
const foundMain = withTitle.filter((t) => titleFound(main(titles.get(basename(t.file, '.jpg'))!), t.text));
const anyText = texts.filter((t) => t.lines > 0).length;

console.log(`\nreal posters (${files.length} from ${dir})`);
console.log(`  throughput ${(files.length / seconds).toFixed(2)} posters/s wall (${seconds.toFixed(1)} s), ${cpuPerPoster.toFixed(0)} CPU ms per poster (all threads)`);
console.log(`  load average before ${load.map((l) => l.toFixed(1)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(1)).join(' ')} (2 cores)`);
console.log(`  text lines per poster ${(texts.reduce((n, t) => n + t.lines, 0) / files.length).toFixed(2)}; posters with any text read ${pct(anyText, files.length)}`);
console.log(`  metadata title found in the text read: ${pct(found.length, withTitle.length)} (${found.length}/${withTitle.length}); its main part (before ':', no leading article): ${pct(foundMain.length, withTitle.length)}`);
console.log(`\n  sample (title | text read, lines joined by " / "):`);
for (const t of texts.slice(0, sampleCount)) {
  const title = titles.get(basename(t.file, '.jpg')) ?? '?';
  const mark = titleFound(title, t.text) ? '+' : titleFound(main(title), t.text) ? '~' : ' ';
  console.log(`  ${mark} ${basename(t.file, '.jpg')}  ${title.padEnd(36).slice(0, 36)} | ${normalizeSpaces(t.text.replace(/\n/g, ' / ')).slice(0, 110)}`);
}

// The same posters again with the read-text cache: what a re-run costs.
const cacheDir = mkdtempSync(join(tmpdir(), 'posterscope-bench-read-'));
const cached = await loadPosterReader({}, { mirrors: [], cacheDir });
for (const file of files) await cached.read(file, { minConfidence });
const again = performance.now();
for (const file of files) await cached.read(file, { minConfidence });
console.log(`\n  re-read from the cache: ${(files.length / ((performance.now() - again) / 1000)).toFixed(0)} posters/s (decode + hash + lookup)`);
await cached.release();
rmSync(cacheDir, { recursive: true, force: true });
await reader.release();
