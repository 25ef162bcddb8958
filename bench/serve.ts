/**
 * `npm run bench:serve`: a loopback load test of `posterscope serve`.
 *
 * Starts the server as a child process (the built CLI, default model, backbone
 * from the mirror), posts posters from ../shared/data/posters/unlabeled with
 * autocannon at concurrency 1, 8 and 32, then keeps posting at concurrency 8
 * until 5,000 requests have been served in all, reading the server's RSS from
 * /proc before and after. Prints throughput, p50 / p99 latency, errors, and the
 * ratio of backbone passes/s to model-only throughput. Nothing is asserted.
 *
 * Environment: POSTERSCOPE_SHARED (default ../shared); BENCH_REQUESTS to scale
 * the request counts (default 1).
 */
import { spawn } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import { loadBackbone } from '../src/backbone/backbone.js';
import { DEFAULT_MODEL_PATH, loadModel } from '../src/model/model.js';
import { measureModelOnly } from './model-only.js';

const root = join(import.meta.dirname, '..');
const shared = resolve(process.env.POSTERSCOPE_SHARED ?? join(root, '..', 'shared'));
const mirror = join(shared, 'models');
const scale = Number(process.env.BENCH_REQUESTS ?? 1);
const unlabeled = join(shared, 'data', 'posters', 'unlabeled');
const names = (await readdir(unlabeled)).sort();
const bodies = await Promise.all(names.map((n) => readFile(join(unlabeled, n))));
const cacheDir = join(tmpdir(), `posterscope-bench-serve-${process.pid}`);

// Backbone passes per poster for the default view set, counted on these posters.
const model = await loadModel(DEFAULT_MODEL_PATH, { mirrors: [mirror], cacheDir, offline: true });
let passes = 0;
await model.predict(names.slice(0, 100).map((n) => join(unlabeled, n)), { cache: false, onSummary: (s) => (passes = s.passes) });
const passesPerPoster = passes / 100;
await model.release();

// Model-only throughput on preprocessed batches, for the ratio.
const backbone = await loadBackbone('mobilenetv2', { mirrors: [mirror], cacheDir, offline: true });
const modelOnly = (await measureModelOnly(backbone, 8)).rate;
await backbone.release();

const server = spawn(process.execPath, [join(root, 'dist', 'cli', 'main.js'), 'serve', '--port', '0', '--max-queue', '1024'], {
  env: { ...process.env, POSTERSCOPE_MIRROR: mirror, POSTERSCOPE_CACHE: cacheDir, POSTERSCOPE_OFFLINE: '1' },
  stdio: ['ignore', 'ignore', 'pipe'],
});
const url = await new Promise<string>((resolveUrl, reject) => {
  let text = '';
  server.stderr.on('data', (chunk) => {
    text += chunk;
    const match = /on (http:\/\/[^/\s]+)\//.exec(text);
    if (match) resolveUrl(match[1]!);
  });
  server.once('exit', (code) => reject(new Error(`server exited (${code}): ${text}`)));
});
const rssMB = async () => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${server.pid}/status`, 'utf8'))![1]) / 1024;

const requests = bodies.map((body) => ({ method: 'POST' as const, path: '/v1/predict', headers: { 'content-type': 'image/jpeg' }, body }));
async function load(connections: number, amount: number) {
  const result = await autocannon({ url, connections, amount, requests, timeout: 60 });
  return {
    connections,
    requests: result.requests.total,
    errors: result.errors + result.timeouts + result.non2xx,
    rate: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
  };
}

await load(4, 40); // warm-up
const rssBefore = await rssMB();
const rows = [];
let served = 0;
for (const [connections, amount] of [[1, 100 * scale], [8, 800 * scale], [32, 800 * scale]] as const) {
  const r = await load(connections, amount);
  served += r.requests;
  rows.push(r);
}
// The soak runs in chunks so RSS can be seen levelling off (allocator growth) or climbing (a leak).
const samples: string[] = [`${served}: ${(await rssMB()).toFixed(0)} MB`];
const soak = { connections: 8, requests: 0, errors: 0, rate: 0, p50: 0, p99: 0 };
let soakSeconds = 0;
while (served < 5000 * scale) {
  const chunk = await load(8, Math.min(1000 * scale, 5000 * scale - served));
  served += chunk.requests;
  soakSeconds += chunk.requests / chunk.rate;
  soak.requests += chunk.requests;
  soak.errors += chunk.errors;
  soak.p50 = Math.max(soak.p50, chunk.p50);
  soak.p99 = Math.max(soak.p99, chunk.p99);
  samples.push(`${served}: ${(await rssMB()).toFixed(0)} MB`);
}
soak.rate = soak.requests / soakSeconds;
const rssAfter = await rssMB();
server.kill('SIGTERM');
await new Promise((r) => server.once('exit', r));

console.log(`model-only: ${modelOnly.toFixed(0)} backbone passes/s (batch 16); default views: ${passesPerPoster.toFixed(1)} passes per poster`);
console.log('concurrency  requests  errors  posters/s  passes/s  x model-only  p50 ms  p99 ms');
for (const r of [...rows, soak]) {
  console.log(
    `${String(r.connections).padStart(11)}  ${String(r.requests).padStart(8)}  ${String(r.errors).padStart(6)}  ${r.rate.toFixed(1).padStart(9)}  ${(r.rate * passesPerPoster).toFixed(0).padStart(8)}  ${((r.rate * passesPerPoster) / modelOnly).toFixed(2).padStart(12)}  ${String(r.p50).padStart(6)}  ${String(r.p99).padStart(6)}`,
  );
}
console.log(`server RSS: ${rssBefore.toFixed(0)} MB before, ${rssAfter.toFixed(0)} MB after ${served} requests (+${(rssAfter - rssBefore).toFixed(0)} MB)`);
console.log(`server RSS by requests served: ${samples.join(', ')}`);
