import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decide, decideGenres, genreThresholds, rankGenres, withOverrides } from '../../../src/eval/decide.js';

const u8 = (...v: number[]) => new Uint8Array(v);
const f32 = (...v: number[]) => new Float32Array(v);

test('decide: a global threshold; a score equal to its threshold passes (compared in float32)', () => {
  const scores = f32(0.4, 0.6, /**/ 0.2, 0.9, /**/ 0.5, 0.3);
  assert.deepEqual(decide(scores, 3, 2, { global: 0.5 }), u8(0, 1, 0, 1, 1, 0));
  assert.deepEqual(decide(scores, 3, 2, { global: 0.95, perGenre: [0.3, null] }), u8(1, 0, 0, 0, 1, 0));
  assert.deepEqual(decide(f32(0.3), 1, 1, { global: 0.3 }), u8(1), 'float32 0.3 passes the threshold 0.3');
});

test('decide: per-genre thresholds with NaN or null falling back to global', () => {
  const scores = f32(0.4, 0.6, 0.2, /**/ 0.9, 0.35, 0.1);
  assert.deepEqual(decide(scores, 2, 3, { global: 0.5 }), u8(0, 1, 0, 1, 0, 0));
  assert.deepEqual(decide(scores, 2, 3, { global: 0.5, perGenre: [0.3, NaN, 0.15] }), u8(1, 1, 1, 1, 0, 0));
  // JSON writes NaN as null; a policy read back from a bundle decides the same.
  const policy = JSON.parse(JSON.stringify({ global: 0.5, perGenre: [0.3, NaN, 0.15] }));
  assert.deepEqual(policy.perGenre, [0.3, null, 0.15]);
  assert.deepEqual(decide(scores, 2, 3, policy), u8(1, 1, 1, 1, 0, 0));
});

test('decide: topK keeps the highest passing scores, atLeastOne fills empty rows with the top genre', () => {
  const scores = f32(0.7, 0.8, 0.6, /**/ 0.2, 0.1, 0.3, /**/ 0.6, 0.6, 0.9);
  assert.deepEqual(decide(scores, 3, 3, { global: 0.5, topK: 2 }), u8(1, 1, 0, /**/ 0, 0, 0, /**/ 1, 0, 1));
  assert.deepEqual(decide(scores, 3, 3, { global: 0.5, atLeastOne: true }), u8(1, 1, 1, /**/ 0, 0, 1, /**/ 1, 1, 1));
  assert.deepEqual(decide(scores, 3, 3, { global: 0.5, topK: 1, atLeastOne: true }), u8(0, 1, 0, /**/ 0, 0, 1, /**/ 0, 0, 1));
  // topK only trims genres that passed: a high threshold still leaves rows empty.
  assert.deepEqual(decide(scores, 3, 3, { global: 0.85, topK: 2 }), u8(0, 0, 0, /**/ 0, 0, 0, /**/ 0, 0, 1));
  // The `tuned` record a tuned policy carries does not get in the way.
  assert.deepEqual(decide(scores, 3, 3, { global: 0.85, tuned: { mode: 'global' } } as never), u8(0, 0, 0, 0, 0, 0, 0, 0, 1));
});

test('genreThresholds and withOverrides: what the page and the server apply per call', () => {
  assert.deepEqual(genreThresholds({ global: 0.5, perGenre: [0.3, null, NaN] }, 3), f32(0.3, 0.5, 0.5));
  const policy = { global: 0.32, perGenre: [0.2, null], topK: 2, atLeastOne: true };
  assert.deepEqual(withOverrides(policy, {}, 2), policy);
  assert.deepEqual(withOverrides(policy, { threshold: 0.5 }, 2), { global: 0.5, topK: 2, atLeastOne: true }, 'a threshold drops per-genre ones');
  assert.deepEqual(withOverrides(policy, { topK: null, atLeastOne: false }, 2), { global: 0.32, perGenre: [0.2, null], atLeastOne: false }, 'null removes the limit');
  assert.deepEqual(withOverrides(policy, { topK: 1 }, 2).topK, 1);
  assert.deepEqual(policy, { global: 0.32, perGenre: [0.2, null], topK: 2, atLeastOne: true }, 'the policy itself is left alone');
});

