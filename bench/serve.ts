/**
 * `npm run bench:serve [-- --heap]`: a loopback load test of `posterscope serve`.
 *
 * Starts the server as a child process (the built CLI, default model, backbone
 * from the mirror), posts posters from ../shared/data/posters/unlabeled with
 * autocannon at concurrency 1, 8 and 32, then keeps posting at concurrency 8
 * until 5,000 requests have been served in all, reading the server's RSS from
 * /proc along the way. Prints throughput, p50 / p99 latency, errors, the
 * ratio of backbone passes/s to model-only throughput (measured in this run,
 * before the server starts), the server's CPU per poster (from /proc), and the
 * load average. Nothing is asserted.
 *
 * --heap: the server also writes a V8 heap snapshot after the warm-up and
 * after the soak (SIGUSR2), and the benchmark prints how the JavaScript heap
 * changed between them, by constructor: whether RSS growth is a JS leak or
 * native memory.
 *
 * Environment: POSTERSCOPE_SHARED (default ../shared); BENCH_REQUESTS to scale
 * the request counts (default 1).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { loadBackbone } from '../src/backbone/backbone.js';
import { DEFAULT_MODEL_PATH, loadModel } from '../src/model/model.js';
import { DEFAULT_BATCH_SIZE } from '../src/embed/pipeline.js';
import { load as loadAverage, measureModelOnly, REFERENCE_BATCH_SIZE } from './model-only.js';

const { values: args } = parseArgs({ options: { heap: { type: 'boolean', default: false } } });
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
const modelOnly = await measureModelOnly(backbone, 8);
const referenceOnly = await measureModelOnly(backbone, 8, REFERENCE_BATCH_SIZE);
await backbone.release();

const snapshots = args.heap ? await mkdtemp(join(tmpdir(), 'posterscope-heap-')) : undefined;
const server = spawn(
  process.execPath,
  [
    ...(snapshots ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshots}`] : []),
    join(root, 'dist', 'cli', 'main.js'),
    'serve',
    '--port',
    '0',
    '--max-queue',
    '1024',
  ],
  {
    env: { ...process.env, POSTERSCOPE_MIRROR: mirror, POSTERSCOPE_CACHE: cacheDir, POSTERSCOPE_OFFLINE: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  },
);
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
/** The server's CPU time so far, ms (all its threads). */
const serverCpuMs = async () => {
  const fields = (await readFile(`/proc/${server.pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
};

async function snapshot(): Promise<string | undefined> {
  if (!snapshots) return undefined;
  const before = new Set(await readdir(snapshots));
  server.kill('SIGUSR2');
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    const added = (await readdir(snapshots)).filter((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
    if (added.length > 0) {
      // Written when the size stops changing.
      const path = join(snapshots, added[0]!);
      let size = -1;
      for (;;) {
        const now = (await readFile(path)).length;
        if (now === size && now > 0) return path;
        size = now;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
}

/** Self size by node type and constructor name. */
async function heapBreakdown(path: string): Promise<Map<string, { size: number; count: number }>> {
  const snap = JSON.parse(await readFile(path, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number];
  const out = new Map<string, { size: number; count: number }>();
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const type = types[snap.nodes[i + typeAt]!]!;
    const key = type === 'object' || type === 'native' ? `${type} ${snap.strings[snap.nodes[i + nameAt]!]}` : type;
    const entry = out.get(key) ?? { size: 0, count: 0 };
    entry.size += snap.nodes[i + sizeAt]!;
    entry.count++;
    out.set(key, entry);
  }
  return out;
}

const requests = bodies.map((body) => ({ method: 'POST' as const, path: '/v1/predict', headers: { 'content-type': 'image/jpeg' }, body }));
async function load(connections: number, amount: number) {
  const cpu = await serverCpuMs();
  const result = await autocannon({ url, connections, amount, requests, timeout: 60 });
  return {
    connections,
    requests: result.requests.total,
    errors: result.errors + result.timeouts + result.non2xx,
    rate: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuMs: (await serverCpuMs()) - cpu,
    load: loadAverage(),
  };
}

await load(4, 40); // warm-up
const heapBefore = await snapshot();
const rssBefore = await rssMB();
const rows = [];
let served = 0;
// RSS after each phase too, so growth can be pinned on a phase (the concurrency-32 burst, say).
const phases: string[] = [`warm-up: ${rssBefore.toFixed(0)} MB`];
for (const [connections, amount] of [[1, 100 * scale], [8, 800 * scale], [32, 800 * scale]] as const) {
  const r = await load(connections, amount);
  served += r.requests;
  rows.push(r);
  phases.push(`after c=${connections}: ${(await rssMB()).toFixed(0)} MB`);
}
// The soak runs in chunks so RSS can be seen levelling off (allocator growth) or climbing (a leak).
const samples: string[] = [`${served}: ${(await rssMB()).toFixed(0)} MB`];
const soak = { connections: 8, requests: 0, errors: 0, rate: 0, p50: 0, p99: 0, cpuMs: 0, load: '' };
let soakSeconds = 0;
while (served < 5000 * scale) {
  const chunk = await load(8, Math.min(1000 * scale, 5000 * scale - served));
  served += chunk.requests;
  soakSeconds += chunk.requests / chunk.rate;
  soak.requests += chunk.requests;
  soak.errors += chunk.errors;
  soak.cpuMs += chunk.cpuMs;
  soak.p50 = Math.max(soak.p50, chunk.p50);
  soak.p99 = Math.max(soak.p99, chunk.p99);
  soak.load = chunk.load;
  samples.push(`${served}: ${(await rssMB()).toFixed(0)} MB`);
}
soak.rate = soak.requests / soakSeconds;
const rssAfter = await rssMB();
const heapAfter = await snapshot();
server.kill('SIGTERM');
await new Promise((r) => server.once('exit', r));

console.log(
  `model-only: ${modelOnly.rate.toFixed(0)} backbone passes/s (batch ${DEFAULT_BATCH_SIZE}, as the server runs), ${modelOnly.cpuMs.toFixed(2)} core-ms per pass; ${referenceOnly.rate.toFixed(0)} passes/s in batches of ${REFERENCE_BATCH_SIZE} (issue 13's reference, "x b${REFERENCE_BATCH_SIZE}"); default views: ${passesPerPoster.toFixed(1)} passes per poster`,
);
console.log(`concurrency  requests  errors  posters/s  passes/s  x model-only  x b${REFERENCE_BATCH_SIZE}  p50 ms  p99 ms  core-ms/poster   load`);
for (const r of [...rows, soak]) {
  console.log(
    `${String(r.connections).padStart(11)}  ${String(r.requests).padStart(8)}  ${String(r.errors).padStart(6)}  ${r.rate.toFixed(1).padStart(9)}  ${(r.rate * passesPerPoster).toFixed(0).padStart(8)}  ${((r.rate * passesPerPoster) / modelOnly.rate).toFixed(2).padStart(12)}  ${((r.rate * passesPerPoster) / referenceOnly.rate).toFixed(2).padStart(5)}  ${String(r.p50).padStart(6)}  ${String(r.p99).padStart(6)}  ${(r.cpuMs / r.requests).toFixed(1).padStart(14)}  ${r.load.padStart(5)}`,
  );
}
console.log(`server RSS: ${rssBefore.toFixed(0)} MB before, ${rssAfter.toFixed(0)} MB after ${served} requests (+${(rssAfter - rssBefore).toFixed(0)} MB)`);
console.log(`server RSS by requests served: ${samples.join(', ')}`);
console.log(`server RSS by phase: ${phases.join(', ')}`);
if (heapBefore && heapAfter) {
  const [a, b] = [await heapBreakdown(heapBefore), await heapBreakdown(heapAfter)];
  const total = (m: Map<string, { size: number }>) => [...m.values()].reduce((s, e) => s + e.size, 0) / 2 ** 20;
  console.log(`JS heap (snapshot self sizes): ${total(a).toFixed(1)} MB after warm-up, ${total(b).toFixed(1)} MB after the soak`);
  const deltas = [...new Set([...a.keys(), ...b.keys()])]
    .map((key) => ({ key, size: (b.get(key)?.size ?? 0) - (a.get(key)?.size ?? 0), count: (b.get(key)?.count ?? 0) - (a.get(key)?.count ?? 0) }))
    .sort((x, y) => Math.abs(y.size) - Math.abs(x.size))
    .slice(0, 8);
  for (const d of deltas) console.log(`  ${(d.size / 1024).toFixed(0).padStart(8)} KB  ${String(d.count).padStart(7)} objects  ${d.key}`);
  await rm(snapshots!, { recursive: true, force: true });
}
