import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { hammingDistance, nearPairs, perceptualHash } from '../../../src/data/phash.js';
import { PosterscopeError } from '../../../src/errors.js';
import { decodePoster } from '../../../src/image/poster.js';
import { type TempDir, makeTempDir } from '../../helpers/images.js';
import { scene } from '../../helpers/scenes.js';
import { isError } from '../../helpers/errors.js';

const SEEDS = [1, 2, 3, 4, 5, 6];


describe('perceptualHash', () => {
  let dir: TempDir;
  const originals = new Map<number, Buffer>();
  before(async () => {
    dir = await makeTempDir('posterscope-phash-');
    for (const seed of SEEDS) originals.set(seed, await scene(seed).png().toBuffer());
  });
  after(() => dir.remove());

  it('is 16 hex digits, the same from a path, encoded bytes or decoded pixels', async () => {
    const png = originals.get(1)!;
    const path = await dir.write('one.png', png);
    const hash = await perceptualHash(path);
    assert.match(hash, /^[0-9a-f]{16}$/);
    assert.equal(await perceptualHash(png), hash);
    assert.equal(await perceptualHash(await decodePoster(png)), hash);
  });

  it('a resized, JPEG-quality-60 copy stays within 6 bits of the original', async () => {
    for (const seed of SEEDS) {
      const original = await perceptualHash(originals.get(seed)!);
      for (const width of [120, 300]) {
        const copy = await sharp(originals.get(seed)!).resize({ width }).jpeg({ quality: 60 }).toBuffer();
        const distance = hammingDistance(original, await perceptualHash(copy));
        assert.ok(distance <= 6, `seed ${seed} at width ${width}: distance ${distance}`);
      }
      const webp = await sharp(originals.get(seed)!).webp({ quality: 50 }).toBuffer();
      assert.ok(hammingDistance(original, await perceptualHash(webp)) <= 6, `seed ${seed} as WebP`);
    }
  });

  it('unrelated posters are more than 20 bits apart', async () => {
    const hashes = await Promise.all(SEEDS.map((seed) => perceptualHash(originals.get(seed)!)));
    for (let a = 0; a < hashes.length; a++) {
      for (let b = a + 1; b < hashes.length; b++) {
        const distance = hammingDistance(hashes[a]!, hashes[b]!);
        assert.ok(distance > 20, `seeds ${SEEDS[a]} and ${SEEDS[b]}: distance ${distance}`);
      }
    }
  });

  it('BAD CALL - not an image, or not an input at all', async () => {
    await assert.rejects(perceptualHash(Buffer.from('<html><body>Not found</body></html>')), isError('IMAGE_UNSUPPORTED'));
    await assert.rejects(perceptualHash(dir.file('missing.jpg')), isError('IMAGE_NOT_FOUND'));
    await assert.rejects(perceptualHash(42 as unknown as string), isError('INVALID_ARGUMENT', 'input'));
    await assert.rejects(perceptualHash({ width: 2, height: 2, pixels: Buffer.alloc(3) }), isError('INVALID_ARGUMENT', 'input'));
  });
});

describe('hammingDistance', () => {
  it('counts differing bits across both 32-bit halves', () => {
    assert.equal(hammingDistance('0000000000000000', '0000000000000000'), 0);
    assert.equal(hammingDistance('0000000000000000', 'ffffffffffffffff'), 64);
    assert.equal(hammingDistance('8000000000000001', '0000000000000000'), 2);
    assert.equal(hammingDistance('d5c3b6f0a9f19281', 'D5C3B6F0A9F19283'), 1);
  });

  it('BAD CALL - not a 64-bit hex hash', () => {
    assert.throws(() => hammingDistance('abc', '0000000000000000'), isError('INVALID_ARGUMENT', 'a'));
    assert.throws(() => hammingDistance('0000000000000000', 'zzzzzzzzzzzzzzzz'), (e: unknown) => {
      assert.ok(e instanceof PosterscopeError);
      assert.equal(e.message, 'Expected 16 hex digits (a 64-bit perceptual hash) for b but received string "zzzzzzzzzzzzzzzz"');
      return true;
    });
  });
});

describe('nearPairs', () => {
  it('finds every pair within the distance, identical hashes included', () => {
    const hashes = ['d5c3b6f0a9f19281', 'ffffffff00000000', 'd5c3b6f0a9f19283', 'd5c3b6f0a9f19281', 'fffffff000000000'];
    assert.deepEqual(nearPairs(hashes, 4), [
      { a: 0, b: 2, distance: 1 },
      { a: 0, b: 3, distance: 0 },
      { a: 1, b: 4, distance: 4 },
      { a: 2, b: 3, distance: 1 },
    ]);
    assert.deepEqual(nearPairs(hashes, 0), [{ a: 0, b: 3, distance: 0 }]);
    assert.deepEqual(nearPairs([], 4), []);
  });

  it('BAD CALL - distance out of range', () => {
    assert.throws(() => nearPairs([], 65), isError('INVALID_ARGUMENT', 'maxDistance'));
  });
});
