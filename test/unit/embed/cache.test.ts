import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readdir, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EmbeddingCache, embeddingKey } from '../../../src/embed/cache.js';
import { isError } from '../../helpers/errors.js';

const vector = (seed: number, dim = 5) => Float32Array.from({ length: dim }, (_, i) => seed + i / 10);

async function freshDir() {
  return mkdtemp(join(tmpdir(), 'posterscope-cache-'));
}

test('vectors written by one process are read back exactly by the next', async () => {
  const dir = await freshDir();
  const cache = await EmbeddingCache.open({ dir, fingerprint: 'tiny-abc', dim: 5, flushEvery: 2 });
  for (let i = 0; i < 5; i++) cache.put(embeddingKey(`hash${i}`, 'full'), vector(i));
  assert.equal(cache.size, 5);
  assert.deepEqual(cache.get(embeddingKey('hash4', 'full')), vector(4)); // still buffered
  cache.close();
  const again = await EmbeddingCache.open({ dir, fingerprint: 'tiny-abc', dim: 5 });
  assert.equal(again.size, 5);
  for (let i = 0; i < 5; i++) assert.deepEqual(again.get(embeddingKey(`hash${i}`, 'full')), vector(i));
  assert.equal(again.has(embeddingKey('hash0', 'tiles-2x')), false, 'views are keyed separately');
  assert.equal(again.get(embeddingKey('other', 'full')), undefined);
  again.close();
});

test('a torn record at the end of a segment (a killed run) is skipped, earlier records survive', async () => {
  const dir = await freshDir();
  const cache = await EmbeddingCache.open({ dir, fingerprint: 'tiny-abc', dim: 5 });
  for (let i = 0; i < 3; i++) cache.put(embeddingKey(`hash${i}`, 'full'), vector(i));
  cache.close();
  const segment = join(cache.directory, (await readdir(cache.directory))[0]!);
  const { size } = await stat(segment);
  await truncate(segment, size - 7); // the last record loses its tail
  const reopened = await EmbeddingCache.open({ dir, fingerprint: 'tiny-abc', dim: 5 });
  assert.equal(reopened.size, 2);
  assert.equal(reopened.skippedRecords, 1);
  assert.deepEqual(reopened.get(embeddingKey('hash1', 'full')), vector(1));
  // The resumed run adds the lost vector to a segment of its own.
  reopened.put(embeddingKey('hash2', 'full'), vector(2));
  reopened.close();
  const third = await EmbeddingCache.open({ dir, fingerprint: 'tiny-abc', dim: 5 });
  assert.equal(third.size, 3);
  assert.deepEqual(third.get(embeddingKey('hash2', 'full')), vector(2));
  third.close();
});

test('a record with flipped bytes fails its checksum and is not served', async () => {
  const dir = await freshDir();
  const cache = await EmbeddingCache.open({ dir, fingerprint: 'tiny-abc', dim: 5 });
  cache.put(embeddingKey('a', 'full'), vector(1));
  cache.close();
  const segment = join(cache.directory, (await readdir(cache.directory))[0]!);
  await appendFile(segment, Buffer.alloc(0));
  const { readFile } = await import('node:fs/promises');
  const bytes = await readFile(segment);
  bytes[bytes.length - 1]! ^= 0xff;
  await writeFile(segment, bytes);
  const reopened = await EmbeddingCache.open({ dir, fingerprint: 'tiny-abc', dim: 5 });
  assert.equal(reopened.size, 0);
  assert.equal(reopened.skippedRecords, 1);
  reopened.close();
});

test('different backbones and dimensions never share vectors', async () => {
  const dir = await freshDir();
  const a = await EmbeddingCache.open({ dir, fingerprint: 'one-aaaa', dim: 5 });
  a.put(embeddingKey('x', 'full'), vector(1));
  a.close();
  const b = await EmbeddingCache.open({ dir, fingerprint: 'two-bbbb', dim: 5 });
  assert.equal(b.size, 0);
  b.close();
});

test('BAD CALL - put with a vector of the wrong length', async () => {
  const cache = await EmbeddingCache.open({ dir: await freshDir(), fingerprint: 'tiny', dim: 5 });
  assert.throws(
    () => cache.put(embeddingKey('x', 'full'), new Float32Array(4)),
    isError('INVALID_ARGUMENT', 'vector', 'Expected Float32Array of length 5 for vector but received Float32Array of length 4'),
  );
  cache.close();
});

/** Splits a cache's one segment into one file per record, dated `ageMs` ago: what many past runs leave. */
async function explode(directory: string, records: number, dim: number, ageMs: number): Promise<void> {
  const { readFile, rm, utimes } = await import('node:fs/promises');
  const [segment] = (await readdir(directory)).filter((n) => n.endsWith('.pse'));
  const bytes = await readFile(join(directory, segment!));
  const size = 44 + dim * 4;
  assert.equal(bytes.length, records * size);
  await rm(join(directory, segment!));
  const when = new Date(Date.now() - ageMs);
  for (let i = 0; i < records; i++) {
    const name = join(directory, `old${String(i).padStart(5, '0')}.pse`);
    await writeFile(name, bytes.subarray(i * size, (i + 1) * size));
    await utimes(name, when, when);
  }
}

