import assert from 'node:assert/strict';
import { test } from 'node:test';
import { printable } from '../../src/printable.js';

test('printable escapes control characters and bidi overrides, and nothing else', () => {
  assert.equal(printable('evil\n\u001b[31mred.jpg'), 'evil\\n\\x1b[31mred.jpg');
  assert.equal(printable('a\tb\rc\u0000d\u007fe\u0085f'), 'a\\tb\\rc\\x00d\\x7fe\\x85f');
  assert.equal(printable('gpj.\u202eexe'), 'gpj.\\u202eexe');
  assert.equal(printable('Amélie — 天国 C:\\posters'), 'Amélie — 天国 C:\\posters');
});