test('decideGenres and rankGenres: genre names, highest score first, ties in genre order', () => {
  const genres = ['Action', 'Comedy', 'Drama', 'Horror'];
  assert.deepEqual(rankGenres(genres, f32(0.25, 0.5, 0.5, 0.125)).map((s) => s.genre), ['Comedy', 'Drama', 'Action', 'Horror']);
  const scores = [{ genre: 'Drama', score: 0.61 }, { genre: 'Action', score: 0.4 }, { genre: 'Horror', score: 0.1 }];
  assert.deepEqual(decideGenres(genres, scores, { global: 0.32 }), ['Drama', 'Action']);
  assert.deepEqual(decideGenres(genres, scores, { global: 0.32, topK: 1 }), ['Drama']);
  assert.deepEqual(decideGenres(genres, scores, { global: 0.9 }), []);
  assert.deepEqual(decideGenres(genres, scores, { global: 0.9, atLeastOne: true }), ['Drama']);
  // Equal scores under top-k: the lower genre index wins, as in decide.
  assert.deepEqual(decideGenres(genres, [{ genre: 'Drama', score: 0.5 }, { genre: 'Comedy', score: 0.5 }], { global: 0.1, topK: 1 }), ['Comedy']);
  assert.throws(() => decideGenres(genres, [{ genre: 'Western', score: 0.5 }], { global: 0.5 }), { subject: 'scores' });
});

test('the page runs this very module: the browser build exports the same functions', async () => {
  const { readFile } = await import('node:fs/promises');
  const built = await readFile(new URL('../../../dist/web/decide.js', import.meta.url), 'utf8').catch(() => '');
  assert.ok(built.length > 0, 'dist/web/decide.js is missing: npm run build makes it');
  const page = await readFile(new URL('../../../web/app.js', import.meta.url), 'utf8');
  assert.match(page, /import \{[^}]*decideGenres[^}]*\} from '\.\/decide\.js'/);
  assert.doesNotMatch(page, /Math\.fround|>= *thresholdFor/, 'the page compares scores itself again');
  for (const name of ['decide', 'decideGenres', 'genreThresholds', 'withOverrides']) assert.match(built, new RegExp(`export \\{[^}]*\\b${name}\\b`), name);
});

test('BAD CALL - decide rejects a malformed policy or score matrix', () => {
  const scores = f32(0.4, 0.6);
  assert.throws(() => decide(scores, 1, 2, { global: 1.5 }), { code: 'INVALID_ARGUMENT', message: 'Expected number between 0 and 1 for global but received number 1.5' });
  assert.throws(() => decide(scores, 1, 2, { global: 0.5, perGenre: [0.5, 0.5, 0.5] }), {
    message: 'Expected an array of 2 thresholds for perGenre but received array of length 3',
  });
  assert.throws(() => decide(scores, 1, 2, { global: 0.5, perGenre: [0.5, -0.1] }), { subject: 'perGenre[1]' });
  assert.throws(() => decide(scores, 1, 2, { global: 0.5, atLeastOne: 'yes' as never }), { message: 'Expected boolean for atLeastOne but received string "yes"' });
  assert.throws(() => decide(scores, 1, 2, undefined as never), { subject: 'policy' });
  assert.throws(() => decide(f32(0.5), 1, 2, { global: 0.5 }), { message: 'Expected 2 (1 rows x 2 genres) for scores.length but received number 1' });
  assert.throws(() => decide(f32(0.5, NaN), 1, 2, { global: 0.5 }), { subject: 'scores[1]' });
  assert.throws(() => withOverrides({ global: 0.5 }, { threshold: 1.5 }, 2), { message: 'Expected number between 0 and 1 for threshold but received number 1.5' });
  assert.throws(() => withOverrides({ global: 0.5 }, { topK: 3 }, 2), { message: 'Expected integer between 1 and 2 for topK but received number 3' });
});
