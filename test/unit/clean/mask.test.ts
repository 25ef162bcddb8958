import assert from 'node:assert/strict';
import { test } from 'node:test';

import { isError } from '../../helpers/errors.js';
import { buildMask, maskArea, type TextBox } from '../../../src/clean/mask.js';

const box = (x0: number, y0: number, x1: number, y1: number): TextBox => ({ x0, y0, x1, y1, score: 0.9 });

/** The mask as one string per row, '#' masked and '.' kept, so expectations read as pictures. */
function picture(mask: Uint8Array, width: number): string[] {
  const rows: string[] = [];
  for (let y = 0; y * width < mask.length; y++) {
    rows.push(Array.from(mask.subarray(y * width, (y + 1) * width), (v) => (v ? '#' : '.')).join(''));
  }
  return rows;
}

test('a whole-pixel box without dilation covers exactly its pixels (x1/y1 exclusive)', () => {
  const mask = buildMask(8, 5, [box(2, 1, 5, 3)], 0);
  assert.equal(mask.length, 40);
  assert.deepEqual(picture(mask, 8), [
    '........',
    '..###...',
    '..###...',
    '........',
    '........',
  ]);
  assert.equal(maskArea(mask), 6);
});

test('dilate grows the box by that many pixels on every side', () => {
  assert.deepEqual(picture(buildMask(9, 7, [box(3, 3, 5, 4)], 2), 9), [
    '.........',
    '.######..',
    '.######..',
    '.######..',
    '.######..',
    '.######..',
    '.........',
  ]);
});

test('fractional coordinates are rounded outward: floor for x0/y0, ceil for x1/y1', () => {
  assert.deepEqual(picture(buildMask(8, 4, [box(1.5, 1.2, 3.2, 1.9)], 0), 8), [
    '........',
    '.###....',
    '........',
    '........',
  ]);
  // The doc example: columns 1..3 of row 1, grown by 1.
  const example = buildMask(6, 4, [{ x0: 1.5, y0: 1, x1: 3.2, y1: 2, score: 0.9 }], 1);
  assert.equal(maskArea(example), 15);
  // Exactly on a pixel edge nothing extra is taken.
  assert.equal(maskArea(buildMask(8, 4, [box(1, 1, 3, 2)], 0)), 2);
});

test('boxes are clamped to the image, and boxes partly or wholly outside it are cut', () => {
  assert.deepEqual(picture(buildMask(6, 4, [box(0.5, 0, 2, 1)], 2), 6), [
    '####..',
    '####..',
    '####..',
    '......',
  ]);
  assert.deepEqual(picture(buildMask(6, 4, [box(4, 2, 40, 30), box(-9, -9, 0.2, 1)], 1), 6), [
    '##....',
    '##.###',
    '...###',
    '...###',
  ]);
  // Dilation does not reach back in from a box that ends left of the image.
  assert.equal(maskArea(buildMask(6, 4, [box(-9, 0, -1, 2)], 1)), 0);
  assert.equal(maskArea(buildMask(6, 4, [box(10, 10, 20, 20), box(-20, -20, -10, -10)], 2)), 0);
});

test('overlapping boxes give their union; empty or inverted boxes cover nothing', () => {
  assert.deepEqual(picture(buildMask(7, 3, [box(0, 0, 3, 2), box(2, 1, 6, 3)], 0), 7), [
    '###....',
    '######.',
    '..####.',
  ]);
  assert.equal(maskArea(buildMask(7, 3, [box(2, 1, 2, 3), box(5, 2, 4, 3), box(1, 2, 3, 1)], 3)), 0);
});

test('no boxes -> a mask of zeros the size of the image; the result is a fresh buffer', () => {
  const mask = buildMask(5, 3, [], 4);
  assert.ok(mask instanceof Uint8Array);
  assert.equal(mask.length, 15);
  assert.equal(maskArea(mask), 0);
  assert.notEqual(buildMask(5, 3, [], 4), mask);
});

test('a mask can cover the whole image', () => {
  const mask = buildMask(4, 3, [box(1, 1, 2, 2)], 5);
  assert.equal(maskArea(mask), 12);
});

