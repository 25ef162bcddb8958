/**
 * The job queue for real: redis-server on a loopback port, workers as
 * processes of the built CLI, MobileNetV2 from ../shared/models, real posters.
 */
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BACKBONES } from '../../src/backbone/registry.js';
import { EmbeddingCache } from '../../src/embed/cache.js';
import { runCli } from '../helpers/cli.js';
import { type TempDir, makeTempDir } from '../helpers/images.js';
import { kindQueue, spawnWorker, waitFor } from '../helpers/queue.js';
import { type RedisServer, skipWithoutRedis, startRedis } from '../helpers/redis.js';
import { POSTERS, skipWithoutShared } from '../helpers/shared.js';

const skip = skipWithoutShared || skipWithoutRedis;
let dir: TempDir;
let posters: string[];

before(async () => {
  if (skip) return;
  dir = await makeTempDir('posterscope-queue-');
  posters = (await readdir(POSTERS)).sort().slice(0, 30).map((f) => join(POSTERS, f));
});

after(async () => {
  await dir?.remove();
});

test('BAD CALL - queue and worker: one line naming the option, exit 2', { skip }, async () => {
  // Spawned side by side: each is a separate process, and the machine is slow to start them.
  const [noRedis, badUrl, typo, kinds, down] = await Promise.all([
    runCli(['queue', 'add', posters[0]!, '--store', dir.file('s0')]),
    runCli(['queue', 'status', '--redis', 'http://localhost:6379']),
    runCli(['queue', 'colect', '--redis', 'redis://127.0.0.1:1']),
    runCli(['worker', '--redis', 'redis://127.0.0.1:1', '--store', dir.file('s0'), '--jobs', 'embed,clen']),
    // Nothing listens on port 1: one line, exit 1, no stack.
    runCli(['queue', 'status', '--redis', 'redis://127.0.0.1:1']),
  ]);
  assert.equal(noRedis.code, 2);
  assert.match(noRedis.stderr, /^posterscope: queue add needs --redis URL/);
  assert.equal(badUrl.code, 2);
  assert.equal(badUrl.stderr, 'posterscope: Expected a redis:// or rediss:// URL for --redis but received string "http://localhost:6379"\n');
  assert.match(typo.stderr, /unknown queue subcommand "colect"\. Did you mean "collect"\?/);
  assert.equal(kinds.code, 2);
  assert.match(kinds.stderr, /Expected one of embed, clean, predict for --jobs but received string "clen"; did you mean "clean"\?/);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /^posterscope: cannot reach Redis at redis:\/\/127\.0\.0\.1:1: .*\n$/);
});

