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
