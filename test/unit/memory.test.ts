/**
 * The memory helper (native/memory.c): free C-heap pages really go back to
 * the system, and it says so; built wherever CI runs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadAddon, plainView, prefault, releaseFreeMemory, threadCpuNs } from '../../src/native.js';
import { collectGarbage } from '../helpers/gc.js';

const built = loadAddon('posterscope_memory') !== undefined;

test('the memory helper is built wherever CI runs', { skip: process.env.CI === 'true' || built ? false : 'not built here (no compiler at install)' }, () => {
  assert.ok(built, 'npm ci should have built build/Release/posterscope_memory.node');
});

test('free C-heap memory goes back to the system', { skip: built && process.platform === 'linux' ? false : 'needs the helper, on glibc' }, async () => {
  const rss = () => process.memoryUsage().rss / 1048576;
  releaseFreeMemory();
  // 20,000 native chunks of ~8 KB (past Node's small-buffer pool, under malloc's mmap threshold), one in 50 kept: freed, but scattered.
  let chunks: Buffer[] = [];
  for (let i = 0; i < 20_000; i++) chunks.push(Buffer.alloc(8192 + (i % 7) * 64, 1));
  const kept = chunks.filter((_, i) => i % 50 === 0);
  chunks = [];
  // Collected for sure: the Buffers' memory is freed by their finalizers.
  for (let i = 0; i < 3; i++) await collectGarbage();
  const before = rss();
  assert.equal(releaseFreeMemory(), true);
  const after = rss();
  assert.equal(kept.length, 400);
  assert.ok(before - after > 50, `RSS ${before.toFixed(0)} -> ${after.toFixed(0)} MB: ~150 MB of freed chunks should have gone back`);
});

test('plainView: a plain ArrayBuffer over a shared batch\'s bytes, which keeps them alive', { skip: built ? false : 'needs the helper' }, async () => {
  let shared: Float32Array | undefined = new Float32Array(new SharedArrayBuffer(1 << 20));
  for (let i = 0; i < shared.length; i++) shared[i] = i * 0.5;
  const plain = plainView(shared)!;
  assert.ok(plain.buffer instanceof ArrayBuffer && !(plain.buffer instanceof SharedArrayBuffer));
  assert.equal(plain.length, shared.length);
  shared[7] = -1;
  assert.equal(plain[7], -1, 'the same bytes, not a copy');
  plain[8] = -2;
  assert.equal(shared[8], -2);
  // The shared array dropped and collected: the plain view still reads its bytes.
  shared = undefined;
  for (let i = 0; i < 3; i++) await collectGarbage();
  assert.equal(plain[9], 4.5);
  assert.equal(plain[plain.length - 1], (plain.length - 1) * 0.5);
  assert.throws(() => plainView(new Float32Array(0)), /non-empty Float32Array/);
});

test('prefault: a new batch\'s pages become resident on a pool thread, and no byte changes, even while it is written', { skip: built && process.platform === 'linux' ? false : 'needs the helper, on Linux' }, async () => {
  const rss = () => process.memoryUsage().rss / 1048576;
  // 96 MB never touched: not resident until something faults its pages in.
  const batch = new Float32Array(new SharedArrayBuffer(96 << 20));
  const before = rss();
  const done = prefault(batch)!;
  // Written meanwhile, from both ends: every value written stays.
  for (let i = 0; i < 1 << 16; i++) {
    batch[i] = i + 0.5;
    batch[batch.length - 1 - i] = -i;
  }
  await done;
  const after = rss();
  assert.ok(after - before > 80, `RSS ${before.toFixed(0)} -> ${after.toFixed(0)} MB: the 96 MB should be resident`);
  for (let i = 0; i < 1 << 16; i++) {
    if (batch[i] !== i + 0.5 || batch[batch.length - 1 - i] !== -i) assert.fail(`value ${i} changed`);
  }
  // And nothing else was written: the rest reads zero (one value per page).
  for (let i = 1 << 16; i < batch.length - (1 << 16); i += 1024) if (batch[i] !== 0) assert.fail(`value ${i} is ${batch[i]}`);
  assert.throws(() => prefault(new Float32Array(0)), /non-empty Float32Array/);
  assert.throws(() => prefault(new Uint8Array(8) as unknown as Float32Array), /non-empty Float32Array/);
});

test('threadCpuNs: this thread\'s CPU time, up to date at every call (finer than a scheduler tick)', { skip: built && process.platform === 'linux' ? false : 'needs the helper, on Linux' }, () => {
  // Twenty bursts of ~0.3 ms of work: the thread clock moves on at each one,
  // where /proc's schedstat, read by the thread itself, moves only at a tick
  // (4 ms here) and repeats its value across several bursts.
  const readings: number[] = [threadCpuNs()!];
  for (let i = 0; i < 20; i++) {
    const start = performance.now();
    while (performance.now() - start < 0.3);
    readings.push(threadCpuNs()!);
  }
  for (let i = 1; i < readings.length; i++) assert.ok(readings[i]! > readings[i - 1]!, `reading ${i} did not move on: ${readings.join(', ')}`);
  // Sleeping costs no CPU: 50 ms asleep adds far less than 50 ms.
  const before = threadCpuNs()!;
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  assert.ok(threadCpuNs()! - before < 20e6, 'a sleep was counted as CPU');
});
