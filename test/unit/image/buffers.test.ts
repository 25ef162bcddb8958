/**
 * The buffer pool: posters a few rows apart share buffers, a crop does not
 * take a decoded poster's buffer while a crop-sized one is free, views go
 * back whole, and buffers the pool did not allocate are never taken in.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { poolMisses, recycleBuffer, takeBuffer } from '../../../src/image/buffers.js';

const POSTER_A = 224 * 317 * 3; // 213,024 bytes
const POSTER_B = 224 * 336 * 3; // 225,792 bytes
const CROP = 224 * 224 * 3; // 150,528 bytes

test('posters a few rows apart share one buffer, given back whole from a view', () => {
  const a = takeBuffer(POSTER_A);
  assert.equal(a.length, POSTER_A);
  recycleBuffer(a);
  const misses = poolMisses.count;
  const b = takeBuffer(POSTER_B);
  assert.equal(b.length, POSTER_B);
  assert.equal(b.buffer, a.buffer, 'the taller poster decodes into the shorter one\'s buffer');
  assert.equal(poolMisses.count, misses);
  recycleBuffer(b);
});

test('a crop takes the smallest buffer that fits, not a poster\'s', () => {
  const poster = takeBuffer(POSTER_B);
  const crop = takeBuffer(CROP);
  // The poster's buffer is the most recently given back, and large enough for a crop too.
  recycleBuffer(crop);
  recycleBuffer(poster);
  const next = takeBuffer(CROP);
  assert.equal(next.buffer, crop.buffer);
  const nextPoster = takeBuffer(POSTER_A);
  assert.equal(nextPoster.buffer, poster.buffer);
  // Far smaller requests do not take either: a file's bytes get a buffer of their own size.
  const file = takeBuffer(20_000);
  assert.notEqual(file.buffer, poster.buffer);
  assert.ok(file.buffer.byteLength < 64 * 1024);
  for (const buffer of [next, nextPoster, file]) recycleBuffer(buffer);
});

test('buffers the pool did not allocate are never taken in', () => {
  const slice = Buffer.allocUnsafe(3000); // a slice of Node's shared 8 KB pool
  const foreign = Buffer.alloc(CROP, 7);
  const shared = Buffer.from(new SharedArrayBuffer(CROP));
  for (const buffer of [slice, foreign, shared]) recycleBuffer(buffer);
  for (let i = 0; i < 4; i++) {
    const taken = [takeBuffer(3000), takeBuffer(CROP)];
    for (const t of taken) assert.ok(t.buffer !== slice.buffer && t.buffer !== foreign.buffer && t.buffer !== shared.buffer);
    taken.forEach(recycleBuffer);
  }
  assert.equal(foreign[0], 7, 'untouched');
});
