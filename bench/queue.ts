/**
 * What the job queue costs and what a pool of machines would do with 300k
 * posters. Prints numbers; asserts nothing.
 *
 *   npm run bench:queue                       # 1,254 posters of ../shared, native view
 *   npm run bench:queue -- --posters 2000 --views tiles-small --repeat 3
 *
 * Runs, each on a fresh cache and store, all through the built CLI as a user runs it:
 *   1. plain `embed` (one process, default layout: one inference worker per core)
 *   2. `queue add` + 1 `worker` with the same layout: queue overhead per poster
 *   3. 2 workers, each 1 inference worker x 1 ONNX thread
 *   4. 1 worker, 1 inference worker x 2 ONNX threads
 * Redis commands and network bytes come from Redis's INFO around run 2.
 * Wall times include process start and model loading, in every run alike.
 * The machine is shared: the load average is printed with the numbers.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_PREFIX, kindQueueName } from '../src/queue/jobs.js';
import { startRedis } from '../test/helpers/redis.js';

const { values: args } = parseArgs({
  options: {
    posters: { type: 'string', default: '1254' },
    views: { type: 'string', default: 'native' },
    chunk: { type: 'string', default: '64' },
    /** Plain embed and 1 worker alternately this many times (the machine's load drifts; the median ratio is reported). */
    repeat: { type: 'string', default: '1' },
  },
});
const shared = resolve(process.env.POSTERSCOPE_SHARED ?? join(import.meta.dirname, '..', '..', 'shared'));
const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
const images = join(shared, 'data', 'posters', 'images');
const unlabeled = join(shared, 'data', 'posters', 'unlabeled');
const count = Number(args.posters);
const files = [...readdirSync(unlabeled).sort().map((f) => join(unlabeled, f)), ...readdirSync(images).sort().map((f) => join(images, f))].slice(0, count);
const load = () => loadavg()[0]!.toFixed(1);
const root = await mkdtemp(join(tmpdir(), 'posterscope-bench-queue-'));
const env = { PATH: process.env.PATH, HOME: process.env.HOME, POSTERSCOPE_MIRROR: join(shared, 'models'), POSTERSCOPE_OFFLINE: '1' };

/** Runs the CLI to its end; `cpu` is the process's user + system seconds (all its threads), from bash's `times`. */
function run(cli: string[], cache: string): Promise<{ code: number | null; stdout: string; stderr: string; cpu: number }> {
  return new Promise((done) => {
    const script = 'node "$@"; code=$?; times >&2; exit $code';
    const child = spawn('bash', ['-c', script, 'bash', CLI, ...cli], { env: { ...env, POSTERSCOPE_CACHE: cache }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => {
      const [, um, us, sm, ss] = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/.exec(stderr) ?? [];
      done({ code, stdout, stderr, cpu: Number(um) * 60 + Number(us) + Number(sm) * 60 + Number(ss) });
    });
  });
}

/** User + system CPU seconds of a running process and all its threads. */
function cpuOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
const CLOCK_TICKS = 100;

async function du(dir: string): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let n = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    bytes += (await stat(join(entry.parentPath, entry.name))).size;
    n++;
  }
  return { bytes, files: n };
}

function info(text: string, field: string): number {
  return Number(new RegExp(`^${field}:(\\d+)`, 'm').exec(text)?.[1] ?? 0);
}

