import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PosterscopeError } from '../../../src/errors.js';
import { stratifiedSplit } from '../../../src/data/split.js';

/** A seeded synthetic multi-label set: common, medium, rare (3 and 4 positives) and empty genres. */
function synthetic(rows: number, seed = 1) {
  let state = seed;
  const random = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  const rates = [0.5, 0.3, 0.15, 0.05, 0.01, 0];
  const genres = rates.length + 2;
  const labels = new Uint8Array(rows * genres);
  for (let r = 0; r < rows; r++) rates.forEach((p, g) => (labels[r * genres + g] = random() < p ? 1 : 0));
  for (const r of [10, 500, 1500]) labels[r * genres + 6] = 1; // 3 positives
  for (const r of [3, 4, 5, 6]) labels[r * genres + 7] = 1; // 4 positives, neighbours
  return { labels, rows, genres, ids: Array.from({ length: rows }, (_, i) => `tt${i}`) };
}

const positivesIn = (labels: Uint8Array, genres: number, g: number, rows: number[]) => rows.filter((r) => labels[r * genres + g]).length;

test('fractions are respected and every split keeps each genre in proportion', () => {
  const { labels, rows, genres, ids } = synthetic(2000);
  const split = stratifiedSplit(labels, rows, genres, { ids });
  assert.equal(split.train.length + split.validation.length + split.test.length, rows);
  assert.deepEqual([...split.train, ...split.validation, ...split.test].sort((a, b) => a - b), [...Array(rows).keys()]);
  assert.ok(Math.abs(split.train.length / rows - 0.8) <= 0.01, `train ${split.train.length}`);
  assert.ok(Math.abs(split.validation.length / rows - 0.1) <= 0.01, `validation ${split.validation.length}`);
  assert.ok(Math.abs(split.test.length / rows - 0.1) <= 0.01, `test ${split.test.length}`);
  for (let g = 0; g < 3; g++) {
    const all = positivesIn(labels, genres, g, [...Array(rows).keys()]);
    const share = positivesIn(labels, genres, g, split.validation) / all;
    assert.ok(Math.abs(share - 0.1) <= 0.02, `genre ${g}: validation holds ${share}`);
  }
  assert.equal(split.duplicates, 0);
  assert.equal(split.groups, rows);

  const custom = stratifiedSplit(labels, rows, genres, { ids }, { fractions: [0.6, 0.2, 0.2] });
  assert.ok(Math.abs(custom.test.length / rows - 0.2) <= 0.01, `test ${custom.test.length}`);
  const noTest = stratifiedSplit(labels, rows, genres, { ids }, { fractions: [0.9, 0.1, 0] });
  assert.equal(noTest.test.length, 0);
});

test('every genre with at least 3 positives lands in all three splits; empty genres are fine', () => {
  const { labels, rows, genres, ids } = synthetic(2000);
  for (const seed of [0, 1, 2, 3, 4]) {
    const split = stratifiedSplit(labels, rows, genres, { ids }, { seed });
    for (let g = 0; g < genres; g++) {
      const all = positivesIn(labels, genres, g, [...Array(rows).keys()]);
      if (all < 3) continue;
      for (const part of [split.train, split.validation, split.test]) {
        assert.ok(positivesIn(labels, genres, g, part) > 0, `seed ${seed}: genre ${g} (${all} positives) missing from a split`);
      }
    }
  }
  assert.equal(positivesIn(labels, genres, 5, [...Array(rows).keys()]), 0);
});

test('rows sharing an id or a content hash never straddle splits, and are counted', () => {
  const { labels, rows, genres, ids } = synthetic(2000);
  const dupIds = [...ids];
  for (let r = 0; r < 200; r += 2) dupIds[r + 1] = dupIds[r]!; // 100 pairs by id
  const hashes: (string | undefined)[] = Array.from({ length: rows }, () => undefined);
  for (let r = 300; r < 400; r++) hashes[r] = `h${r % 25}`; // 25 groups of 4 by content
  hashes[0] = 'h0'; // chains id pair (0,1) with the content group h0
  const split = stratifiedSplit(labels, rows, genres, { ids: dupIds, hashes });
  const where = new Map<number, string>();
  for (const [name, part] of Object.entries({ train: split.train, validation: split.validation, test: split.test })) {
    for (const r of part) where.set(r, name);
  }
  for (let r = 0; r < 200; r += 2) assert.equal(where.get(r), where.get(r + 1), `id pair ${r}`);
  for (let r = 300; r < 400; r++) assert.equal(where.get(r), where.get(300 + (r % 25)), `hash group of row ${r}`);
  assert.equal(where.get(0), where.get(300));
  // 100 extra rows by id, 75 by hash, and the pair (0, 1) merging into group h0 is one group fewer.
  assert.equal(split.duplicates, 100 + 75 + 1);
  assert.equal(split.groups, rows - split.duplicates);
});

test('the same seed gives the same split, another seed another', () => {
  const { labels, rows, genres, ids } = synthetic(500);
  const a = stratifiedSplit(labels, rows, genres, { ids }, { seed: 7 });
  const b = stratifiedSplit(labels, rows, genres, { ids }, { seed: 7 });
  const c = stratifiedSplit(labels, rows, genres, { ids }, { seed: 8 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.test, c.test);
  assert.deepEqual(stratifiedSplit(labels, rows, genres, { ids }), stratifiedSplit(labels, rows, genres, { ids }, { seed: 0 }));
});

test('rows without labels and genres without positives are split by size', () => {
  const rows = 100;
  const split = stratifiedSplit(new Uint8Array(rows * 3), rows, 3, { ids: Array.from({ length: rows }, (_, i) => String(i)) });
  assert.deepEqual([split.train.length, split.validation.length, split.test.length], [80, 10, 10]);
  const none = stratifiedSplit(new Uint8Array(0), 0, 4, { ids: [] });
  assert.deepEqual(none, { train: [], validation: [], test: [], duplicates: 0, groups: 0 });
});

test('BAD CALL - fractions, labels and keys are checked with the parameter named', () => {
  const labels = new Uint8Array(4 * 2);
  const ids = ['a', 'b', 'c', 'd'];
  const bad = (name: string) => (error: unknown) =>
    error instanceof PosterscopeError && error.code === 'INVALID_ARGUMENT' && error.subject === name;
  const fractions = (f: unknown) => () => stratifiedSplit(labels, 4, 2, { ids }, { fractions: f as [number, number, number] });
  assert.throws(fractions([0.8, 0.1, 0.2]), bad('fractions'));
  assert.throws(fractions([1.2, -0.1, -0.1]), bad('fractions'));
  assert.throws(fractions([0.8, 0.2]), bad('fractions'));
  assert.throws(fractions([0.5, 0.25, Number.NaN]), bad('fractions'));
  assert.throws(
    fractions([0.8, 0.1, 0.2]),
    /^PosterscopeError: Expected three non-negative numbers summing to 1 \(train, validation, test\) for fractions but received array of length 3$/,
  );
  assert.throws(() => stratifiedSplit(new Uint8Array(7), 4, 2, { ids }), bad('labels'));
  assert.throws(() => stratifiedSplit(labels, 4, 2, { ids: ['a'] }), bad('keys.ids'));
  assert.throws(() => stratifiedSplit(labels, 4, 2, { ids, hashes: [] }), bad('keys.hashes'));
  assert.throws(() => stratifiedSplit(labels, 4, 2, { ids }, { seed: 1.5 }), bad('seed'));
});
