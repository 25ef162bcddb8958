import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { recycleBuffer } from '../../../src/image/buffers.js';
import { decodePlainJpeg, defaultDecoder, readJpegHeader } from '../../../src/image/jpeg.js';
import { nativeJpeg } from '../../../src/image/native.js';
import { decodePoster } from '../../../src/image/poster.js';
import { isError } from '../../helpers/errors.js';
import { noise, painted } from '../../helpers/images.js';

/** sharp's own decode of the same bytes: what posterscope gave before the lean path. */
async function sharpPixels(bytes: Buffer) {
  const { data, info } = await sharp(bytes, { failOn: 'warning' })
    .autoOrient()
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, pixels: data };
}

test('plain JPEGs - baseline, progressive, 4:2:0 and 4:4:4 - decode to exactly sharp\'s pixels', async () => {
  const variants = [
    { progressive: false, chromaSubsampling: '4:2:0' },
    { progressive: true, chromaSubsampling: '4:2:0' },
    { progressive: true, chromaSubsampling: '4:4:4' },
    { progressive: false, chromaSubsampling: '4:4:4', quality: 40 },
  ] as const;
  for (const [i, options] of variants.entries()) {
    const bytes = await painted(61 + i, 93, noise(i + 1)).jpeg(options).toBuffer();
    const header = readJpegHeader(bytes);
    assert.deepEqual(header, { width: 61 + i, height: 93, components: 3, plain: true });
    const poster = await decodePoster({ bytes, source: `v${i}.jpg` });
    const reference = await sharpPixels(bytes);
    assert.equal(poster.width, reference.width);
    assert.equal(poster.height, reference.height);
    assert.ok(poster.pixels.equals(reference.pixels), `variant ${i} differs from sharp`);
  }
});

test('the libjpeg-turbo decoder is built wherever CI runs, and is the default where it is', { skip: process.env.CI === 'true' || nativeJpeg ? false : 'not built here (no libjpeg-turbo headers at install); the WebAssembly decoder runs' }, () => {
  assert.ok(nativeJpeg, 'npm ci should have built build/Release/posterscope_jpeg.node (Debian: libjpeg62-turbo-dev)');
  assert.equal(defaultDecoder, 'libjpeg-turbo');
});

test('both decoders - libjpeg-turbo and WebAssembly - give sharp\'s pixels, and both refuse a damaged file', async () => {
  const decoders = nativeJpeg ? (['libjpeg-turbo', 'wasm'] as const) : (['wasm'] as const);
  const variants = [
    { progressive: false, chromaSubsampling: '4:2:0', quality: 90 },
    { progressive: true, chromaSubsampling: '4:2:0', quality: 75 },
    { progressive: false, chromaSubsampling: '4:4:4', quality: 30 },
  ] as const;
  for (const [i, options] of variants.entries()) {
    const bytes = await painted(97 + 3 * i, 131 - i, noise(20 + i)).jpeg(options).toBuffer();
    const header = readJpegHeader(bytes)!;
    const reference = await sharpPixels(bytes);
    for (const via of decoders) {
      const pixels = await decodePlainJpeg(bytes, header, via);
      assert.ok(pixels?.equals(reference.pixels), `${via}, variant ${i}: not sharp's pixels`);
      // Cut short: libjpeg only warns ("Premature end of JPEG file") and pads with grey; we want sharp's error instead.
      assert.equal(await decodePlainJpeg(bytes.subarray(0, Math.floor(bytes.length * 0.7)), header, via), undefined, `${via}, variant ${i}, truncated`);
      // A header that names another size is not decoded into a buffer of the wrong size.
      assert.equal(await decodePlainJpeg(bytes, { ...header, height: header.height + 1 }, via), undefined, `${via}, variant ${i}, wrong size`);
    }
  }
  if (nativeJpeg) {
    assert.throws(() => nativeJpeg!.decode(Buffer.alloc(0), new Uint8Array(12), 2, 2), /bad arguments/);
    assert.throws(() => nativeJpeg!.decode(Buffer.from([0xff, 0xd8]), new Uint8Array(11), 2, 2), /bad arguments/, 'an output too small');
    assert.equal(nativeJpeg.decode(Buffer.from('not a jpeg at all'), new Uint8Array(12), 2, 2), false);
    // Scans past the limit stop the decode (a crafted progressive file holds thousands; sharp's ~10 fit under the default 500).
    const progressive = await painted(40, 60, noise(3)).jpeg({ progressive: true }).toBuffer();
    const out = new Uint8Array(40 * 60 * 3);
    assert.equal(nativeJpeg.decode(progressive, out, 40, 60), true);
    assert.equal(nativeJpeg.decode(progressive, out, 40, 60, 3), false);
    assert.throws(() => nativeJpeg!.decode(progressive, out, 40, 60, 0), /bad arguments/);
  }
});

