/**
 * `npm run bench:embed [-- --profile] [--workers N] [--threads N] [--views LIST]`:
 * how fast posters become cached embeddings, and where the CPU goes.
 *
 * Model-only throughput (backbone passes/s on preprocessed batches, as many in
 * flight as there are inference workers) is measured before, between and after
 * the end-to-end runs; each ratio uses the mean of the windows around it, since
 * this machine's speed drifts. "x model-only" divides by model-only in the
 * pipeline's own batch size (what the pipeline adds); "x model-only b16" by
 * model-only in batches of 16, the reference issue 13 set its targets against. Beside every rate: process CPU per poster and per
 * pass (all threads), which other work on the machine disturbs far less than
 * wall time, and the 1-minute load average.
 *
 * --profile adds, for the single-view run:
 * - CPU per poster by thread: main thread, inference workers (inside ONNX
 *   Runtime vs messaging/rest), every other thread (libuv pool: file reads and
 *   sharp/libvips calls; V8 GC helpers; ORT intra-op threads when --threads > 1),
 *   each of those by thread id (Node names them all "node");
 * - CPU per poster of each stage run alone on the same posters: read + hash,
 *   decode, render (native view), normalise, cache write - and what is left
 *   over once model-only inference is added (hand-off, scheduling, idle spin);
 * - model-only CPU per pass for 1 worker x 2 threads beside the chosen layout.
 * --warm first runs the first view set once, unmeasured, into its own cache,
 * so the runs measure a warm process (JIT, WASM tier-up, buffer pools).
 * Numbers only: nothing is asserted.
 *
 * Environment: POSTERSCOPE_SHARED (default ../shared); BENCH_LIMIT to use fewer posters.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type Backbone, loadBackbone } from '../src/backbone/backbone.js';
import { inferenceCpu } from '../src/backbone/onnx-runtime.js';
import { collectImageFiles } from '../src/data/files.js';
import { EmbeddingCache, embeddingKey } from '../src/embed/cache.js';
import { DEFAULT_BATCH_SIZE, embedPosters } from '../src/embed/pipeline.js';
import { poolMisses, recycleBuffer } from '../src/image/buffers.js';
import { readJpegHeader } from '../src/image/jpeg.js';
import { type Poster, decodePosterBytes, readPosterFile } from '../src/image/poster.js';
import { type Crop, parseViews, renderView } from '../src/image/views.js';
import { load, measureModelOnly, type ModelOnly, REFERENCE_BATCH_SIZE } from './model-only.js';

const { values: args } = parseArgs({
  options: {
    profile: { type: 'boolean', default: false },
    warm: { type: 'boolean', default: false },
    workers: { type: 'string' },
    threads: { type: 'string' },
    views: { type: 'string', default: 'single;tiles' },
    'batch-size': { type: 'string', default: String(DEFAULT_BATCH_SIZE) },
  },
});
const shared = resolve(process.env.POSTERSCOPE_SHARED ?? join(import.meta.dirname, '..', '..', 'shared'));
const limit = Number(process.env.BENCH_LIMIT ?? Infinity);
const batchSize = Number(args['batch-size']);
const mirrors = [join(shared, 'models')];

const { files: all } = await collectImageFiles([join(shared, 'data', 'posters', 'images')]);
const files = all.slice(0, limit);
const cacheDir = await mkdtemp(join(tmpdir(), 'posterscope-bench-'));
const layout = {
  ...(args.workers ? { workers: Number(args.workers) } : {}),
  ...(args.threads ? { threads: Number(args.threads) } : {}),
};
const backbone = await loadBackbone('mobilenetv2', { mirrors, cacheDir, offline: true, ...layout });
console.log(`${files.length} posters, batch ${batchSize}, ${backbone.parallelism} inference worker(s) x ${args.threads ?? 1} thread(s); load average ${load()} at start`);

const cpuMs = (used: NodeJS.CpuUsage) => (used.user + used.system) / 1000;
/** CPU ns of one thread of this process (Linux). */
function threadNs(tid: number): number {
  return Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'latin1').split(' ')[0]);
}
/** CPU ns of every thread of this process by thread id, with its name (Linux). */
function allThreads(): Map<number, { name: string; ns: number }> {
  const out = new Map<number, { name: string; ns: number }>();
  for (const tid of readdirSync('/proc/self/task').map(Number)) {
    try {
      out.set(tid, { name: readFileSync(`/proc/self/task/${tid}/comm`, 'latin1').trim(), ns: threadNs(tid) });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

const rows: string[][] = [['phase', 'posters', 'passes', 'seconds', 'passes/s', 'x model-only', `x model-only b${REFERENCE_BATCH_SIZE}`, 'core-ms/poster', 'core-ms/pass', 'load']];
const modelRow = (label: string, m: ModelOnly) => rows.push([label, '-', '-', '8', m.rate.toFixed(0), '-', '-', '-', m.cpuMs.toFixed(2), load()]);
// Model-only in the pipeline's batches (the ratio "x model-only"), and in issue 13's reference batches of 16 when
// those differ (its targets were set against them; ONNX Runtime runs faster per pass in smaller batches).
const reference = batchSize !== REFERENCE_BATCH_SIZE;
const windows: ModelOnly[] = [await measureModelOnly(backbone, 8, batchSize)];
modelRow(`model only, before (batch ${batchSize})`, windows[0]!);
const referenceWindows: ModelOnly[] = reference ? [await measureModelOnly(backbone, 8, REFERENCE_BATCH_SIZE)] : [];
if (reference) modelRow(`model only, before (batch ${REFERENCE_BATCH_SIZE})`, referenceWindows[0]!);

let threadProfile: string[][] | undefined;

async function run(label: string, views: string, profile: boolean): Promise<void> {
  const cache = await EmbeddingCache.open({ dir: cacheDir, fingerprint: backbone.fingerprint, dim: backbone.dim });
  const workersBefore = profile ? await inferenceCpu() : [];
  const mainBefore = profile ? threadNs(process.pid) : 0;
  const threadsBefore = profile ? allThreads() : new Map<number, { name: string; ns: number }>();
  const misses = { ...poolMisses };
  const cpu = process.cpuUsage();
  const summary = await embedPosters(files, { backbone, views: parseViews(views), cache, batchSize });
  const used = cpuMs(process.cpuUsage(cpu));
  cache.close();
  if (profile) {
    const main = (threadNs(process.pid) - mainBefore) / 1e6;
    const workersAfter = await inferenceCpu();
    let ort = 0;
    let workerTotal = 0;
    for (const after of workersAfter) {
      const before = workersBefore.find((w) => w.tid === after.tid);
      ort += (after.runNs - (before?.runNs ?? 0)) / 1e6;
      workerTotal += (after.threadNs - (before?.threadNs ?? 0)) / 1e6;
    }
    const per = (ms: number) => (ms / summary.posters).toFixed(2);
    // The threads that are neither main nor an inference worker, summed by name (V8 GC helpers, libuv pool, ...).
    const others = new Map<string, number>();
    const known = new Set([process.pid, ...workersAfter.map((w) => w.tid)]);
    for (const [tid, after] of allThreads()) {
      if (known.has(tid)) continue;
      const ms = (after.ns - (threadsBefore.get(tid)?.ns ?? 0)) / 1e6;
      // Node names all its threads "node": the id's offset from the main thread's tells them apart
      // (V8's platform threads, which run garbage collection, start first; libuv's pool later).
      const label = `"${after.name}", id main+${tid - process.pid}`;
      others.set(label, (others.get(label) ?? 0) + ms);
    }
    threadProfile = [
      ['thread', 'core-ms/poster'],
      ['main thread (read, decode, render, normalise, cache, scheduling)', per(main)],
      ['inference workers: inside ONNX Runtime', per(ort)],
      ['inference workers: messages, tensor wrapping, rest', per(workerTotal - ort)],
      ['other threads (libuv pool: file I/O, sharp/libvips; V8 GC; ORT intra-op)', per(used - main - workerTotal)],
      ...[...others].filter(([, ms]) => ms / summary.posters >= 0.01).sort((a, b) => b[1] - a[1]).map(([label, ms]) => [`  of which thread ${label}`, per(ms)]),
      ['whole process', per(used)],
      [`buffers the pool could not serve (fresh allocations): ${poolMisses.count - misses.count}, ${((poolMisses.bytes - misses.bytes) / 1048576).toFixed(1)} MB`, ''],
    ];
  }
  const rate = summary.passes / summary.seconds;
  const before = windows[windows.length - 1]!;
  const after = await measureModelOnly(backbone, 8, batchSize);
  windows.push(after);
  const ratio = rate / ((before.rate + after.rate) / 2);
  let referenceRatio = ratio;
  let referenceAfter: ModelOnly | undefined;
  if (reference) {
    referenceAfter = await measureModelOnly(backbone, 8, REFERENCE_BATCH_SIZE);
    referenceRatio = rate / ((referenceWindows[referenceWindows.length - 1]!.rate + referenceAfter.rate) / 2);
    referenceWindows.push(referenceAfter);
  }
  rows.push([label, String(summary.posters), String(summary.passes), summary.seconds.toFixed(1), rate.toFixed(0), ratio.toFixed(2), referenceRatio.toFixed(2), (used / summary.posters).toFixed(2), (used / summary.passes).toFixed(2), load()]);
  modelRow(`model only, after (batch ${batchSize})`, after);
  if (referenceAfter) modelRow(`model only, after (batch ${REFERENCE_BATCH_SIZE})`, referenceAfter);
  // Re-run as a fresh process would: open the cache, hash every file, find everything cached.
  const t = performance.now();
  const reopened = await EmbeddingCache.open({ dir: cacheDir, fingerprint: backbone.fingerprint, dim: backbone.dim });
  const again = await embedPosters(files, { backbone, views: parseViews(views), cache: reopened, batchSize });
  reopened.close();
  rows.push([`${label}, re-run cached`, String(again.fromCache), String(again.passes), ((performance.now() - t) / 1000).toFixed(2), '-', '-', '-', '-', '-', load()]);
}

const runs = args.views.split(';').filter(Boolean);
if (args.warm) {
  // One unmeasured pass of the first view set, into its own cache, so the runs
  // below measure a warm process (JIT, WASM tier-up, allocator pools) as a
  // server or a long embed does after its first minute.
  const cache = await EmbeddingCache.open({ dir: join(cacheDir, 'warm'), fingerprint: backbone.fingerprint, dim: backbone.dim });
  await embedPosters(files, { backbone, views: parseViews(runs[0]!), cache, batchSize });
  cache.close();
}
for (const [i, views] of runs.entries()) await run(`embed, ${views}`, views, args.profile && i === 0);

/** Each stage alone over the same posters, one at a time: process CPU per poster. */
async function stages(sample: string[], model: Backbone): Promise<string[][]> {
  const measure = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
    const cpu = process.cpuUsage();
    const result = await work();
    return [result, cpuMs(process.cpuUsage(cpu)) / sample.length];
  };
  const [read, readMs] = await measure(async () => {
    const out: Array<{ bytes: Buffer; contentHash: string; source: string }> = [];
    for (const source of sample) out.push({ ...(await readPosterFile(source)), source });
    return out;
  });
  const lean = read.filter((r) => readJpegHeader(r.bytes)?.plain).length;
  // Each poster's pixels go back to the pool once decoded, as the pipeline gives them back once rendered.
  const [, decodeMs] = await measure(async () => {
    for (const r of read) recycleBuffer((await decodePosterBytes(r.bytes, r.source, r.contentHash)).pixels);
  });
  const posters: Poster[] = [];
  for (const r of read) posters.push(await decodePosterBytes(r.bytes, r.source, r.contentHash));
  // Crops go back to the pool once rendered, as the pipeline gives them back once packed.
  const [, renderMs] = await measure(async () => {
    for (const p of posters) (await renderView(p, { kind: 'native' }, model.viewInput)).forEach(recycleBuffer);
  });
  const crops: Crop[] = [];
  for (const p of posters) crops.push(...(await renderView(p, { kind: 'native' }, model.viewInput)));
  const batch = new Float32Array(batchSize * model.cropSize);
  const [, packMs] = await measure(async () => {
    for (let i = 0; i < crops.length; i += batchSize) model.pack(crops.slice(i, i + batchSize), batch);
  });
  const cache = await EmbeddingCache.open({ dir: join(cacheDir, 'stage'), fingerprint: model.fingerprint, dim: model.dim });
  const vector = new Float32Array(model.dim).fill(0.5);
  const [, cacheMs] = await measure(async () => {
    for (const r of read) cache.put(embeddingKey(r.contentHash, 'native'), vector);
    cache.flush();
  });
  cache.close();
  return [
    ['stage (alone, one poster at a time)', 'core-ms/poster'],
    ['read + hash (open, fstat, read, close in one pool task with the C reader; sha256)', readMs.toFixed(2)],
    [`decode (${lean}/${sample.length} on the lean JPEG path, the rest sharp)`, decodeMs.toFixed(2)],
    ['render native view (resize to 224x224)', renderMs.toFixed(2)],
    ['normalise into the batch (writeCrop)', packMs.toFixed(2)],
    ['cache write (record, CRC, append)', cacheMs.toFixed(2)],
  ];
}

if (args.profile) {
  const sample = files.slice(0, Math.min(600, files.length));
  const stageRows = await stages(sample, backbone);
  const e2e = Number(rows.find((r) => r[0] === `embed, ${runs[0]}`)![rows[0]!.indexOf('core-ms/poster')]);
  const model = windows.reduce((s, w) => s + w.cpuMs, 0) / windows.length;
  const sum = stageRows.slice(1).reduce((s, r) => s + Number(r[1]), 0);
  stageRows.push(['inference, model-only (CPU per pass, same layout)', model.toFixed(2)]);
  stageRows.push(['sum of the parts', (sum + model).toFixed(2)]);
  stageRows.push([`end to end (${runs[0]})`, e2e.toFixed(2)]);
  stageRows.push(['left over: hand-off, scheduling, contention between threads', (e2e - sum - model).toFixed(2)]);
  // The layout the pipeline used before: one worker with two intra-op threads.
  const old = await loadBackbone('mobilenetv2', { mirrors, cacheDir, offline: true, workers: 1, threads: 2 });
  const oldModel = await measureModelOnly(old, 8, batchSize);
  const newModel = await measureModelOnly(backbone, 8, batchSize);
  await old.release();
  const print = (table: string[][]) => {
    const width = Math.max(...table.map((r) => r[0]!.length));
    for (const row of table) console.log(`${row[0]!.padEnd(width)}  ${row[1]!.padStart(8)}`);
    console.log('');
  };
  console.log('');
  print(threadProfile!);
  print(stageRows);
  print([
    ['model-only layout (back to back)', 'core-ms/pass'],
    [`${backbone.parallelism} worker(s) x ${args.threads ?? 1} thread(s): ${newModel.rate.toFixed(0)} passes/s`, newModel.cpuMs.toFixed(2)],
    [`1 worker x 2 threads: ${oldModel.rate.toFixed(0)} passes/s`, oldModel.cpuMs.toFixed(2)],
  ]);
}

await backbone.release();
await rm(cacheDir, { recursive: true, force: true });

const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
for (const row of rows) console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
console.log(`peak RSS: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB; load average ${load()} at end`);