test('BAD CALL - a flushEvery that is not a whole number from 1 to 4,096 -> INVALID_ARGUMENT naming it', async () => {
  const dir = await freshDir();
  for (const flushEvery of [0, -1, 2.5, Number.NaN, 1e9]) {
    await assert.rejects(EmbeddingCache.open({ dir, fingerprint: 'tiny-abc', dim: 5, flushEvery }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'INVALID_ARGUMENT');
      assert.match(error.message, /for flushEvery but received number/);
      return true;
    });
  }
});

test('a thousand past runs do not exhaust file descriptors: settled segments are merged into one', async () => {
  const dir = await freshDir();
  const cache = await EmbeddingCache.open({ dir, fingerprint: 'tiny-abc', dim: 4 });
  for (let i = 0; i < 1000; i++) cache.put(embeddingKey(`hash${i}`, 'full'), vector(i, 4));
  cache.close();
  await explode(cache.directory, 1000, 4, 10 * 60_000);
  // A child with 200 descriptors, as under `ulimit -n`: holding one per segment fails with EMFILE.
  const { spawnSync } = await import('node:child_process');
  const script = [
    `const { EmbeddingCache, embeddingKey } = await import(${JSON.stringify(new URL('../../../src/embed/cache.ts', import.meta.url).href)});`,
    `const cache = await EmbeddingCache.open({ dir: ${JSON.stringify(dir)}, fingerprint: 'tiny-abc', dim: 4 });`,
    `let ok = 0; for (let i = 0; i < 1000; i++) if (cache.get(embeddingKey('hash' + i, 'full'))?.[0] === i) ok++;`,
    `cache.close(); console.log(ok);`,
  ].join('\n');
  const child = spawnSync('sh', ['-c', `ulimit -n 200 && exec "${process.execPath}" --import tsx --input-type=module -e "$0"`, script], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stdout.trim(), '1000');
  const left = (await readdir(cache.directory)).filter((n) => n.endsWith('.pse'));
  assert.equal(left.length, 1, 'merged into one segment');
  const again = await EmbeddingCache.open({ dir, fingerprint: 'tiny-abc', dim: 4 });
  assert.equal(again.size, 1000);
  again.close();
});

test('damaged records are reported once with their count, then dropped by the merge', async () => {
  const dir = await freshDir();
  const cache = await EmbeddingCache.open({ dir, fingerprint: 'tiny-abc', dim: 4 });
  for (let i = 0; i < 6; i++) cache.put(embeddingKey(`hash${i}`, 'full'), vector(i, 4));
  cache.close();
  await explode(cache.directory, 6, 4, 10 * 60_000);
  const { readFile, utimes } = await import('node:fs/promises');
  const old = new Date(Date.now() - 10 * 60_000);
  for (const name of ['old00001.pse', 'old00004.pse']) {
    const path = join(cache.directory, name);
    const bytes = await readFile(path);
    bytes[bytes.length - 1]! ^= 0xff;
    await writeFile(path, bytes);
    await utimes(path, old, old);
  }
  const warnings: string[] = [];
  const first = await EmbeddingCache.open({ dir, fingerprint: 'tiny-abc', dim: 4, onWarning: (m) => warnings.push(m) });
  assert.equal(first.size, 4);
  first.close();
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^2 damaged embedding cache records skipped in .*; those vectors are computed again$/);
  const second = await EmbeddingCache.open({ dir, fingerprint: 'tiny-abc', dim: 4, onWarning: (m) => warnings.push(m) });
  assert.equal(second.size, 4);
  assert.deepEqual(second.get(embeddingKey('hash5', 'full')), vector(5, 4));
  second.close();
  assert.equal(warnings.length, 1, 'the merge dropped them: not reported again');
});

test('a merge leaves a segment another process is still writing alone, and that process keeps reading and writing', async () => {
  const dir = await freshDir();
  const seed = await EmbeddingCache.open({ dir, fingerprint: 'tiny-abc', dim: 4 });
  for (let i = 0; i < 40; i++) seed.put(embeddingKey(`old${i}`, 'full'), vector(i, 4));
  seed.close();
  await explode(seed.directory, 40, 4, 10 * 60_000);
  const writer = await EmbeddingCache.open({ dir, fingerprint: 'tiny-abc', dim: 4, flushEvery: 1 });
  writer.put(embeddingKey('live0', 'full'), vector(100, 4));
  // A second process opens meanwhile and merges the 40 settled segments (the writer held them open: still readable to it).
  const other = await EmbeddingCache.open({ dir, fingerprint: 'tiny-abc', dim: 4 });
  assert.equal(other.size, 41);
  const names = (await readdir(seed.directory)).filter((n) => n.endsWith('.pse'));
  assert.equal(names.length, 2, 'the merged segment and the writer\'s own');
  writer.put(embeddingKey('live1', 'full'), vector(101, 4));
  assert.deepEqual(writer.get(embeddingKey('old7', 'full')), vector(7, 4));
  assert.deepEqual(writer.get(embeddingKey('live0', 'full')), vector(100, 4));
  writer.close();
  other.close();
  const after = await EmbeddingCache.open({ dir, fingerprint: 'tiny-abc', dim: 4 });
  assert.equal(after.size, 42);
  after.close();
});