/** Enqueues, starts `layouts.length` workers, waits for the queue to drain; seconds from worker start to the last chunk. */
async function queueRun(label: string, layouts: string[][]): Promise<{ seconds: number; cpu: number; readyCpu: number; addSeconds: number; addCpu: number; ops: number; bytesIn: number; bytesOut: number; storeBytes: number; storeFiles: number }> {
  const redis = await startRedis();
  const store = join(root, `${label}-store`);
  const probe = new Redis(redis.url);
  const queue = new Queue(kindQueueName('posters', 'embed'), { connection: { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null }, prefix: QUEUE_PREFIX });
  try {
    let t = performance.now();
    const added = await run(['queue', 'add', ...files, '--views', args.views, '--chunk', args.chunk, '--redis', redis.url, '--store', store], join(root, `${label}-add`));
    if (added.code !== 0) throw new Error(added.stderr);
    const addSeconds = (performance.now() - t) / 1000;
    const before = await probe.info();
    t = performance.now();
    let readyCpu = 0;
    const workers = layouts.map((layout, i) => {
      const child = spawn(process.execPath, [CLI, 'worker', '--redis', redis.url, '--store', store, ...layout], { env: { ...env, POSTERSCOPE_CACHE: join(root, `${label}-w${i}`) }, stdio: ['ignore', 'ignore', 'pipe'] });
      // CPU spent before the first job: starting node, loading BullMQ and ioredis, connecting (models load on the first job, as in embed).
      let seen = false;
      child.stderr.on('data', (chunk: Buffer) => {
        if (!seen && chunk.toString().includes('waiting for')) {
          seen = true;
          readyCpu += cpuOf(child.pid!);
        }
      });
      return child;
    });
    const chunks = Math.ceil(files.length / Number(args.chunk));
    while ((await queue.getCompletedCount()) + (await queue.getFailedCount()) < chunks) await sleep(100);
    const seconds = (performance.now() - t) / 1000;
    const after = await probe.info();
    const cpu = workers.reduce((n, w) => n + cpuOf(w.pid!), 0);
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)))));
    const storeUse = await du(join(store, 'embeddings'));
    return {
      seconds,
      cpu,
      readyCpu,
      addSeconds,
      addCpu: added.cpu,
      // Minus the INFO calls of this probe itself.
      ops: info(after, 'total_commands_processed') - info(before, 'total_commands_processed') - 1,
      bytesIn: info(after, 'total_net_input_bytes') - info(before, 'total_net_input_bytes'),
      bytesOut: info(after, 'total_net_output_bytes') - info(before, 'total_net_output_bytes'),
      storeBytes: storeUse.bytes,
      storeFiles: storeUse.files,
    };
  } finally {
    await queue.close();
    probe.disconnect();
    await redis.stop();
  }
}