test('JPEGs that need sharp are not plain: EXIF orientation, ICC profile, greyscale', async () => {
  const base = painted(40, 30, noise(3));
  const rotated = await base.clone().jpeg().withMetadata({ orientation: 6 }).toBuffer();
  assert.equal(readJpegHeader(rotated)?.plain, false);
  const icc = await base.clone().jpeg().withIccProfile('p3').toBuffer();
  assert.equal(readJpegHeader(icc)?.plain, false);
  const grey = await base.clone().toColourspace('b-w').jpeg().toBuffer();
  assert.deepEqual(readJpegHeader(grey), { width: 40, height: 30, components: 1, plain: false });
  // And they still decode as sharp decodes them (rotation applied: 30x40).
  const poster = await decodePoster({ bytes: rotated, source: 'rotated.jpg' });
  assert.deepEqual([poster.width, poster.height], [30, 40]);
  assert.ok(poster.pixels.equals((await sharpPixels(rotated)).pixels));
});

test('damaged JPEGs still get sharp\'s one-line error, and bombs are refused from the header', async () => {
  const bytes = await painted(64, 96, noise(7)).jpeg({ progressive: true }).toBuffer();
  const truncated = bytes.subarray(0, Math.floor(bytes.length * 0.6));
  await assert.rejects(decodePoster({ bytes: truncated, source: 'cut.jpg' }), isError('IMAGE_CORRUPT', 'cut.jpg', /^cut\.jpg: JPEG data is truncated or corrupt \([^\n]*\)$/));
  const scrambled = Buffer.from(bytes);
  for (let i = 700; i < 760; i++) scrambled[i]! ^= 0x5a;
  await assert.rejects(decodePoster({ bytes: scrambled, source: 'bad.jpg' }), isError('IMAGE_CORRUPT', 'bad.jpg'));
  // A good file decodes after the bad ones (the decoder recovers).
  assert.equal((await decodePoster({ bytes, source: 'ok.jpg' })).height, 96);
  // A header claiming 60000 x 60000 pixels: refused before any pixel is decoded.
  const bomb = Buffer.from(bytes);
  const sof = bomb.indexOf(Buffer.from([0xff, 0xc2]));
  bomb.writeUInt16BE(60000, sof + 5);
  bomb.writeUInt16BE(60000, sof + 7);
  await assert.rejects(decodePoster({ bytes: bomb, source: 'bomb.jpg' }), isError('IMAGE_TOO_LARGE', 'bomb.jpg', /60000x60000 pixels exceeds the limit of 50000000/));
});

test('readJpegHeader gives up on what is not a well-formed JPEG header', () => {
  assert.equal(readJpegHeader(Buffer.from('not a jpeg')), undefined);
  assert.equal(readJpegHeader(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00])), undefined);
  assert.equal(readJpegHeader(Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x08, 1, 2, 3, 4, 5, 6])), undefined);
});

test('recycled pixel buffers are decoded into again: a smaller poster gets a view of one, with its own exact pixels', async () => {
  const big = await decodePoster({ bytes: await painted(80, 120, noise(5)).jpeg().toBuffer(), source: 'big.jpg' });
  const bytes = await painted(76, 114, noise(6)).jpeg({ progressive: true }).toBuffer();
  const reference = await sharpPixels(bytes);
  recycleBuffer(big.pixels);
  const small = await decodePoster({ bytes, source: 'small.jpg' });
  assert.equal(small.pixels.buffer, big.pixels.buffer, 'the recycled buffer is reused');
  assert.equal(small.pixels.length, 76 * 114 * 3);
  assert.ok(small.pixels.equals(reference.pixels), 'and holds the new poster exactly');
  // A slice of Node's shared small-buffer pool is never taken in.
  const slice = Buffer.allocUnsafe(300);
  recycleBuffer(slice);
  const next = await decodePoster({ bytes, source: 'again.jpg' });
  assert.notEqual(next.pixels.buffer, slice.buffer);
  assert.ok(next.pixels.equals(reference.pixels));
});

