/** `posterscope clean` as a user runs it: the built CLI, no TTY, synthetic posters with known text. */
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import type { BoxesRecord } from '../../src/clean/clean-files.js';
import { runCli } from '../helpers/cli.js';
import { type TempDir, makeTempDir } from '../helpers/images.js';
import { matchBoxes, renderTextPoster } from '../helpers/text-posters.js';

let dir: TempDir;
let input: string;
const truth = new Map<string, Awaited<ReturnType<typeof renderTextPoster>>>();
// The detector comes from the npm package: no mirror, no cache, no network needed.
const env = { POSTERSCOPE_OFFLINE: '1' };

before(async () => {
  dir = await makeTempDir('posterscope-e2e-clean-');
  input = dir.file('posters');
  await mkdir(input);
  for (const [seed, name] of [
    [301, 'first.png'],
    [302, 'second.jpg'],
    [303, 'third.webp'],
  ] as const) {
    const sample = await renderTextPoster(seed, { width: 224, height: 320 });
    truth.set(name, sample);
    const image = sharp(sample.png);
    await (name.endsWith('.jpg') ? image.jpeg({ quality: 95 }) : name.endsWith('.webp') ? image.webp({ quality: 95 }) : image.png()).toFile(`${input}/${name}`);
  }
});

after(() => dir.remove());

async function records(out: string): Promise<BoxesRecord[]> {
  return (await readFile(`${out}/boxes.jsonl`, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as BoxesRecord);
}

test('clean writes text-free posters under the same names and formats, boxes.jsonl and previews', async () => {
  const out = dir.file('out');
  const preview = dir.file('preview');
  const result = await runCli(['clean', input, '--out', out, '--preview', preview, '--json'], { env, cwd: dir.path });
  assert.equal(result.code, 0, result.stderr);
  const summary = JSON.parse(result.stdout) as { posters: number; cleaned: number; skipped: number; failed: number; boxes: number };
  assert.deepEqual([summary.posters, summary.cleaned, summary.skipped, summary.failed], [3, 3, 0, 0]);
  assert.deepEqual((await readdir(out)).sort(), ['boxes.jsonl', 'first.png', 'second.jpg', 'third.webp']);
  assert.deepEqual((await readdir(preview)).sort(), ['first.png', 'second.png', 'third.png']);
  for (const name of ['first.png', 'second.jpg', 'third.webp']) {
    const meta = await sharp(`${out}/${name}`).metadata();
    assert.equal(meta.format, { png: 'png', jpg: 'jpeg', webp: 'webp' }[name.split('.')[1]!]);
    assert.deepEqual([meta.width, meta.height], [224, 320]);
    const previewMeta = await sharp(`${preview}/${name.replace(/\.\w+$/, '.png')}`).metadata();
    assert.ok(previewMeta.width! > 2 * 224 && previewMeta.height === 320);
  }
  const lines = await records(out);
  assert.equal(lines.length, 3);
  let found = 0;
  let total = 0;
  for (const record of lines) {
    const sample = truth.get(record.file)!;
    assert.equal(record.source, `${input}/${record.file}`);
    assert.match(record.sha256, /^[0-9a-f]{64}$/);
    assert.ok(record.masked > 0 && record.masked < 0.6);
    assert.match(record.cleaner, /^clean-ppocr-v4-det-/);
    found += matchBoxes(sample.boxes, record.boxes, 0.5).matched;
    total += sample.boxes.length;
  }
  assert.ok(found / total >= 0.8, `boxes.jsonl holds ${found} of ${total} text lines`);
  assert.equal(summary.boxes, lines.reduce((n, r) => n + r.boxes.length, 0));
  // The cleaned PNG's pixels moved towards the text-free artwork.
  const sample = truth.get('first.png')!;
  const cleaned = await sharp(`${out}/first.png`).removeAlpha().raw().toBuffer();
  const distance = (a: Buffer) => a.reduce((sum, v, i) => sum + Math.abs(v - sample.background[i]!), 0);
  assert.ok(distance(cleaned) < distance(sample.pixels) / 3, `${distance(cleaned)} vs ${distance(sample.pixels)}`);
});

test('a re-run skips what is done; a deleted output is cleaned again; --force redoes all', async () => {
  const out = dir.file('resume');
  assert.equal((await runCli(['clean', input, '--out', out, '-q'], { env })).code, 0);
  const again = await runCli(['clean', input, '--out', out, '--json'], { env });
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(JSON.parse(again.stdout).skipped, 3);
  await rm(`${out}/second.jpg`);
  const resumed = JSON.parse((await runCli(['clean', input, '--out', out, '--json'], { env })).stdout);
  assert.deepEqual([resumed.cleaned, resumed.skipped], [1, 2]);
  // Different settings are different work: nothing is skipped.
  const wider = JSON.parse((await runCli(['clean', input, '--out', out, '--json', '--dilate', '4'], { env })).stdout);
  assert.deepEqual([wider.cleaned, wider.skipped], [3, 0]);
  const forced = JSON.parse((await runCli(['clean', input, '--out', out, '--json', '--dilate', '4', '--force'], { env })).stdout);
  assert.deepEqual([forced.cleaned, forced.skipped], [3, 0]);
  assert.equal((await records(out)).length, 3 + 1 + 3 + 3);
});

test('bad posters each get one error line, the batch goes on, exit 1; a torn boxes.jsonl line is ignored', async () => {
  const out = dir.file('mixed');
  const other = dir.file('other');
  await mkdir(other);
  await dir.write('other/notes.jpg', '<html>Not Found</html>');
  await dir.write('other/empty.png', '');
  await sharp(truth.get('first.png')!.png).toFile(`${other}/first.png`);
  await mkdir(out);
  await dir.write('mixed/boxes.jsonl', '{"file":"first.png","sou');
  const result = await runCli(['clean', input, other, dir.file('missing.jpg'), '--out', out, '--json'], { env });
  assert.equal(result.code, 1, result.stderr);
  const errors = result.stderr.split('\n').filter((line) => line.startsWith('error: '));
  assert.equal(errors.length, 4, result.stderr);
  assert.match(result.stderr, /error: .*notes\.jpg: not an image/);
  assert.match(result.stderr, /error: .*empty\.png: .*empty/);
  assert.match(result.stderr, /error: .*missing\.jpg/);
  assert.match(result.stderr, /error: .*other\/first\.png: another input \(.*posters\/first\.png\) is also named first\.png/);
  const summary = JSON.parse(result.stdout);
  assert.deepEqual([summary.posters, summary.cleaned, summary.failed], [7, 3, 4]);
  // The torn line stays unreadable; the three new records after it parse.
  const text = await readFile(`${out}/boxes.jsonl`, 'utf8');
  const parsed = text.trim().split('\n').slice(1).map((line) => JSON.parse(line) as BoxesRecord);
  assert.deepEqual(parsed.map((r) => r.file).sort(), ['first.png', 'second.jpg', 'third.webp']);
});

test('usage errors are one line and exit 2; --help teaches', async () => {
  for (const [args, pattern] of [
    [['clean', input], /clean needs poster files, folders or globs and --out DIR/],
    [['clean', '--out', dir.file('x')], /clean needs poster files/],
    [['clean', input, '--out', dir.file('x'), '--dilate', 'wide'], /Expected integer between 0 and 100 for --dilate but received string "wide"/],
    [['clean', input, '--out', dir.file('x'), '--box-threshold', '2'], /--box-threshold/],
  ] as const) {
    const result = await runCli([...args], { env });
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, pattern);
  }
  const help = await runCli(['clean', '--help']);
  assert.equal(help.code, 0);
  for (const text of ['Usage: posterscope clean', 'boxes.jsonl', '--preview DIR', '--dilate PX', 'Telea', 'train --clean', 'Examples:']) {
    assert.ok(help.stdout.includes(text), `${text} missing from:\n${help.stdout}`);
  }
});

