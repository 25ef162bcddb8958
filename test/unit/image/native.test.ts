/**
 * The C pixel kernels against the JavaScript loops they replace: the same
 * bytes and floats for every shape, and a clear error (never a crash) for
 * offsets outside the image. The JavaScript side runs in a child process
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
  assert.ok(native.length >= 40, `${native.length} cases`);
  assert.deepEqual(native, js);
  // The two runs really took different paths: a broken switch would compare JavaScript with itself.
  assert.notEqual(nativeKernels, undefined);
});

test('BAD CALL - offsets outside the image are a RangeError, not a crash', { skip: nativeKernels ? false : 'the C kernels are not built here' }, () => {
  const k = nativeKernels!;
  const pixels = new Uint8Array(10 * 10 * 3);
  const cols = new Int32Array(4).fill(27);
  const rows = new Int32Array(4).fill(10 * 10 * 3); // one row past the end
  assert.throws(() => k.enlarge(pixels, 10, cols, cols, new Int32Array(4), rows, rows, new Int32Array(4), new Uint8Array(48), 4, 4), RangeError);
  assert.throws(() => k.reduceRows(pixels, 30, new Int32Array([0, 300]), new Int32Array([2048, 2048]), 2, new Uint8Array(30), 1), RangeError);
  assert.throws(() => k.writeCrop(new Uint8Array(12), new Float32Array(256), new Float32Array(256), new Float32Array(256), true, new Float32Array(12), 1), /bad arguments/);
  assert.throws(() => k.enlarge(pixels, 10, cols, cols, cols, cols, cols, cols, new Uint8Array(3), 4, 4), /bad arguments/);
});
