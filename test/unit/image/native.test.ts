/**
 * The C pixel kernels against the JavaScript they replace: the same bytes
 * and floats for every shape (the C works out positions and weights with the
 * same double arithmetic), and a clear error (never a crash) for sizes the
 * buffers do not hold. The JavaScript side runs in a child process
 * with POSTERSCOPE_NATIVE=0, since the choice is made once per process.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { nativeKernels } from '../../../src/image/native.js';

const run = promisify(execFile);

/** Hashes of enlarge, reduceRows and writeCrop outputs over a spread of shapes, from whichever kernels this process has. */
const CASES = `
import { createHash } from 'node:crypto';
import { enlarge, reduceRows, writeCrop, normalizationTables } from ${JSON.stringify(new URL('../../../src/image/views.ts', import.meta.url).href)};
const hash = (b) => createHash('sha256').update(b).digest('hex').slice(0, 16);
let seed = 7;
const noise = (n) => { const b = Buffer.allocUnsafe(n); for (let i = 0; i < n; i++) { seed = (seed * 1103515245 + 12345) >>> 0; b[i] = seed >>> 24; } return b; };
const out = [];
for (const [w, h] of [[224, 336], [211, 317], [37, 51], [1, 9], [300, 200], [224, 224]]) {
  const px = noise(w * h * 3);
  for (const [W, H] of [[w, h + 1], [Math.round(w * 1.5), Math.round(h * 1.5)], [w * 2, h * 2], [Math.round(w * 3.3), h + 7]]) out.push('enlarge ' + w + 'x' + h + '->' + W + 'x' + H + ' ' + hash(enlarge(px, w, h, W, H)));
  for (const H of [Math.ceil((2 * h) / 3), Math.round(h / 1.3), h - 1]) if (H >= 1 && H < h) out.push('reduce ' + w + 'x' + h + '->' + H + ' ' + hash(reduceRows(px, w, h, H)));
}
// Every poster height a single view shrinks to 224 rows, and posters narrower than 224 widened to it.
const poster = noise(224 * 336 * 3);
for (let h = 225; h <= 336; h++) out.push('reduce 224x' + h + '->224 ' + hash(reduceRows(poster, 224, h, 224)));
for (let w = 150; w < 224; w += 3) out.push('enlarge ' + w + 'x224->224x224 ' + hash(enlarge(poster, w, 224, 224, 224)));
// Shapes at random, enlarged up to 4x and reduced by up to 1.5x.
for (let i = 0; i < 40; i++) {
  const w = 1 + (noise(1)[0] % 97), h = 3 + (noise(1)[0] % 150);
  const px = noise(w * h * 3);
  const W = w + (noise(1)[0] % (3 * w + 1)), H = h + (noise(1)[0] % (3 * h + 1));
  const R = Math.ceil((2 * h) / 3) + (noise(1)[0] % (h - Math.ceil((2 * h) / 3)));
  out.push('enlarge ' + w + 'x' + h + '->' + W + 'x' + H + ' ' + hash(enlarge(px, w, h, W, H)));
  out.push('reduce ' + w + 'x' + h + '->' + R + ' ' + hash(reduceRows(px, w, h, R)));
}
const tables = normalizationTables({ scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
for (const layout of ['NCHW', 'NHWC']) {
  const batch = new Float32Array(new SharedArrayBuffer(3 * 32 * 32 * 3 * 4));
  for (let i = 0; i < 3; i++) writeCrop(noise(32 * 32 * 3), tables, layout, batch, i);
  out.push('writeCrop ' + layout + ' ' + hash(new Uint8Array(batch.buffer).slice()));
}
console.log(out.join('\\n'));
`;

async function cases(env: NodeJS.ProcessEnv): Promise<string[]> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CASES], { env: { ...process.env, ...env } });
  return stdout.trim().split('\n');
}

test('the C kernels are built wherever CI runs', { skip: process.env.CI === 'true' ? false : nativeKernels ? false : 'not built here (no compiler at install); the JavaScript loops run' }, () => {
  assert.ok(nativeKernels, 'npm ci should have built build/Release/posterscope_pixels.node');
});

test('C and JavaScript kernels give the same bytes for every shape', { skip: nativeKernels ? false : 'the C kernels are not built here' }, async () => {
  const [native, js] = await Promise.all([cases({}), cases({ POSTERSCOPE_NATIVE: '0' })]);
  assert.ok(native.length >= 250, `${native.length} cases`);
  assert.deepEqual(native, js);
  // The two runs really took different paths: a broken switch would compare JavaScript with itself.
  assert.notEqual(nativeKernels, undefined);
});

test('BAD CALL - sizes the buffers do not hold are an error, not a crash', { skip: nativeKernels ? false : 'the C kernels are not built here' }, () => {
  const k = nativeKernels!;
  const pixels = new Uint8Array(10 * 10 * 3);
  const out = new Uint8Array(20 * 20 * 3);
  // Each call would read or write past a buffer, or shrink or grow the wrong way.
  assert.throws(() => k.enlarge(pixels, 10, 11, out, 20, 20), /enlarge: bad arguments/);
  assert.throws(() => k.enlarge(pixels, 10, 10, out, 21, 20), /enlarge: bad arguments/);
  assert.throws(() => k.enlarge(pixels, 10, 10, out, 9, 20), /enlarge: bad arguments/);
  assert.throws(() => k.enlarge(pixels, 0, 10, out, 20, 20), /enlarge: bad arguments/);
  assert.throws(() => k.enlarge(pixels, 65536, 65536, out, 65536, 65536), /enlarge: bad arguments/);
  assert.throws(() => k.reduceRows(pixels, 10, 11, out, 8), /reduceRows: bad arguments/);
  assert.throws(() => k.reduceRows(pixels, 10, 10, out, 6), /reduceRows: bad arguments/, 'more than 1.5x');
  assert.throws(() => k.reduceRows(pixels, 10, 10, out, 10), /reduceRows: bad arguments/, 'not shrinking');
  assert.throws(() => k.reduceRows(pixels, 10, 10, new Uint8Array(10 * 8 * 3 - 1), 8), /reduceRows: bad arguments/);
  assert.throws(() => k.reduceRows(pixels, 10, 10, out, -8), /reduceRows: bad arguments/);
  assert.throws(() => k.writeCrop(new Uint8Array(12), new Float32Array(256), new Float32Array(256), new Float32Array(256), true, new Float32Array(12), 1), /bad arguments/);
  // The same calls within their buffers work.
  k.enlarge(pixels, 10, 10, out, 20, 20);
  k.reduceRows(pixels, 10, 10, out, 8);
});