test('embed chunks: adding twice adds nothing, a poison poster fails its own row, a worker refuses a job for another backbone', { skip }, async () => {
  const redis = await startRedis();
  const store = dir.file('store');
  const cache = dir.file('worker-cache');
  const poison = dir.file('poison.jpg');
  // A real poster cut short: it passes the magic-byte check at `queue add` and fails to decode in the worker.
  await writeFile(poison, (await readFile(posters[0]!)).subarray(0, 3000));
  const inputs = [...posters, poison];
  const add = (args: string[]) => runCli(['queue', 'add', ...args, '--redis', redis.url, '--store', store, '--chunk', '8', '--json']);
  const queue = kindQueue(redis.url, 'embed');
  let worker;
  try {
    const first = await add(inputs);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(JSON.parse(first.stdout), { queue: 'posters', kind: 'embed', posters: 31, unreadable: 0, chunks: 4, added: 4, existing: 0, retried: 0 });
    const again = await add(inputs);
    assert.deepEqual([JSON.parse(again.stdout).added, JSON.parse(again.stdout).existing], [0, 4]);
    assert.equal(await queue.count(), 4, 'BullMQ holds each chunk once');

    // A job for a backbone file this worker does not have.
    const row = { ...BACKBONES.find((b) => b.id === 'mobilenetv2')!, file: { ...BACKBONES.find((b) => b.id === 'mobilenetv2')!.file, sha256: 'f'.repeat(64) } };
    await writeFile(dir.file('other-row.json'), JSON.stringify(row));
    const other = await add([...posters.slice(0, 3), '--backbone', dir.file('other-row.json')]);
    assert.equal(JSON.parse(other.stdout).added, 1, other.stderr);

    worker = spawnWorker(['--redis', redis.url, '--store', store, '--stall-seconds', '5', '--workers', '1'], { cache });
    await waitFor('the chunks to finish', async () => {
      const c = await queue.getJobCounts('completed', 'failed');
      return c.completed === 4 && c.failed === 1;
    });
    const [refused] = await queue.getFailed();
    assert.match(refused!.failedReason, /^refused by worker \S+: the job asks for backbone mobilenetv2 sha256 ffffffffffff…, this worker has mobilenetv2 sha256 83530ad811bc…$/);
    assert.equal(refused!.attemptsMade, 1, 'a refusal is final: no retries for a job this worker can never do');

    const status = await runCli(['queue', 'status', '--redis', redis.url, '--json']);
    const s = JSON.parse(status.stdout);
    assert.deepEqual(s.chunks, { waiting: 0, active: 0, delayed: 0, completed: 4, failed: 1 });
    assert.deepEqual([s.posters.queued, s.posters.done, s.posters.failed], [34, 30, 1]);
    assert.equal(s.workers.length, 1);
    assert.deepEqual(s.posterErrors, { IMAGE_CORRUPT: 1 });
    assert.equal(s.failedChunks[0].chunks, 1);
    assert.match(s.failedChunks[0].reason, /^refused by a worker: /);

    // Put back by hand, the refused chunk is tried afresh (one start) and refused again.
    const retried = await add([...posters.slice(0, 3), '--backbone', dir.file('other-row.json'), '--retry-failed']);
    assert.equal(JSON.parse(retried.stdout).retried, 1, retried.stderr);
    await waitFor('the refused chunk to fail again', async () => {
      const job = await queue.getJob(refused!.id!);
      return (await job!.getState()) === 'failed' && job!.finishedOn! > refused!.finishedOn! && job!.attemptsStarted === 1;
    });

    const collected = await runCli(['queue', 'collect', '--redis', redis.url, '--store', store, '--out', dir.file('out'), '--json']);
    assert.equal(collected.code, 1, 'a failed poster and a failed chunk make collect exit 1');
    const summary = JSON.parse(collected.stdout);
    assert.deepEqual([summary.chunks, summary.embedded, summary.failed, summary.failedChunks.length], [4, 30, 1, 1]);
    assert.match(collected.stderr, /^error: .*poison\.jpg: JPEG data is truncated or corrupt/m);
    const out = await EmbeddingCache.open({ dir: dir.file('out'), fingerprint: 'mobilenetv2-83530ad811bc31d2', dim: 1280 });
    assert.equal(out.size, 30, 'one vector per readable poster, in a cache train/evaluate read');
    out.close();

    // SIGTERM: the worker finishes, removes its heartbeat and exits 0.
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0, worker.log());
    assert.match(worker.log(), /worker stopped/);
    const after = JSON.parse((await runCli(['queue', 'status', '--redis', redis.url, '--json'])).stdout);
    assert.equal(after.workers.length, 0);
  } finally {
    worker?.child.kill('SIGKILL');
    await queue.close();
    await redis.stop();
  }
});