test('an --out or --preview that is, holds or lies inside an input is refused before any work; originals untouched', async () => {
  const own = dir.file('own');
  await mkdir(own);
  const { cp } = await import('node:fs/promises');
  await cp(input, own, { recursive: true });
  const before = await Promise.all(['first.png', 'second.jpg'].map((name) => readFile(`${own}/${name}`)));
  for (const [args, pattern] of [
    [['clean', own, '--out', own], /^posterscope: Expected a folder outside the inputs \(not the input .*own itself\) for --out but received string ".*own"$/],
    [['clean', own, '--out', `${own}/clean`], /\(not inside the input folder .*own\) for --out/],
    [['clean', `${own}/first.png`, '--out', own], /\(not a folder holding the input .*first\.png\) for --out/],
    [['clean', `${own}/*.jpg`, '--out', `${own}/`], /for --out/],
    [['clean', own, '--out', dir.file('fine'), '--preview', own], /for --preview/],
    [['clean', own, '--out', dir.file('fine'), '--preview', dir.file('fine')], /\(not the same place as --out\) for --preview/],
  ] as const) {
    const result = await runCli([...args], { env });
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr.trim(), pattern);
  }
  const after = await Promise.all(['first.png', 'second.jpg'].map((name) => readFile(`${own}/${name}`)));
  assert.ok(after.every((bytes, i) => bytes.equals(before[i]!)), 'the originals were not touched');
  assert.deepEqual((await readdir(own)).sort(), ['first.png', 'second.jpg', 'third.webp']);
});

test('a poster replaced since it was cleaned is cleaned again (its source sha256 changed)', async () => {
  const source = dir.file('changing');
  const out = dir.file('changing-out');
  await mkdir(source);
  const { cp } = await import('node:fs/promises');
  await cp(input, source, { recursive: true });
  assert.equal((await runCli(['clean', source, '--out', out, '-q'], { env })).code, 0);
  const replacement = await renderTextPoster(304, { width: 224, height: 320 });
  await sharp(replacement.png).jpeg({ quality: 95 }).toFile(`${source}/second.jpg`);
  const rerun = await runCli(['clean', source, '--out', out, '--json'], { env });
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.deepEqual([JSON.parse(rerun.stdout).cleaned, JSON.parse(rerun.stdout).skipped], [1, 2]);
  const { createHash } = await import('node:crypto');
  const latest = (await records(out)).filter((r) => r.file === 'second.jpg').at(-1)!;
  assert.equal(latest.sha256, createHash('sha256').update(await readFile(`${source}/second.jpg`)).digest('hex'));
});
