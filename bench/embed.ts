/**
 * `npm run bench:embed`: how fast posters become cached embeddings.
 *
 * Prints model-only throughput (backbone passes/s on preprocessed batches),
 * end-to-end throughput from JPEG files to cached vectors for one view and for
 * the multi-tile view set, their ratios to model-only, the re-run time when
 * everything is cached, and peak RSS. Numbers only: nothing is asserted.
 *
 * Environment: POSTERSCOPE_SHARED (default ../shared) for the posters and the
 * model mirror; BENCH_LIMIT to use fewer posters.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadBackbone } from '../src/backbone/backbone.js';
import { collectImageFiles } from '../src/data/files.js';
import { EmbeddingCache } from '../src/embed/cache.js';
import { embedPosters } from '../src/embed/pipeline.js';
import { parseViews } from '../src/image/views.js';
import { measureModelOnly } from './model-only.js';

const shared = resolve(process.env.POSTERSCOPE_SHARED ?? join(import.meta.dirname, '..', '..', 'shared'));
const limit = Number(process.env.BENCH_LIMIT ?? Infinity);
const batchSize = 16;

const { files: all } = await collectImageFiles([join(shared, 'data', 'posters', 'images')]);
const files = all.slice(0, limit);
const cacheDir = await mkdtemp(join(tmpdir(), 'posterscope-bench-'));
const backbone = await loadBackbone('mobilenetv2', { mirrors: [join(shared, 'models')], cacheDir, offline: true });

function rss(): number {
  return process.resourceUsage().maxRSS / 1024;
}

// Model only: preprocessed batches of 16, after a warm-up. The machine's speed
// drifts (shared cores), so it is measured before, between and after the
// end-to-end runs, and each ratio uses the mean of the windows around it.
const modelOnly = (seconds: number) => measureModelOnly(backbone, seconds, batchSize);

const rows: string[][] = [['phase', 'posters', 'passes', 'seconds', 'passes/s', 'x model-only']];
const windows: number[] = [await modelOnly(8)];
rows.push(['model only (batch 16), before', '-', '-', '8', windows[0]!.toFixed(0), '-']);

async function run(label: string, views: string): Promise<void> {
  const cache = await EmbeddingCache.open({ dir: cacheDir, fingerprint: backbone.fingerprint, dim: backbone.dim });
  const summary = await embedPosters(files, { backbone, views: parseViews(views), cache, batchSize });
  cache.close();
  const rate = summary.passes / summary.seconds;
  const before = windows[windows.length - 1]!;
  const after = await modelOnly(8);
  windows.push(after);
  rows.push([label, String(summary.posters), String(summary.passes), summary.seconds.toFixed(1), rate.toFixed(0), (rate / ((before + after) / 2)).toFixed(2)]);
  rows.push([`model only (batch 16), after`, '-', '-', '8', after.toFixed(0), '-']);
  // Re-run as a fresh process would: open the cache, hash every file, find everything cached.
  const t = performance.now();
  const reopened = await EmbeddingCache.open({ dir: cacheDir, fingerprint: backbone.fingerprint, dim: backbone.dim });
  const again = await embedPosters(files, { backbone, views: parseViews(views), cache: reopened, batchSize });
  reopened.close();
  rows.push([`${label}, re-run cached`, String(again.fromCache), String(again.passes), ((performance.now() - t) / 1000).toFixed(2), '-', '-']);
}

await run('embed, one view (native)', 'single');
await run('embed, multi-tile (tiles)', 'tiles');
await backbone.release();
await rm(cacheDir, { recursive: true, force: true });

const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
for (const row of rows) console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
console.log(`peak RSS: ${rss().toFixed(0)} MB`);
