/**
 * `npx tsx bench/stages.ts [--stage NAME] [--repeat R] [--limit N]`: the CPU
 * per poster of each stage outside inference (read + hash, decode, render of
 * the native view, normalisation into a batch), each run alone over the same
 * posters after a warm-up, with no ONNX Runtime in the process.
 *
 * On a loaded machine CPU time still drifts (caches and cores are shared), so
 * the stage can also be counted in instructions, which other load does not
 * change: run it under callgrind twice, with --repeat 1 and --repeat 3, and
 * divide the difference of the two totals by 2 x posters:
 *
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
 *     node --import tsx bench/stages.ts --stage render --repeat 3 --limit 100
 *
 * Environment: POSTERSCOPE_SHARED (default ../shared). Numbers only.
 */
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type Poster, decodePosterBytes, readPosterFile } from '../src/image/poster.js';
import { type Crop, normalizationTables, renderView, writeCrop } from '../src/image/views.js';
import { load } from './model-only.js';

const STAGES = ['read', 'decode', 'render', 'normalise'] as const;
type Stage = (typeof STAGES)[number];
const { values: args } = parseArgs({
  options: {
    stage: { type: 'string' },
    repeat: { type: 'string', default: '3' },
    limit: { type: 'string', default: '600' },
  },
});
const repeat = Number(args.repeat);
const only = args.stage as Stage | undefined;
if (only !== undefined && !STAGES.includes(only)) throw new Error(`--stage is one of ${STAGES.join(', ')}`);
const shared = resolve(process.env.POSTERSCOPE_SHARED ?? join(import.meta.dirname, '..', '..', 'shared'));
const dir = join(shared, 'data', 'posters', 'images');
const files = (await readdir(dir)).sort().slice(0, Number(args.limit)).map((f) => join(dir, f));
// MobileNetV2's input and normalisation (the only backbone on this machine).
const input = { width: 224, height: 224, policy: 'squash', kernel: 'linear' } as const;
const tables = normalizationTables({ scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
const batch = new Float32Array(16 * 224 * 224 * 3);

const read: Array<{ bytes: Buffer; contentHash: string; source: string }> = [];
for (const source of files) read.push({ ...(await readPosterFile(source)), source });
const posters: Poster[] = [];
for (const r of read) posters.push(await decodePosterBytes(r.bytes, r.source, r.contentHash));
const crops: Crop[] = [];
for (const p of posters) crops.push(...(await renderView(p, { kind: 'native' }, input)));

const work: Record<Stage, () => Promise<void>> = {
  read: async () => {
    for (const source of files) await readPosterFile(source);
  },
  decode: async () => {
    for (const r of read) await decodePosterBytes(r.bytes, r.source, r.contentHash);
  },
  render: async () => {
    for (const p of posters) await renderView(p, { kind: 'native' }, input);
  },
  normalise: async () => {
    crops.forEach((crop, i) => writeCrop(crop, tables, 'NCHW', batch, i % 16));
  },
};

console.log(`${files.length} posters, ${repeat} round(s) per stage; load average ${load()}`);
for (const stage of only ? [only] : STAGES) {
  await work[stage](); // warm-up: JIT, lazily built tables, the decoder's instance
  const cpu = process.cpuUsage();
  for (let r = 0; r < repeat; r++) await work[stage]();
  const used = process.cpuUsage(cpu);
  console.log(`${stage.padEnd(10)} ${((used.user + used.system) / 1000 / files.length / repeat).toFixed(3)} core-ms/poster`);
}
