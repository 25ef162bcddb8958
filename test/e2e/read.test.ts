/** `posterscope read` as a user runs it: the built CLI, no TTY, synthetic posters with known text. */
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import type { ReadResult } from '../../src/ocr/read.js';
import { runCli } from '../helpers/cli.js';
import { type TempDir, makeTempDir } from '../helpers/images.js';
import { titleFound } from '../helpers/read-metrics.js';
import { type TextPoster, renderTextPoster } from '../helpers/text-posters.js';

let dir: TempDir;
let input: string;
const truth = new Map<string, TextPoster>();
// The models come from the npm package: no mirror, no network; a cache of the test's own.
let env: NodeJS.ProcessEnv;

before(async () => {
  dir = await makeTempDir('posterscope-e2e-read-');
  env = { POSTERSCOPE_OFFLINE: '1', POSTERSCOPE_CACHE: dir.file('cache') };
  input = dir.file('posters');
  await mkdir(input);
  for (const [seed, name] of [
    [501, 'first.png'],
    [502, 'second.jpg'],
  ] as const) {
    const sample = await renderTextPoster(seed);
    truth.set(name, sample);
    await (name.endsWith('.jpg') ? sharp(sample.png).jpeg({ quality: 95 }) : sharp(sample.png).png()).toFile(`${input}/${name}`);
  }
});

after(() => dir.remove());

const titleOf = (sample: TextPoster) => sample.boxes.filter((b) => b.kind === 'title').map((b) => b.text).join(' ');

test('read prints one JSON object per poster: text, lines in reading order with boxes and confidences; boxes and text are cached', async () => {
  const result = await runCli(['read', input, '--quiet'], { env });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, '');
  const parsed = JSON.parse(result.stdout) as ReadResult[];
  assert.deepEqual(parsed.map((r) => r.input), [`${input}/first.png`, `${input}/second.jpg`]);
  for (const r of parsed) {
    const sample = truth.get(r.input.split('/').pop()!)!;
    assert.ok(titleFound(titleOf(sample), r.text), `${titleOf(sample)} not in ${JSON.stringify(r.text)}`);
    assert.ok(r.lines.length >= 2);
    assert.equal(r.text.replace(/\s+/g, ' '), r.lines.map((l) => l.text).join(' '));
    let lastTop = -Infinity;
    for (const line of r.lines) {
      assert.ok(line.confidence >= 0.5 && line.confidence <= 1);
      assert.ok(line.box.x0 >= 0 && line.box.x1 <= sample.width && line.box.y1 <= sample.height && line.box.score > 0);
      assert.equal(line.box.x0, Math.round(line.box.x0 * 10) / 10, 'boxes printed to 0.1 px');
      // Reading order: a line never starts above the rows before it (rows may share height).
      assert.ok(line.box.y1 > lastTop);
      lastTop = Math.max(lastTop, line.box.y0);
    }
  }
  assert.deepEqual((await readdir(dir.file('cache'))).sort(), ['boxes', 'text']);
  // Read again from the cache: the same answer.
  const again = await runCli(['read', input, '--quiet'], { env });
  assert.equal(again.stdout, result.stdout);
});

test('--format text, jsonl and table; --min-confidence 1 keeps nothing; -o writes a file', async () => {
  const text = await runCli(['read', `${input}/first.png`, '--format', 'text', '--quiet'], { env });
  assert.equal(text.code, 0, text.stderr);
  assert.ok(titleFound(titleOf(truth.get('first.png')!), text.stdout));
  assert.ok(!text.stdout.includes('==>'), 'one poster: its text alone');
  const both = await runCli(['read', input, '--format', 'text', '--quiet'], { env });
  assert.match(both.stdout, /^==> .*first\.png <==\n[^]+\n\n==> .*second\.jpg <==\n/);

  const jsonl = await runCli(['read', input, '--format', 'jsonl', '--quiet'], { env });
  const rows = jsonl.stdout.trim().split('\n').map((line) => JSON.parse(line) as ReadResult);
  assert.equal(rows.length, 2);

  const table = await runCli(['read', `${input}/second.jpg`, '--format', 'table', '--quiet'], { env });
  const [header, first] = table.stdout.split('\n');
  assert.match(header!, /^poster\s+conf\s+box \(x,y wxh\)\s+text$/);
  assert.match(first!, /second\.jpg\s+[01]\.\d\d\s+\d+,\d+ \d+x\d+\s+\S/);

  const strict = await runCli(['read', input, '--min-confidence', '1', '--quiet'], { env });
  assert.deepEqual((JSON.parse(strict.stdout) as ReadResult[]).map((r) => [r.lines.length, r.text]), [[0, ''], [0, '']]);

  const out = dir.file('read.json');
  const written = await runCli(['read', input, '-o', out, '--quiet', '--no-cache'], { env });
  assert.equal(written.stdout, '');
  assert.equal((JSON.parse(await readFile(out, 'utf8')) as ReadResult[]).length, 2);
});

test('a poster that cannot be read gets its error and the rest are read: exit 1', async () => {
  await writeFile(dir.file('broken.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 1, 2]));
  const result = await runCli(['read', `${input}/first.png`, dir.file('broken.jpg'), dir.file('nowhere.png'), '--quiet'], { env });
  assert.equal(result.code, 1);
  const parsed = JSON.parse(result.stdout) as ReadResult[];
  assert.deepEqual(parsed.map((r) => r.error?.code), [undefined, 'IMAGE_CORRUPT', 'IMAGE_NOT_FOUND']);
  assert.ok(parsed[0]!.lines.length > 0);
  const errors = result.stderr.trim().split('\n');
  assert.equal(errors.length, 2, result.stderr);
  assert.ok(errors.every((line) => line.startsWith('error: ')));
});

test('usage errors are one line and exit 2; --help teaches', async () => {
  for (const [args, pattern] of [
    [['read'], /give poster files, folders or globs to read/],
    [['read', input, '--format', 'jsn'], /Expected one of table, json, jsonl, text for --format but received string "jsn"; did you mean "json"\?/],
    [['read', input, '--min-confidence', '2'], /Expected number between 0 and 1 for --min-confidence but received number 2/],
  ] as const) {
    const result = await runCli([...args], { env });
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, pattern);
  }
  const help = await runCli(['read', '--help']);
  assert.equal(help.code, 0);
  for (const text of ['Usage: posterscope read', 'reading order', 'confidence', '--min-confidence P', '--format FORMAT', 'cached', '"quad"', 'Examples:']) {
    assert.ok(help.stdout.includes(text), `${text} missing from:\n${help.stdout}`);
  }
  const list = await runCli(['--help']);
  assert.match(list.stdout, /read\s+Read the text printed on posters/);
});
