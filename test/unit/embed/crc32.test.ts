import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { crc32, crc32Table } from '../../../src/embed/crc32.js';

for (const [name, crc] of [['crc32', crc32], ['crc32Table (the fallback)', crc32Table]] as const) {
  test(`${name} matches the IEEE check value and chains across calls`, () => {
    assert.equal(crc(Buffer.from('123456789')), 0xcbf43926);
    const whole = crc(Buffer.from('hello world'));
    assert.equal(crc(Buffer.from(' world'), 0, 6, crc(Buffer.from('hello'))), whole);
    assert.equal(crc(Buffer.from('xxhello worldyy'), 2, 13), whole);
    assert.equal(crc(new Uint8Array(0)), 0);
  });
}

test('crc32 and its fallback agree on random records, ranges and seeds', () => {
  for (let i = 0; i < 50; i++) {
    const bytes = randomBytes(1 + Math.floor(Math.random() * 6000));
    const start = Math.floor(Math.random() * bytes.length);
    const end = start + Math.floor(Math.random() * (bytes.length - start + 1));
    const seed = randomBytes(4).readUInt32LE(0);
    assert.equal(crc32(bytes, start, end, seed), crc32Table(bytes, start, end, seed));
  }
});
