/**
 * Every real poster in ../shared (all progressive JPEGs) through
 * posterscope's progressive entropy decoder (native/phuff.c): the same
 * pixels as libjpeg-turbo's own decoder, and none left to libjpeg.
 */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { readJpegHeader } from '../../src/image/jpeg.js';
import { nativeJpeg } from '../../src/image/native.js';
import { POSTERS, UNLABELED, skipWithoutShared } from '../helpers/shared.js';

test('every ../shared poster: the entropy decoder gives libjpeg\'s pixels, and never falls back', { skip: skipWithoutShared || (nativeJpeg ? false : 'the libjpeg-turbo decoder is not built here') }, async () => {
  const decoder = nativeJpeg!;
  const fallbacks = decoder.fallbacks();
  let progressive = 0;
  const differ: string[] = [];
  for (const folder of [POSTERS, UNLABELED]) {
    for (const name of (await readdir(folder)).filter((n) => n.endsWith('.jpg')).sort()) {
      const bytes = await readFile(join(folder, name));
      const header = readJpegHeader(bytes);
      assert.ok(header?.plain, `${name}: a plain JPEG`);
      if (bytes.includes(Buffer.from([0xff, 0xc2]))) progressive++;
      const [fast, plain] = [new Uint8Array(header.width * header.height * 3), new Uint8Array(header.width * header.height * 3)];
      assert.ok(decoder.decode(bytes, fast, header.width, header.height), `${name}: decoded`);
      assert.ok(decoder.decode(bytes, plain, header.width, header.height, 500, false), `${name}: decoded by libjpeg alone`);
      if (!Buffer.from(fast).equals(Buffer.from(plain))) differ.push(name);
    }
  }
  assert.deepEqual(differ, []);
  assert.ok(progressive > 6000, `${progressive} progressive posters`);
  assert.equal(decoder.fallbacks() - fallbacks, 0, 'phuff.c decoded every one itself');
});
