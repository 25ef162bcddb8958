/**
 * The crash test: 2 worker processes, 600 real posters, one worker
 * killed with SIGKILL at a random moment while it holds a chunk, and a
 * restart of redis-server while the other works; afterwards the collected
 * output has exactly one vector per poster, equal to a single-process
 * `embed` run's.
 */
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { EmbeddingCache, embeddingKey } from '../../src/embed/cache.js';
import { readPosterFile } from '../../src/image/poster.js';
import type { ChunkSummary } from '../../src/queue/jobs.js';
import { runCli } from '../helpers/cli.js';
import { type TempDir, makeTempDir } from '../helpers/images.js';
import { kindQueue, spawnWorker, waitFor } from '../helpers/queue.js';
import { skipWithoutRedis, startRedis } from '../helpers/redis.js';
import { MODELS, POSTERS, skipWithoutShared } from '../helpers/shared.js';

const skip = skipWithoutShared || skipWithoutRedis;
const FINGERPRINT = 'mobilenetv2-83530ad811bc31d2';
let dir: TempDir;

before(async () => {
  if (!skip) dir = await makeTempDir('posterscope-crash-');
});

after(async () => {
  await dir?.remove();
});

test('kill -9 of a worker and a Redis restart: every poster once, vectors equal to a single-process run', { skip }, async () => {
  const posters = (await readdir(POSTERS)).sort().slice(0, 600).map((f) => join(POSTERS, f));
  const redis = await startRedis({ persistent: true });
  const store = dir.file('store');
  const queue = kindQueue(redis.url, 'embed');
  const workers: ReturnType<typeof spawnWorker>[] = [];
  try {
    const added = await runCli(['queue', 'add', ...posters, '--redis', redis.url, '--store', store, '--chunk', '25', '--json']);
    assert.equal(added.code, 0, added.stderr);
    assert.equal(JSON.parse(added.stdout).chunks, 24);
    const workerArgs = ['--redis', redis.url, '--store', store, '--stall-seconds', '3', '--heartbeat', '1', '--workers', '1', '--threads', '1'];
    for (const name of ['a', 'b']) workers.push(spawnWorker(workerArgs, { cache: dir.file(`cache-${name}`) }));

    // A random moment once both work: then kill the worker holding a chunk right then.
    const ids = await Promise.all(workers.map((w) => waitFor('a worker to start', async () => /worker (\S+) waiting/.exec(w.log())?.[1])));
    await waitFor('a first finished chunk', async () => (await queue.getCompletedCount()) >= 1);
    await sleep(Math.random() * 1000);
    const [victim, held] = await waitFor('a worker holding a chunk', async () => {
      const [job] = await queue.getActive();
      const at = ids.findIndex((id) => job?.processedBy === `posterscope-worker-${id}`);
      return at >= 0 ? ([workers[at]!, job!.id!] as const) : undefined;
    });
    const doneAtKill = await queue.getCompletedCount();
    victim.child.kill('SIGKILL');
    const killedAt = Date.now();
    await victim.exited;
    assert.ok(doneAtKill < 24, 'the kill came before the end');

    // Redis goes away with no warning and comes back on the same port and data (AOF).
    await redis.restart(true);
    await waitFor('all 24 chunks', async () => (await queue.getCompletedCount()) === 24, 400_000);
    assert.equal(await queue.getFailedCount(), 0);
    const survivor = workers.find((w) => w !== victim)!;
    assert.match(survivor.log(), /(lost the connection to Redis|queue trouble, retrying)[^]*reconnected to Redis[^]*chunk embed-/, survivor.log());

    // Nothing completed was redone: every chunk's posters counted once (embed chunks write their pack at the end, so none is found stored).
    const completed = await queue.getCompleted(0, 100);
    const summaries = completed.map((j) => j.returnvalue as ChunkSummary);
    const restarted = completed.filter((j) => j.attemptsStarted > 1).length;
    assert.ok(restarted <= 2, `only the killed worker's chunk (and at most one cut by the Redis restart) ran again: ${restarted}`);
    const heldJob = completed.find((j) => j.id === held)!;
    // Chunks take a fraction of a second: the one seen held may have finished just before the kill landed.
    assert.ok(heldJob.attemptsStarted === 2 || heldJob.finishedOn! <= killedAt, 'the chunk the killed worker held was delivered again');
    const computed = summaries.reduce((n, s) => n + s.computed, 0);
    const stored = summaries.reduce((n, s) => n + s.stored, 0);
    assert.equal(computed + stored, 600);
    assert.equal(stored, 0);

    const collected = await runCli(['queue', 'collect', '--redis', redis.url, '--store', store, '--out', dir.file('out'), '--json']);
    assert.equal(collected.code, 0, collected.stderr);
    assert.deepEqual([JSON.parse(collected.stdout).embedded, JSON.parse(collected.stdout).failed], [600, 0]);

    // One record per poster on disk (a duplicate would be a second record with the same key).
    const segmentDir = join(dir.file('out'), 'embeddings', `${FINGERPRINT}-p1`);
    const segments = await readdir(segmentDir);
    const bytes = (await Promise.all(segments.map((s) => stat(join(segmentDir, s))))).reduce((n, s) => n + s.size, 0);
    assert.equal(bytes, 600 * (44 + 1280 * 4));

    // The single-process run the queue must match.
    const env = { POSTERSCOPE_MIRROR: MODELS, POSTERSCOPE_CACHE: dir.file('local'), POSTERSCOPE_OFFLINE: '1' };
    const local = await runCli(['embed', ...posters, '--quiet', '--json'], { env });
    assert.equal(local.code, 0, local.stderr);
    const [mine, theirs] = await Promise.all([
      EmbeddingCache.open({ dir: dir.file('out'), fingerprint: FINGERPRINT, dim: 1280 }),
      EmbeddingCache.open({ dir: dir.file('local'), fingerprint: FINGERPRINT, dim: 1280 }),
    ]);
    assert.equal(mine.size, 600);
    let worst = 0;
    for (const poster of posters) {
      const key = embeddingKey((await readPosterFile(poster)).contentHash, 'native');
      const [a, b] = [mine.get(key), theirs.get(key)];
      assert.ok(a && b, `${poster} has a vector in both`);
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    }
    mine.close();
    theirs.close();
    assert.equal(worst, 0, `vectors equal to the single-process run (largest difference ${worst})`);
  } finally {
    for (const w of workers) w.child.kill('SIGKILL');
    await queue.close();
    await redis.stop();
  }
});
