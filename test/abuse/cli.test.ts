/**
 * Hostile files for the built CLI, each run in a child whose peak RSS is
 * measured: extreme shapes, pixel bombs, truncated images of every format,
 * hostile names and ids, broken bundles (manifest, split.json, weights).
 * Each gets its exit code and one escaped, short error line per problem.
 */
import assert from 'node:assert/strict';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT } from '../helpers/cli.js';
import { type TempDir, craftedHugePng, makeTempDir } from '../helpers/images.js';
import { MODELS, POSTERS, SHARED, UNLABELED, skipWithoutShared } from '../helpers/shared.js';
import { MEMORY_BUDGET_MB, type MeasuredRun, hostileName, image, pngBomb, runMeasured, truncatedImages } from './hostile.js';

const skip = skipWithoutShared;
let dir: TempDir;
let env: NodeJS.ProcessEnv;

before(async () => {
  if (skip) return;
  dir = await makeTempDir('posterscope-abuse-cli-');
  env = { POSTERSCOPE_MIRROR: MODELS, POSTERSCOPE_OFFLINE: '1', POSTERSCOPE_CACHE: dir.file('cache') };
});
const peaks: string[] = [];
after(async () => {
  // The numbers, for the record (node's test runner shows them as diagnostics).
  if (peaks.length > 0) console.log(`peak RSS per hostile run, MB: ${peaks.join(', ')}`);
  await dir?.remove();
});

const run = (args: string[]) => runMeasured(args, { env, tmp: dir.path });

/** Exit code, one short escaped line per error, and the memory budget. */
function check(what: string, result: MeasuredRun, code: number, errorLines: number, pattern?: RegExp): void {
  assert.equal(result.code, code, `${what}: exit ${result.code}: ${result.stderr.slice(0, 500)}`);
  const lines = result.stderr.split('\n').filter((line) => line.startsWith('error: ') || line.startsWith('posterscope: '));
  assert.equal(lines.length, errorLines, `${what}: ${result.stderr.slice(0, 500)}`);
  for (const line of lines) {
    assert.ok(line.length < 1000, `${what}: a ${line.length}-character line`);
    assert.ok(!/[\u0000-\u0008\u000b-\u001f\u007f]/.test(line), `${what}: raw control characters in ${JSON.stringify(line.slice(0, 200))}`);
  }
  if (pattern) assert.match(result.stderr, pattern, what);
  peaks.push(`${what} ${result.peakMb.toFixed(0)}`);
  assert.ok(result.peakMb < MEMORY_BUDGET_MB, `${what}: peak RSS ${result.peakMb.toFixed(0)} MB is over ${MEMORY_BUDGET_MB} MB`);
}

test('extreme aspect ratios, pixel bombs and truncated images of every format: one error each, under the memory budget', { skip }, async () => {
  const files = dir.file('hostile');
  await mkdir(files);
  await writeFile(join(files, 'strip.png'), await image(10, 10_000, 'png'));
  await writeFile(join(files, 'wide.jpg'), await image(10_000, 10, 'jpeg'));
  await writeFile(join(files, 'lying-header.png'), craftedHugePng(30_000, 30_000));
  for (const [name, bytes] of await truncatedImages()) await writeFile(join(files, name), bytes);
  const good = join(UNLABELED, 'tt0121766.jpg');
  const result = await run(['predict', files, good, '--format', 'json']);
  check('hostile folder', result, 1, 9, /aspect ratio 1024:1 \(1x1024 decoded\)/);
  const predictions = JSON.parse(result.stdout) as Array<{ input: string; error?: { code: string } }>;
  const codes = Object.fromEntries(predictions.map((p) => [p.input.split('/').pop(), p.error?.code ?? 'ok']));
  assert.deepEqual(codes, {
    'strip.png': 'IMAGE_UNSUPPORTED',
    'wide.jpg': 'IMAGE_UNSUPPORTED',
    'lying-header.png': 'IMAGE_TOO_LARGE',
    'cut.jpeg': 'IMAGE_CORRUPT',
    'cut.png': 'IMAGE_CORRUPT',
    'cut.webp': 'IMAGE_CORRUPT',
    'cut.gif': 'IMAGE_CORRUPT',
    'cut.tiff': 'IMAGE_CORRUPT',
    'cut.avif': 'IMAGE_CORRUPT',
    'tt0121766.jpg': 'ok',
  });
  // A real 49 Mpx bomb is under the default pixel limit: decoded (shrunk on the way) within the budget; --max-pixels refuses it.
  const bomb = dir.file('bomb.png');
  await writeFile(bomb, await pngBomb());
  check('7000x7000 PNG', await run(['predict', bomb, '--format', 'json']), 0, 0);
  // (A fresh cache: a cached poster costs no decoding, so no limit applies to it.)
  const fresh = await runMeasured(['predict', bomb, '--max-pixels', '1000000'], { env: { ...env, POSTERSCOPE_CACHE: dir.file('cache2') }, tmp: dir.path });
  check('--max-pixels', fresh, 1, 1, /7000x7000 pixels exceeds the limit of 1000000/);
});