test('a chunk that kills its worker every time ends in the failed set after --attempts starts', { skip }, async () => {
  const redis = await startRedis();
  const store = dir.file('crash-store');
  const queue = kindQueue(redis.url, 'embed');
  const workers: ReturnType<typeof spawnWorker>[] = [];
  try {
    // Slow enough (21 crops a poster) to be caught while it runs.
    const added = await runCli(['queue', 'add', ...posters.slice(0, 16), '--views', 'tiles-small,tiles-3x', '--attempts', '2', '--redis', redis.url, '--store', store, '--chunk', '16']);
    assert.equal(added.code, 0, added.stderr);
    const [job] = await queue.getWaiting();
    let kills = 0;
    for (let round = 0; round < 4; round++) {
      const worker = spawnWorker(['--redis', redis.url, '--store', store, '--stall-seconds', '2', '--workers', '1'], { cache: dir.file('crash-cache') });
      workers.push(worker);
      // Each delivery starts the job again (attemptsStarted counts them).
      const state = await waitFor('the next delivery', async () => {
        const j = await queue.getJob(job!.id!);
        const s = await j!.getState();
        if (s === 'failed') return 'failed';
        return s === 'active' && j!.attemptsStarted === round + 1 ? 'active' : undefined;
      });
      if (state === 'failed') break;
      if (round < 2) {
        worker.child.kill('SIGKILL'); // the crash: no clean-up, the lock just stops being renewed
        await worker.exited;
        kills++;
      }
    }
    const failed = await queue.getJob(job!.id!);
    assert.equal(await failed!.getState(), 'failed');
    assert.equal(kills, 2);
    assert.match(failed!.failedReason, /^chunk started 2 times without finishing: 2 deliveries lost their worker \(killed, crashed or out of memory\), 0 failed; not retried$/);
  } finally {
    for (const w of workers) w.child.kill('SIGKILL');
    await queue.close();
    await redis.stop();
  }
});

test('predict and clean chunks: collect writes predictions as `predict` does, and text-free posters with boxes.jsonl', { skip }, async () => {
  const redis = await startRedis();
  const store = dir.file('pc-store');
  const four = posters.slice(0, 4);
  let worker;
  try {
    for (const job of [['--job', 'predict', '--views', 'native'], ['--job', 'clean']]) {
      const added = await runCli(['queue', 'add', ...four, ...job, '--redis', redis.url, '--store', store, '--chunk', '2']);
      assert.equal(added.code, 0, added.stderr);
    }
    worker = spawnWorker(['--redis', redis.url, '--store', store, '--jobs', 'predict,clean', '--workers', '1'], { cache: dir.file('pc-cache') });
    const predictQueue = kindQueue(redis.url, 'predict');
    const cleanQueue = kindQueue(redis.url, 'clean');
    try {
      await waitFor('2 predict and 2 clean chunks', async () => (await predictQueue.getCompletedCount()) === 2 && (await cleanQueue.getCompletedCount()) === 2);
    } finally {
      await Promise.all([predictQueue.close(), cleanQueue.close()]);
    }
    const out = dir.file('pc-out');
    const collected = await runCli(['queue', 'collect', '--redis', redis.url, '--store', store, '--out', out, '--json']);
    assert.equal(collected.code, 0, collected.stderr);
    assert.deepEqual([JSON.parse(collected.stdout).predicted, JSON.parse(collected.stdout).cleaned], [4, 4]);
    const lines = (await readFile(join(out, 'predictions.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.input), [...four].sort());
    assert.ok(lines.every((l) => l.scores.length === 25 && l.scores[0].score >= l.scores[1].score));
    const boxes = (await readFile(join(out, 'clean', 'boxes.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(boxes.map((b) => b.file).sort(), four.map((p) => p.split('/').at(-1)).sort());
    assert.ok(boxes.every((b) => Array.isArray(b.boxes) && typeof b.masked === 'number'));
    assert.deepEqual((await readdir(join(out, 'clean'))).sort(), ['boxes.jsonl', ...four.map((p) => p.split('/').at(-1)!)].sort());
    // The same predictions as CSV, in predict's columns.
    const csv = await runCli(['queue', 'collect', '--redis', redis.url, '--store', store, '--out', dir.file('p.csv'), '--jobs', 'predict']);
    assert.equal(csv.code, 0, csv.stderr);
    assert.match(await readFile(dir.file('p.csv'), 'utf8'), /^input,genres,error,Action,Adventure,/);
  } finally {
    worker?.child.kill('SIGKILL');
    await redis.stop();
  }
});
