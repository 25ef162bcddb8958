import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 } from '../../../src/embed/crc32.js';

test('crc32 matches the IEEE check value and chains across calls', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  const whole = crc32(Buffer.from('hello world'));
  assert.equal(crc32(Buffer.from(' world'), 0, 6, crc32(Buffer.from('hello'))), whole);
  assert.equal(crc32(new Uint8Array(0)), 0);
});
