import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { chmodSync, truncateSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it, test } from 'node:test';
import sharp from 'sharp';

import { PosterscopeError, type ErrorCode } from '../../../src/errors.js';
import { decodePoster, defaultFileReader, readPosterFile, resolveDecodeOptions, type Poster } from '../../../src/image/poster.js';
import { nativeFile } from '../../../src/native.js';
import {
  animatedGif,
  craftedHugePng,
  crc32,
  isoMediaHeader,
  makeTempDir,
  noise,
  painted,
  pixelAt,
  type Rgb,
  type TempDir,
} from '../../helpers/images.js';

const RED: Rgb = [255, 0, 0];
const BLUE: Rgb = [0, 0, 255];
const WHITE: Rgb = [255, 255, 255];

let dir: TempDir;
before(async () => {
  dir = await makeTempDir('poster-test-');
});
after(async () => {
  await dir.remove();
});

/** Asserts the promise rejects with a PosterscopeError of `code` and a one-line message; returns the message. */
async function refused(promise: Promise<unknown>, code: ErrorCode, subject?: string): Promise<string> {
  const error = await promise.then(
    () => assert.fail(`expected ${code}, but it resolved`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof PosterscopeError, `expected PosterscopeError, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  assert.doesNotMatch(error.message, /\n/, 'message must be one line');
  if (subject !== undefined) {
    assert.equal(error.subject, subject);
    assert.ok(error.message.startsWith(`${subject}: `), error.message);
  }
  return error.message;
}

function assertColour(actual: readonly number[], expected: Rgb, tolerance = 8): void {
  const close = actual.every((v, i) => Math.abs(v - (expected[i] as number)) <= tolerance);
  assert.ok(close, `expected ~[${expected.join(', ')}], got [${actual.join(', ')}]`);
}

function assertPosterShape(poster: Poster, width: number, height: number): void {
  assert.equal(poster.width, width);
  assert.equal(poster.height, height);
  assert.equal(poster.pixels.length, width * height * 3);
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

describe('decodePoster – BAD input is refused with a typed, one-line error', () => {
  it('BAD FILE - missing file -> IMAGE_NOT_FOUND', async () => {
    const path = dir.file('missing.jpg');
    const message = await refused(decodePoster(path), 'IMAGE_NOT_FOUND', path);
    assert.equal(message, `${path}: no such file`);
  });

  it('BAD FILE - a path through a regular file -> IMAGE_NOT_FOUND', async () => {
    const file = await dir.write('plain.txt', 'x');
    await refused(decodePoster(`${file}/poster.jpg`), 'IMAGE_NOT_FOUND');
  });

  it('BAD FILE - directory -> IMAGE_IS_DIRECTORY', async () => {
    const path = dir.file('posters.jpg');
    await mkdir(path);
    const message = await refused(decodePoster(path), 'IMAGE_IS_DIRECTORY', path);
    assert.equal(message, `${path}: is a directory, not an image file`);
  });

  it('BAD FILE - empty file -> IMAGE_EMPTY', async () => {
    const path = await dir.write('empty.jpg', Buffer.alloc(0));
    const message = await refused(decodePoster(path), 'IMAGE_EMPTY', path);
    assert.equal(message, `${path}: file is empty (0 bytes)`);
  });

  it('BAD FILE - empty Buffer -> IMAGE_EMPTY naming <buffer>', async () => {
    await refused(decodePoster(Buffer.alloc(0)), 'IMAGE_EMPTY', '<buffer>');
  });

  it('BAD FILE - HTML saved as .jpg -> IMAGE_UNSUPPORTED "not an image"', async () => {
    const path = await dir.write('poster.jpg', '<html>\n<body>404 Not Found</body>\n</html>\n');
    const message = await refused(decodePoster(path), 'IMAGE_UNSUPPORTED', path);
    assert.equal(message, `${path}: not an image (file starts with "<html>")`);
  });

  it('BAD FILE - binary junk -> IMAGE_UNSUPPORTED showing the first bytes', async () => {
    const path = await dir.write('junk.png', Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    const message = await refused(decodePoster(path), 'IMAGE_UNSUPPORTED', path);
    assert.equal(message, `${path}: not an image (file starts with bytes 00 01 02 03 04 05 06 07)`);
  });

  it('BAD FILE - truncated JPEG (a real JPEG cut in half) -> IMAGE_CORRUPT', async () => {
    const jpeg = await painted(64, 64, noise(1)).jpeg({ quality: 90 }).toBuffer();
    const path = await dir.write('half.jpg', jpeg.subarray(0, jpeg.length >> 1));
    const message = await refused(decodePoster(path), 'IMAGE_CORRUPT', path);
    assert.match(message, /: JPEG data is truncated or corrupt \(.*premature end/i);
  });

  it('BAD FILE - JPEG with damaged scan data -> IMAGE_CORRUPT, not a half-grey poster', async () => {
    const jpeg = Buffer.from(await painted(64, 64, noise(2)).jpeg({ quality: 90 }).toBuffer());
    // A restart marker plus zeros in the middle of the entropy-coded data:
    // libjpeg only warns about it, so this checks the strict failOn level.
    const at = Math.floor(jpeg.length * 0.6);
    jpeg.fill(0, at, at + 40);
    jpeg[at] = 0xff;
    jpeg[at + 1] = 0xd3;
    const path = await dir.write('damaged.jpg', jpeg);
    await refused(decodePoster(path), 'IMAGE_CORRUPT', path);
  });

  it('BAD FILE - truncated PNG -> IMAGE_CORRUPT', async () => {
    const png = await painted(64, 64, noise(3)).png().toBuffer();
    const path = await dir.write('half.png', png.subarray(0, png.length >> 1));
    const message = await refused(decodePoster(path), 'IMAGE_CORRUPT', path);
    assert.match(message, /: PNG data is truncated or corrupt \(/);
  });

  it('BAD FILE - PNG signature followed by garbage -> IMAGE_CORRUPT', async () => {
    const bytes = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(100, 7)]);
    await refused(decodePoster({ bytes, source: 'fake.png' }), 'IMAGE_CORRUPT', 'fake.png');
  });

  it('BAD FILE - SVG (even named .png, even with an XML prolog) -> IMAGE_UNSUPPORTED', async () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>';
    assert.equal((await sharp(Buffer.from(svg)).metadata()).format, 'svg', 'sharp itself would render it');
    for (const [name, text] of [
      ['plain.svg', svg],
      ['prolog.png', `\ufeff<?xml version="1.0"?>\n<!-- made by hand -->\n${svg}`],
    ] as const) {
      const path = await dir.write(name, text);
      const message = await refused(decodePoster(path), 'IMAGE_UNSUPPORTED', path);
      assert.match(message, /: SVG is not supported \(vector images are refused for safety; convert it to PNG or JPEG\); accepted formats: JPEG, PNG/);
    }
  });

  it('BAD FILE - PDF -> IMAGE_UNSUPPORTED naming PDF', async () => {
    const path = await dir.write('poster.pdf', '%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n');
    const message = await refused(decodePoster(path), 'IMAGE_UNSUPPORTED', path);
    assert.match(message, /: PDF is not supported; accepted formats: /);
  });

  it('BAD FILE - HEIC -> IMAGE_UNSUPPORTED naming HEIC', async () => {
    const message = await refused(
      decodePoster({ bytes: isoMediaHeader('heic', ['mif1', 'heic']), source: 'IMG_0001.HEIC' }),
      'IMAGE_UNSUPPORTED',
      'IMG_0001.HEIC',
    );
    assert.match(message, /: HEIC is not supported \(its HEVC codec is not available; convert it to JPEG or AVIF\)/);
  });

  it('BAD FILE - 30000x30000 PNG bomb -> IMAGE_TOO_LARGE from the header, without allocating pixels', async () => {
    const bomb = craftedHugePng(30000, 30000);
    assert.ok(bomb.length < 10 * 1024, `fixture is ${bomb.length} bytes`);
    const path = await dir.write('big.png', bomb);
    const meta = await sharp(bomb, { limitInputPixels: false }).metadata();
    assert.deepEqual([meta.width, meta.height, meta.format], [30000, 30000, 'png'], 'crafted header is valid');

    const rssBefore = process.memoryUsage().rss;
    const message = await refused(decodePoster(path), 'IMAGE_TOO_LARGE', path);
    const grownMb = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    assert.equal(
      message,
      `${path}: 30000x30000 pixels exceeds the limit of 50000000 (set maxPixels / --max-pixels to allow it)`,
    );
    assert.ok(grownMb < 200, `RSS grew by ${grownMb.toFixed(0)} MB`);
  });

  it('BAD FILE - more pixels than a caller-set maxPixels -> IMAGE_TOO_LARGE', async () => {
    const png = await painted(100, 100, () => RED).png().toBuffer();
    const message = await refused(decodePoster(png, { maxPixels: 9999 }), 'IMAGE_TOO_LARGE', '<buffer>');
    assert.equal(message, '<buffer>: 100x100 pixels exceeds the limit of 9999 (set maxPixels / --max-pixels to allow it)');
    assertPosterShape(await decodePoster(png, { maxPixels: 10000 }), 100, 100);
  });

  it('BAD FILE - more bytes than maxBytes -> IMAGE_TOO_LARGE (file and buffer)', async () => {
    const jpeg = await painted(32, 32, noise(4)).jpeg().toBuffer();
    const path = await dir.write('bytes.jpg', jpeg);
    const limit = jpeg.length - 1;
    const message = await refused(decodePoster(path, { maxBytes: limit }), 'IMAGE_TOO_LARGE', path);
    assert.equal(
      message,
      `${path}: ${jpeg.length} bytes exceeds the limit of ${limit} bytes (set maxBytes / --max-bytes to allow it)`,
    );
    await refused(readPosterFile(path, { maxBytes: limit }), 'IMAGE_TOO_LARGE', path);
    await refused(decodePoster(jpeg, { maxBytes: limit }), 'IMAGE_TOO_LARGE', '<buffer>');
  });

  it('BAD CALL - options out of range -> INVALID_ARGUMENT naming the option', async () => {
    const png = await painted(2, 2, () => RED).png().toBuffer();
    const cases: Array<[object, string]> = [
      [{ maxSide: 0 }, 'Expected integer between 1 and 100000000 for maxSide but received number 0'],
      [{ maxPixels: 1.5 }, `Expected integer between 1 and ${Number.MAX_SAFE_INTEGER} for maxPixels but received number 1.5`],
      [{ maxBytes: '10' }, `Expected integer between 1 and ${Number.MAX_SAFE_INTEGER} for maxBytes but received string "10"`],
    ];
    for (const [options, expected] of cases) {
      const message = await refused(decodePoster(png, options), 'INVALID_ARGUMENT');
      assert.equal(message, expected);
    }
  });

  it('options resolved once are used as they are, frozen; a plain object equal to them is checked again', async () => {
    const resolved = resolveDecodeOptions({ maxSide: 2, maxBytes: undefined });
    assert.deepEqual({ ...resolved }, { maxPixels: 50_000_000, maxBytes: 50 * 1024 * 1024, maxSide: 2 });
    assert.equal(resolveDecodeOptions(resolved), resolved);
    assert.ok(Object.isFrozen(resolved));
    const png = await painted(4, 4, () => RED).png().toBuffer();
    const poster = await decodePoster(png, resolved);
    assert.deepEqual([poster.width, poster.height], [2, 2]);
    assert.notEqual(resolveDecodeOptions({ ...resolved }), resolved);
    assert.throws(() => resolveDecodeOptions({ ...resolved, maxSide: 0 }), /for maxSide but received number 0/);
  });

  it('BAD CALL - input that is not a path, Buffer or { bytes, source } -> INVALID_ARGUMENT', async () => {
    for (const input of ['', 42, null, { bytes: 'abc', source: 'x' }]) {
      const error = await decodePoster(input as never).catch((e: unknown) => e);
      assert.ok(error instanceof PosterscopeError);
      assert.equal(error.code, 'INVALID_ARGUMENT');
      assert.equal(error.subject, 'input');
    }
  });
});

describe('decodePoster – GOOD input decodes to 8-bit sRGB RGB', () => {
  it('JPEG from a path: size, colour, source and contentHash = sha256 of the file', async () => {
    const path = await dir.write('red.jpg', await painted(30, 45, () => RED).jpeg().toBuffer());
    const poster = await decodePoster(path);
    assertPosterShape(poster, 30, 45);
    assert.equal(poster.source, path);
    assert.equal(poster.contentHash, sha256(await readFile(path)));
    assertColour(pixelAt(poster, 15, 20), RED);
  });

  it('the format is sniffed from bytes, never from the extension', async () => {
    const path = await dir.write('actually-a-png.jpg', await painted(5, 7, () => BLUE).png().toBuffer());
    const poster = await decodePoster(path);
    assertPosterShape(poster, 5, 7);
    assertColour(pixelAt(poster, 0, 0), BLUE, 0);
  });

  it('PNG with alpha: transparent pixels become white, opaque ones keep their colour', async () => {
    const png = await painted(4, 2, (x) => (x < 2 ? [255, 0, 0, 255] : [0, 255, 0, 0])).png().toBuffer();
    const poster = await decodePoster(png);
    assertPosterShape(poster, 4, 2);
    assert.deepEqual(pixelAt(poster, 0, 0), [...RED]);
    assert.deepEqual(pixelAt(poster, 3, 1), [...WHITE]);
  });

  it('greyscale PNG (1 channel) comes out as 3 equal channels', async () => {
    const png = await painted(3, 3, () => [128, 128, 128]).toColourspace('b-w').png().toBuffer();
    assert.equal((await sharp(png).metadata()).channels, 1, 'fixture is single-channel');
    const poster = await decodePoster(png);
    assertPosterShape(poster, 3, 3);
    assert.deepEqual(pixelAt(poster, 1, 1), [128, 128, 128]);
  });

  it('grey + alpha PNG: transparent grey becomes white RGB', async () => {
    const png = await painted(2, 1, (x) => (x === 0 ? [60, 60, 60, 255] : [60, 60, 60, 0]))
      .toColourspace('b-w')
      .png()
      .toBuffer();
    assert.equal((await sharp(png).metadata()).channels, 2, 'fixture is grey + alpha');
    const poster = await decodePoster(png);
    assert.deepEqual([pixelAt(poster, 0, 0), pixelAt(poster, 1, 0)], [[60, 60, 60], [...WHITE]]);
  });

  it('16-bit PNG is reduced to 8 bits per channel', async () => {
    const png = await painted(2, 2, () => [255, 128, 0]).toColourspace('rgb16').png().toBuffer();
    assert.equal((await sharp(png).metadata()).depth, 'ushort', 'fixture is 16-bit');
    const poster = await decodePoster(png);
    assertPosterShape(poster, 2, 2);
    assertColour(pixelAt(poster, 0, 0), [255, 128, 0], 1);
  });

  it('CMYK JPEG is converted to RGB', async () => {
    const jpeg = await painted(8, 8, () => RED).toColourspace('cmyk').jpeg().toBuffer();
    assert.equal((await sharp(jpeg).metadata()).space, 'cmyk', 'fixture is CMYK');
    const poster = await decodePoster(jpeg);
    assertPosterShape(poster, 8, 8);
    const [r, g, b] = pixelAt(poster, 4, 4);
    assert.ok(r > 200 && g < 40 && b < 40, `expected red-ish, got ${[r, g, b].join(', ')}`);
  });

  it('WebP', async () => {
    const poster = await decodePoster(await painted(12, 18, () => BLUE).webp({ lossless: true }).toBuffer());
    assertPosterShape(poster, 12, 18);
    assertColour(pixelAt(poster, 6, 9), BLUE, 0);
  });

  it('animated GIF: first frame only', async () => {
    const gif = await animatedGif(8, 6, [RED, BLUE, [0, 255, 0]]);
    assert.equal((await sharp(gif).metadata()).pages, 3, 'fixture is animated');
    const poster = await decodePoster(gif);
    assertPosterShape(poster, 8, 6);
    assertColour(pixelAt(poster, 7, 5), RED);
  });

  it('TIFF', async () => {
    const poster = await decodePoster(await painted(10, 15, () => RED).tiff().toBuffer());
    assertPosterShape(poster, 10, 15);
    assertColour(pixelAt(poster, 0, 14), RED, 2);
  });

  it('AVIF', { skip: sharp.format.heif.output.buffer ? false : 'this sharp build cannot write AVIF' }, async () => {
    const avif = await painted(16, 24, () => BLUE).avif({ lossless: true }).toBuffer();
    const poster = await decodePoster(avif);
    assertPosterShape(poster, 16, 24);
    assertColour(pixelAt(poster, 8, 12), BLUE);
  });

  it('EXIF orientation 6: a 20x10 stored image decodes as 10x20, rotated clockwise', async () => {
    // Stored left half red, right half blue; rotating 90° clockwise puts red on top.
    const jpeg = await painted(20, 10, (x) => (x < 10 ? RED : BLUE))
      .jpeg({ quality: 100 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const meta = await sharp(jpeg).metadata();
    assert.deepEqual([meta.width, meta.height, meta.orientation], [20, 10, 6], 'fixture carries orientation 6');
    const poster = await decodePoster(jpeg);
    assertPosterShape(poster, 10, 20);
    assertColour(pixelAt(poster, 5, 2), RED, 24);
    assertColour(pixelAt(poster, 5, 17), BLUE, 24);
  });

  it('maxSide shrinks large posters keeping the aspect ratio, after orientation', async () => {
    const tall = await painted(300, 600, () => RED).png().toBuffer();
    assertPosterShape(await decodePoster(tall, { maxSide: 100 }), 50, 100);
    const wide = await painted(800, 200, () => RED).jpeg().toBuffer();
    assertPosterShape(await decodePoster(wide, { maxSide: 400 }), 400, 100);
    const rotated = await painted(40, 20, () => RED).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    assertPosterShape(await decodePoster(rotated, { maxSide: 10 }), 5, 10);
  });

  it('maxSide never enlarges; the default 1024 leaves posters alone', async () => {
    const small = await painted(30, 40, () => RED).png().toBuffer();
    assertPosterShape(await decodePoster(small, { maxSide: 500 }), 30, 40);
    const big = await painted(1500, 600, () => RED).png().toBuffer();
    assertPosterShape(await decodePoster(big), 1024, 410);
  });

  it('Buffer input: source is <buffer>, contentHash is sha256 of the bytes', async () => {
    const png = await painted(2, 3, () => RED).png().toBuffer();
    const poster = await decodePoster(png);
    assert.equal(poster.source, '<buffer>');
    assert.equal(poster.contentHash, sha256(png));
  });

  it('{ bytes, source } input keeps the caller\'s source name, also in errors', async () => {
    const png = await painted(2, 3, () => RED).png().toBuffer();
    const poster = await decodePoster({ bytes: png, source: 'upload:42' });
    assert.equal(poster.source, 'upload:42');
    assert.equal(poster.contentHash, sha256(png));
    await refused(decodePoster({ bytes: Buffer.from('nope'), source: 'upload:43' }), 'IMAGE_UNSUPPORTED', 'upload:43');
  });
});

test('the C file reader is built wherever CI runs, and is the default where it is', { skip: process.env.CI === 'true' || nativeFile ? false : "not built here (no compiler at install); Node's fs reads" }, () => {
  assert.ok(nativeFile, 'npm ci should have built build/Release/posterscope_file.node');
  assert.equal(defaultFileReader, 'native');
});

for (const via of ['native', 'fs'] as const) {
  const skip = via === 'native' && !nativeFile ? 'the C file reader is not built here' : false;
  const read = (path: string, options?: Parameters<typeof readPosterFile>[1]) => readPosterFile(path, options, via);
  describe(`readPosterFile (${via === 'native' ? 'the C reader, one pool task' : "Node's fs"})`, { skip }, () => {
    it('returns the bytes and their sha256', async () => {
      const jpeg = await painted(4, 4, noise(5)).jpeg().toBuffer();
      const path = await dir.write('hash.jpg', jpeg);
      const { bytes, contentHash } = await read(path);
      assert.deepEqual(bytes, jpeg);
      assert.equal(contentHash, sha256(jpeg));
    });

    it('BAD FILE - missing / directory / empty / a name with a NUL byte get their codes without decoding', async () => {
      await refused(read(dir.file('nope.jpg')), 'IMAGE_NOT_FOUND');
      await refused(read(join(await dir.write('plain.jpg', 'x'), 'below.jpg')), 'IMAGE_NOT_FOUND');
      await refused(read(dir.path), 'IMAGE_IS_DIRECTORY');
      await refused(read(await dir.write('zero.png', '')), 'IMAGE_EMPTY');
      await refused(read(`${await dir.write('nul.jpg', 'x')}\0.png`), 'IMAGE_NOT_FOUND');
      const loop = dir.file(`loop-${via}-a.jpg`);
      await symlink(dir.file(`loop-${via}-b.jpg`), loop).catch(() => undefined);
      await symlink(loop, dir.file(`loop-${via}-b.jpg`)).catch(() => undefined);
      assert.match(await refused(read(loop), 'IMAGE_NOT_FOUND', loop), /ELOOP/);
      assert.match(await refused(read(dir.file('n'.repeat(5000))), 'IMAGE_NOT_FOUND'), /ENAMETOOLONG/);
    });

    it('BAD FILE - a sparse 100 GB file is refused by its size, after reading no more than maxBytes', async () => {
      const path = dir.file(`sparse-${via}.jpg`);
      await writeFile(path, '');
      truncateSync(path, 100 * 2 ** 30);
      assert.match(await refused(read(path), 'IMAGE_TOO_LARGE', path), /102400\.0 MiB exceeds the limit/);
    });

    it('BAD FILE - unreadable (permission denied) -> IMAGE_NOT_FOUND', { skip: process.platform === 'win32' }, async () => {
      const path = await dir.write(`locked-${via}.jpg`, 'x');
      chmodSync(path, 0);
      if (process.getuid?.() !== 0) {
        await refused(read(path), 'IMAGE_NOT_FOUND', path);
        return;
      }
      // Root reads anything: a child loads the reader as root, then reads as "nobody" (uid 65534).
      chmodSync(dir.path, 0o755);
      const script = `import { readPosterFile } from ${JSON.stringify(new URL('../../../src/image/poster.ts', import.meta.url).href)};
        process.setgid(65534);
        process.setuid(65534);
        try { await readPosterFile(${JSON.stringify(path)}, undefined, ${JSON.stringify(via)}); console.log('read it'); } catch (e) { console.log(e.code + ' ' + e.message); }`;
      const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
      assert.equal(out.trim(), `IMAGE_NOT_FOUND ${path}: cannot be read (permission denied)`);
    });

    it('BAD FILE - a FIFO, a socket and a character device are refused at once, without waiting for a writer', { skip: process.platform === 'win32', timeout: 10_000 }, async () => {
      const fifo = dir.file(`pipe-${via}.jpg`);
      execFileSync('mkfifo', [fifo]);
      await refused(read(fifo), 'IMAGE_UNSUPPORTED', fifo);
      const socket = dir.file(`socket-${via}.jpg`);
      const server = createServer().listen(socket);
      await once(server, 'listening');
      try {
        await refused(read(socket), 'IMAGE_UNSUPPORTED', socket);
      } finally {
        server.close();
      }
      await refused(read('/dev/null'), 'IMAGE_UNSUPPORTED', '/dev/null');
    });

    it('files of every size are read whole (smaller and larger than the first read), and one over maxBytes is refused', async () => {
      for (const size of [1, 65_535, 65_536, 65_537, 300_000, 1_048_577]) {
        const content = randomBytes(size);
        const path = await dir.write(`size-${size}.bin`, content);
        const { bytes, contentHash } = await read(path);
        assert.ok(bytes.equals(content), `${size}: ${bytes.length} bytes back`);
        assert.equal(contentHash, sha256(content));
      }
      // A small file after the large ones: the first read is then larger than it, and only its bytes come back.
      const small = await dir.write('small-after.bin', 'abc');
      assert.equal((await read(small)).bytes.toString(), 'abc');
      const big = await painted(900, 1300, noise(9)).png().toBuffer();
      const path = await dir.write('big.png', big);
      const { bytes } = await read(path);
      assert.ok(bytes.equals(big), `${bytes.length} of ${big.length} bytes`);
      await refused(read(path, { maxBytes: big.length - 1 }), 'IMAGE_TOO_LARGE', path);
      await refused(read(small, { maxBytes: 2 }), 'IMAGE_TOO_LARGE', small);
    });

    it('many reads at once each get their own file', async () => {
      const contents = Array.from({ length: 64 }, (_, i) => randomBytes(1000 + i * 997));
      const paths = await Promise.all(contents.map((c, i) => dir.write(`many-${via}-${i}.bin`, c)));
      const read64 = await Promise.all(paths.map((p) => read(p)));
      read64.forEach(({ bytes }, i) => assert.ok(bytes.equals(contents[i]!), `file ${i}`));
    });
  });
}

describe('test helpers', () => {
  it('crc32 matches the PNG IEND chunk CRC', () => {
    assert.equal(crc32(Buffer.from('IEND')), 0xae426082);
  });
});