console.log(`bench:queue — ${files.length} posters, views ${args.views}, chunks of ${args.chunk}; 2 cores shared with other work, load average ${load()} at start`);
try {
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  const steadyRatios: number[] = [];
  const bare = await run(['--version'], join(root, 'bare'));
  let plainSeconds = 0;
  let one!: Awaited<ReturnType<typeof queueRun>>;
  for (let r = 0; r < Number(args.repeat); r++) {
    const t = performance.now();
    const plain = await run(['embed', ...files, '--views', args.views, '--quiet', '--json'], join(root, `plain-${r}`));
    if (plain.code !== 0) throw new Error(plain.stderr);
    plainSeconds = (performance.now() - t) / 1000;
    const plainLoop = JSON.parse(plain.stdout).seconds as number;
    console.log(`1. plain embed:                         ${plainSeconds.toFixed(1)} s wall (${(files.length / plainSeconds).toFixed(1)} posters/s; embedding loop ${plainLoop.toFixed(1)} s), load ${load()}`);
    one = await queueRun(`one-${r}`, [[]]);
    ratios.push(one.seconds / plainSeconds);
    cpuRatios.push(one.cpu / plain.cpu);
    // The queue's fixed cost per worker start: its CPU when ready for jobs, beyond a bare CLI start.
    const fixed = Math.max(0, one.readyCpu - bare.cpu);
    steadyRatios.push((one.cpu - fixed) / plain.cpu);
    console.log(`   worker start: ${one.readyCpu.toFixed(2)} CPU s until ready vs ${bare.cpu.toFixed(2)} s for a bare CLI start: ${fixed.toFixed(2)} s fixed per worker; per poster without it ${(((one.cpu - fixed) / plain.cpu - 1) * 100).toFixed(1)}%`);
    console.log(`   CPU: plain embed ${plain.cpu.toFixed(1)} s = ${((plain.cpu / files.length) * 1000).toFixed(1)} ms/poster; worker ${one.cpu.toFixed(1)} s = ${((one.cpu / files.length) * 1000).toFixed(1)} ms/poster (${((one.cpu / plain.cpu - 1) * 100).toFixed(1)}%); queue add ${((one.addCpu / files.length) * 1000).toFixed(1)} ms/poster`);
    console.log(`2. 1 worker (same layout as embed):     ${one.seconds.toFixed(1)} s wall (${(files.length / one.seconds).toFixed(1)} posters/s), ${((one.seconds / plainSeconds - 1) * 100).toFixed(1)}% vs plain; queue add took ${one.addSeconds.toFixed(1)} s (reading and hashing), load ${load()}`);
  }
  ratios.sort((a, b) => a - b);
  const median = ratios[Math.floor(ratios.length / 2)]!;
  cpuRatios.sort((a, b) => a - b);
  const cpuMedian = cpuRatios[Math.floor(cpuRatios.length / 2)]!;
  console.log(`queue overhead in CPU per poster (worker vs plain embed, robust to the load): median ${((cpuMedian - 1) * 100).toFixed(1)}% (target <= 5%); range ${((cpuRatios[0]! - 1) * 100).toFixed(1)}% .. ${((cpuRatios.at(-1)! - 1) * 100).toFixed(1)}%`);
  steadyRatios.sort((a, b) => a - b);
  console.log(`queue overhead in CPU per poster once a worker runs (its fixed start cost left out; a 300k run starts each worker once): median ${((steadyRatios[Math.floor(steadyRatios.length / 2)]! - 1) * 100).toFixed(1)}%; range ${((steadyRatios[0]! - 1) * 100).toFixed(1)}% .. ${((steadyRatios.at(-1)! - 1) * 100).toFixed(1)}%`);
  console.log(`queue overhead in wall time per poster: median ${((median - 1) * 100).toFixed(1)}% over ${ratios.length} pair(s) (target <= 5%); range ${((ratios[0]! - 1) * 100).toFixed(1)}% .. ${((ratios.at(-1)! - 1) * 100).toFixed(1)}%`);

  const two = await queueRun('two', [['--workers', '1', '--threads', '1'], ['--workers', '1', '--threads', '1']]);
  const threads = await queueRun('threads', [['--workers', '1', '--threads', '2']]);
  console.log(`   CPU per poster: 2 workers x 1 thread ${((two.cpu / files.length) * 1000).toFixed(1)} ms, 1 worker x 2 threads ${((threads.cpu / files.length) * 1000).toFixed(1)} ms`);
  console.log(`3. 2 workers x 1 ONNX thread:           ${two.seconds.toFixed(1)} s (${(files.length / two.seconds).toFixed(1)} posters/s), load ${load()}`);
  console.log(`4. 1 worker x 2 ONNX threads:           ${threads.seconds.toFixed(1)} s (${(files.length / threads.seconds).toFixed(1)} posters/s); ratio 2 workers / 1 worker x 2 threads = ${(threads.seconds / two.seconds).toFixed(2)}`);

  const perPoster = (n: number) => n / files.length;
  console.log(`Redis during run 2: ${one.ops} commands = ${perPoster(one.ops).toFixed(2)} per poster; ${(perPoster(one.bytesIn + one.bytesOut)).toFixed(0)} bytes per poster (${perPoster(one.bytesIn).toFixed(0)} in, ${perPoster(one.bytesOut).toFixed(0)} out)`);
  console.log(`store: ${(perPoster(one.storeBytes) / 1024).toFixed(1)} KiB and ${perPoster(one.storeFiles).toFixed(1)} files per poster (vectors), plus one manifest and one chunk record per ${args.chunk} posters`);

  // Projection: each machine like this one (2 cores) runs one worker at run 2's rate.
  const measured = files.length / one.seconds;
  // This machine's cores are shared (see the load average): what a machine with both cores free would do, from CPU time.
  const idle = 2 / (one.cpu / files.length);
  console.log(`per-machine rate: ${measured.toFixed(1)} posters/s measured here; ${idle.toFixed(1)} posters/s with both cores free (estimate: 2 cores / ${((one.cpu / files.length) * 1000).toFixed(1)} CPU ms per poster)`);
  for (const [label, rate] of [['measured rate', measured], ['both cores free', idle]] as const) {
  const opsPerPoster = perPoster(one.ops);
  const bytesPerPoster = perPoster(one.storeBytes);
  const REDIS_OPS = 50_000; // a conservative single-threaded Redis figure for BullMQ's Lua-heavy traffic
  const STORE_BYTES = 100e6; // a 1 GbE NFS server
  console.log(`projection for 300,000 posters at the ${label} (one worker per 2-core machine, linear until a shared part saturates):`);
  for (const machines of [1, 8, 32]) {
    const wanted = rate * machines;
    const redisShare = (wanted * opsPerPoster) / REDIS_OPS;
    const storeShare = (wanted * bytesPerPoster) / STORE_BYTES;
    const achieved = wanted / Math.max(1, redisShare, storeShare);
    const hours = 300_000 / achieved / 3600;
    const bottleneck = redisShare >= 1 ? 'Redis' : storeShare >= 1 ? 'shared storage' : 'workers';
    console.log(
      `  ${String(machines).padStart(2)} machines: ${achieved.toFixed(0)} posters/s -> ${hours < 1 ? `${(hours * 60).toFixed(0)} min` : `${hours.toFixed(1)} h`}; Redis at ${(redisShare * 100).toFixed(1)}% of ${REDIS_OPS} ops/s, store at ${(storeShare * 100).toFixed(1)}% of 100 MB/s; bottleneck: ${bottleneck}`,
    );
  }
  console.log(`  the bottleneck moves at about ${Math.floor(REDIS_OPS / (rate * opsPerPoster))} machines (Redis) or ${Math.floor(STORE_BYTES / (rate * bytesPerPoster))} machines (store at 100 MB/s), whichever comes first`);
  }
  console.log(`load average ${load()} at end`);
} finally {
  await rm(root, { recursive: true, force: true });
}