test('maskArea counts non-zero bytes', () => {
  assert.equal(maskArea(Uint8Array.of(0, 1, 1, 0)), 2);
  assert.equal(maskArea(Uint8Array.of(0, 255, 7)), 2);
  assert.equal(maskArea(new Uint8Array(0)), 0);
});

test('BAD CALL - buildMask names the parameter and says what it expected', () => {
  const cases: Array<[() => unknown, string, string]> = [
    [() => buildMask(0, 4, [], 0), 'width', 'Expected integer between 1 and 100000 for width but received number 0'],
    [() => buildMask(4.5, 4, [], 0), 'width', 'Expected integer between 1 and 100000 for width but received number 4.5'],
    [() => buildMask(4, -1, [], 0), 'height', 'Expected integer between 1 and 100000 for height but received number -1'],
    [() => buildMask(4, '4' as never, [], 0), 'height', 'Expected integer between 1 and 100000 for height but received string "4"'],
    [() => buildMask(4, 4, [], -1), 'dilate', 'Expected integer between 0 and 100000 for dilate but received number -1'],
    [() => buildMask(4, 4, [], 1.5), 'dilate', 'Expected integer between 0 and 100000 for dilate but received number 1.5'],
    [() => buildMask(4, 4, undefined as never, 0), 'boxes', 'Expected array of { x0, y0, x1, y1, score } for boxes but received nothing'],
    [() => buildMask(4, 4, [null] as never, 0), 'boxes[0]', 'Expected { x0, y0, x1, y1, score } for boxes[0] but received null'],
    [() => buildMask(4, 4, [box(0, 0, 1, 1), box(0, NaN, 1, 1)], 0), 'boxes[1].y0', 'Expected finite number for boxes[1].y0 but received number NaN'],
    [() => buildMask(4, 4, [box(0, 0, Infinity, 1)], 0), 'boxes[0].x1', 'Expected finite number for boxes[0].x1 but received number Infinity'],
    [() => buildMask(4, 4, [{ x0: 0, y0: 0, x1: '2', y1: 1, score: 1 } as never], 0), 'boxes[0].x1', 'Expected finite number for boxes[0].x1 but received string "2"'],
  ];
  for (const [call, subject, message] of cases) {
    assert.throws(call, isError('INVALID_ARGUMENT', subject, message));
  }
});

test('a slanted box (quad) masks its rotated rectangle, not its whole bounding box', () => {
  // A 40 x 6 bar tilted by 30 degrees around (50, 50).
  const angle = Math.PI / 6;
  const corner = (u: number, v: number) => [50 + u * Math.cos(angle) - v * Math.sin(angle), 50 + u * Math.sin(angle) + v * Math.cos(angle)] as [number, number];
  const quad = [corner(-20, -3), corner(20, -3), corner(20, 3), corner(-20, 3)];
  const xs = quad.map((c) => c[0]);
  const ys = quad.map((c) => c[1]);
  const slanted: TextBox = { x0: Math.min(...xs), y0: Math.min(...ys), x1: Math.max(...xs), y1: Math.max(...ys), score: 0.9, quad };
  const mask = buildMask(100, 100, [slanted], 0);
  const area = maskArea(mask);
  // About 40 x 6 = 240 pixels (plus a partial-pixel rim), far below the bounding box's ~1,250.
  assert.ok(area > 240 && area < 360, `area ${area}`);
  assert.equal(mask[50 * 100 + 50], 1, 'the centre is masked');
  assert.equal(mask[Math.floor(slanted.y0 + 1) * 100 + Math.floor(slanted.x0 + 1)], 0, 'a bounding-box corner is not');
  // The same corners in the other winding order give the same mask; dilation grows it.
  assert.deepEqual(buildMask(100, 100, [{ ...slanted, quad: [...quad].reverse() }], 0), mask);
  assert.ok(maskArea(buildMask(100, 100, [slanted], 2)) > area + 2 * 2 * 40);
  assert.throws(() => buildMask(100, 100, [{ ...slanted, quad: quad.slice(0, 3) }], 0), isError('INVALID_ARGUMENT', 'boxes[0].quad'));
});