/** A small seeded generator: the same damaged files on every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

test('progressive scans through posterscope\'s entropy decoder give libjpeg\'s own pixels, and the same answer on damaged files', { skip: nativeJpeg ? false : 'the libjpeg-turbo decoder is not built here' }, async () => {
  const decoder = nativeJpeg!;
  const rand = seeded(13);
  // sharp's progressive script has successive-approximation scans (the DC and AC refinements); mozjpeg's optimised
  // scans split the bands another way; 4:4:4 gives three full-size components; qualities change the Huffman tables.
  const variants = [{}, { chromaSubsampling: '4:4:4' }, { optimiseScans: true }, { quality: 25 }, { quality: 98 }] as const;
  let fastOnly = 0;
  let gaveUp = 0;
  for (const [i, options] of variants.entries()) {
    const [width, height] = [53 + 11 * i, 79 + 7 * i];
    const bytes = await painted(width, height, noise(40 + i)).jpeg({ progressive: true, ...options }).toBuffer();
    const decode = (input: Uint8Array, fast: boolean) => {
      const out = new Uint8Array(width * height * 3);
      const before = decoder.fallbacks();
      return { ok: decoder.decode(input, out, width, height, 500, fast), out: Buffer.from(out), fellBack: decoder.fallbacks() > before };
    };
    const clean = decode(bytes, true);
    assert.ok(clean.ok && !clean.fellBack, `variant ${i}: decoded without falling back`);
    assert.ok(clean.out.equals(decode(bytes, false).out), `variant ${i}: libjpeg's pixels`);
    assert.ok(clean.out.equals((await sharpPixels(bytes)).pixels), `variant ${i}: sharp's pixels`);
    // Damaged copies: bits flipped, cut short, a marker or a stray byte in the entropy-coded data, or the last
    // scan cut short before the end-of-image marker (libjpeg: "premature end of data segment").
    const sos = bytes.indexOf(Buffer.from([0xff, 0xda]));
    const lastScan = bytes.lastIndexOf(Buffer.from([0xff, 0xda]));
    for (let m = 0; m < 200; m++) {
      let damaged = Buffer.from(bytes);
      const at = sos + 12 + Math.floor(rand() * (bytes.length - sos - 14));
      if (m % 5 === 0) damaged[at]! ^= 1 << Math.floor(rand() * 8);
      else if (m % 5 === 1) damaged = damaged.subarray(0, at);
      else if (m % 5 === 2) damaged.set([0xff, Math.floor(rand() * 256)], at);
      else if (m % 5 === 3) damaged[at] = Math.floor(rand() * 256);
      else damaged = Buffer.concat([bytes.subarray(0, lastScan + 12 + Math.floor(rand() * (bytes.length - lastScan - 14))), Buffer.from([0xff, 0xd9])]);
      const fast = decode(damaged, true);
      const plain = decode(damaged, false);
      assert.equal(fast.ok, plain.ok, `variant ${i}, damage ${m}: libjpeg says ${plain.ok}`);
      if (plain.ok) assert.ok(fast.out.equals(plain.out), `variant ${i}, damage ${m}: pixels differ from libjpeg's`);
      if (fast.fellBack) gaveUp++;
      else if (fast.ok) fastOnly++;
    }
  }
  // Both ways were taken: damage it decoded to the end itself, and damage it left to libjpeg.
  assert.ok(fastOnly > 20, `decoded ${fastOnly} damaged files without falling back`);
  assert.ok(gaveUp > 100, `fell back on ${gaveUp} damaged files`);
});

test('a progressive file with restart markers is left to libjpeg, with the same result', { skip: nativeJpeg ? false : 'the libjpeg-turbo decoder is not built here' }, async () => {
  const bytes = await painted(48, 64, noise(9)).jpeg({ progressive: true }).toBuffer();
  // A DRI segment (restart every MCU) before the first scan; the data has no RST markers, so libjpeg warns.
  const sos = bytes.indexOf(Buffer.from([0xff, 0xda]));
  const withRestarts = Buffer.concat([bytes.subarray(0, sos), Buffer.from([0xff, 0xdd, 0x00, 0x04, 0x00, 0x01]), bytes.subarray(sos)]);
  const before = nativeJpeg!.fallbacks();
  const out = new Uint8Array(48 * 64 * 3);
  assert.equal(nativeJpeg!.decode(withRestarts, out, 48, 64), nativeJpeg!.decode(withRestarts, new Uint8Array(48 * 64 * 3), 48, 64, 500, false));
  assert.equal(nativeJpeg!.fallbacks(), before + 1, 'phuff.c gave up at the scan, and libjpeg decoded it');
});

test('a progressive file that ends after any of its scans decodes as libjpeg decodes it (block smoothing from the progression table)', { skip: nativeJpeg ? false : 'the libjpeg-turbo decoder is not built here' }, async () => {
  for (const options of [{}, { chromaSubsampling: '4:4:4' }] as const) {
    const bytes = await painted(70, 90, noise(4)).jpeg({ progressive: true, ...options }).toBuffer();
    const scans: number[] = [];
    for (let at = bytes.indexOf(Buffer.from([0xff, 0xda])); at >= 0; at = bytes.indexOf(Buffer.from([0xff, 0xda]), at + 1)) scans.push(at);
    assert.ok(scans.length >= 6, `${scans.length} scans`);
    for (let kept = 1; kept < scans.length; kept++) {
      // Up to the tables of the first scan left out, then the end-of-image marker: a valid file whose later
      // coefficients never arrive, so libjpeg smooths blocks by how far each coefficient got (coef_bits).
      const tables = bytes.lastIndexOf(Buffer.from([0xff, 0xc4]), scans[kept]!);
      const file = Buffer.concat([bytes.subarray(0, tables > scans[kept - 1]! ? tables : scans[kept]!), Buffer.from([0xff, 0xd9])]);
      const [fast, plain] = [new Uint8Array(70 * 90 * 3), new Uint8Array(70 * 90 * 3)];
      const before = nativeJpeg!.fallbacks();
      assert.equal(nativeJpeg!.decode(file, fast, 70, 90), true, `${kept} scans`);
      assert.equal(nativeJpeg!.fallbacks(), before, `${kept} scans: no fallback`);
      assert.equal(nativeJpeg!.decode(file, plain, 70, 90, 500, false), true);
      assert.ok(Buffer.from(fast).equals(Buffer.from(plain)), `${JSON.stringify(options)}, ${kept} scans: libjpeg's pixels`);
    }
  }
});