test('hostile names and ids: escaped, cut, one line each', { skip }, async () => {
  const files = dir.file('names');
  await mkdir(files);
  const evil = join(files, `${hostileName(200).replace(/\u0000/g, '')}.jpg`);
  await writeFile(evil, Buffer.from('<html>not a poster</html>'));
  check('a file named with escapes', await run(['predict', evil]), 1, 1, /evil\\n\\r\\x1b\[31mred/);
  // A 1 MB id with control characters in a table: its row has no poster.
  const table = dir.file('ids.csv');
  await writeFile(table, `id,genres\n"${hostileName(1_000_000).replace(/\u0000/g, '')}",Drama\ntt0121766,Drama\n`);
  const result = await run(['predict', '--data', table, '--images', UNLABELED, '--format', 'json']);
  check('a 1 MB id', result, 1, 1, /characters\)/);
  assert.equal(result.stderr.length < 2000, true, `${result.stderr.length} characters on stderr`);
  check('an 8,000-character --tta', await run(['predict', join(UNLABELED, 'tt0121766.jpg'), '--tta', `\u001b${'x'.repeat(8000)}`]), 2, 1, /characters\)/);
});

test('broken bundles: manifest, split.json and weights.bin each named with the field, nothing loaded', { skip }, async () => {
  const poster = join(UNLABELED, 'tt0121766.jpg');
  const bundle = async (name: string, edit: (path: string) => Promise<void>) => {
    const path = dir.file(`bundle-${name}`);
    await cp(join(ROOT, 'models', 'default'), path, { recursive: true });
    await edit(path);
    return path;
  };
  const editJson = (file: string, change: (value: Record<string, unknown>) => void) => async (path: string) => {
    const value = JSON.parse(await readFile(join(path, file), 'utf8')) as Record<string, unknown>;
    change(value);
    await writeFile(join(path, file), JSON.stringify(value));
  };
  const cases: Array<[string, (path: string) => Promise<void>, string[], RegExp]> = [
    ['manifest-not-json', (p) => writeFile(join(p, 'manifest.json'), '{"format": "posterscope-bundle", '), ['predict', poster], /manifest\.json/],
    ['manifest-genres', editJson('manifest.json', (m) => (m.genres = 5)), ['predict', poster], /manifest\.json.*genres/],
    ['manifest-huge-value', editJson('manifest.json', (m) => (m.views = [hostileName(100_000)])), ['predict', poster], /manifest\.json field views: .*characters\)/],
    ['weights-cut', async (p) => writeFile(join(p, 'weights.bin'), (await readFile(join(p, 'weights.bin'))).subarray(0, 1000)), ['predict', poster], /weights\.bin/],
    ['split-not-json', (p) => writeFile(join(p, 'split.json'), '[1, 2'), ['evaluate', '--data', join(SHARED, 'data', 'posters', 'labels.csv'), '--images', POSTERS, '--split', 'test'], /split\.json/],
  ];
  for (const [name, edit, args, pattern] of cases) {
    const path = await bundle(name, edit);
    const result = await run([...args, '--model', path]);
    check(name, result, 1, 1, pattern);
  }
});
