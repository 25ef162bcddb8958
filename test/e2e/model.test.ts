/**
 * train -> evaluate -> predict through the built CLI, on generated posters
 * and a tiny generated backbone.
 */
import assert from 'node:assert/strict';
import { copyFile, cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { getBackboneSpec } from '../../src/backbone/registry.js';
import { runCli } from '../helpers/cli.js';
import { type TempDir, makeTempDir } from '../helpers/images.js';
import { tinyBackbone } from '../helpers/onnx-models.js';
import { GENRES, type PosterSet, makePosterSet } from '../helpers/posters.js';

let dir: TempDir;
let set: PosterSet;
let rowFile: string;
let env: NodeJS.ProcessEnv;
let model: string;

before(async () => {
  dir = await makeTempDir('posterscope-model-e2e-');
  const base = getBackboneSpec('mobilenetv2');
  const { row } = await tinyBackbone(dir.path, { ...base, id: 'tiny', feature: { ...base.feature, dim: 8 } });
  rowFile = await dir.write('tiny.json', JSON.stringify(row));
  env = { POSTERSCOPE_CACHE: dir.file('cache'), POSTERSCOPE_MIRROR: dir.path, POSTERSCOPE_OFFLINE: '1' };
  set = await makePosterSet(dir.file('data'), 120);
  model = dir.file('model');
  const trained = await runCli(
    ['train', '--data', set.csv, '--images', set.images, '--output', model, '--backbone', rowFile, '--views', 'full', '--train-views', '', '--learning-rate', '0.05', '--json'],
    { env },
  );
  assert.equal(trained.code, 0, trained.stderr);
});

after(() => dir.remove());

test('train reports the data set, the split and epochs, and writes a bundle that beats the prior', async () => {
  const manifest = JSON.parse(await readFile(`${model}/manifest.json`, 'utf8'));
  assert.deepEqual(manifest.genres, [...GENRES]);
  assert.equal(manifest.backbone.id, 'tiny');
  assert.deepEqual(manifest.views, ['full']);
  assert.ok(manifest.history.length >= 1);
  const test = manifest.metrics.test;
  assert.ok(test.microF1 > 0.8, `micro-F1 ${test.microF1}`);
  assert.ok(test.microF1 > test.baselines.prior.microF1 + 0.2);
  const split = JSON.parse(await readFile(`${model}/split.json`, 'utf8'));
  assert.equal(split.train.length + split.validation.length + split.test.length, 120);
});

test('evaluate reuses the bundle\'s test split and prints the table beside the baselines', async () => {
  const result = await runCli(['evaluate', '--model', model, '--json', '-'], { env });
  assert.equal(result.code, 0, result.stderr);
  // With `--json -`, stdout is the JSON alone: a script parses it as it is.
  const report = JSON.parse(result.stdout);
  assert.match(result.stderr, /on .* \(test: \d+ posters/);
  for (const key of ['microF1', 'macroF1', 'precision', 'recall', 'f05', 'exactMatch', 'mAP', 'perGenre', 'thresholds', 'baselines']) {
    assert.ok(key in report, key);
  }
  assert.ok('prior' in report.baselines && 'random' in report.baselines);
  assert.equal(report.split, 'test');
  const split = JSON.parse(await readFile(`${model}/split.json`, 'utf8'));
  assert.equal(report.rows, split.test.length);
  const table = await runCli(['evaluate', '--model', model], { env });
  assert.match(table.stdout, /0\.3/);
  assert.match(table.stdout, /policy/);
  assert.match(table.stdout, /prior/);
});

test('predict: JSON per input, errors per file, exit 1 when any input failed', async () => {
  const bad = await dir.write('notes.jpg', 'plain text');
  const red = set.rows.find((r) => r.genres.length === 1 && r.genres[0] === 'Action')!.path;
  const blue = set.rows.find((r) => r.genres.length === 1 && r.genres[0] === 'Drama')!.path;
  const result = await runCli(['predict', red, bad, blue, '--model', model, '--format', 'json', '--verbose'], { env });
  assert.equal(result.code, 1);
  const out = JSON.parse(result.stdout) as Array<{ input: string; genres: string[]; scores: Array<{ genre: string; score: number }>; error?: { code: string } }>;
  assert.equal(out.length, 3);
  assert.equal(out[0]!.input, red);
  assert.deepEqual(out[0]!.genres, ['Action']);
  assert.equal(out[0]!.scores.length, 3);
  assert.ok(out[0]!.scores[0]!.score >= out[0]!.scores[1]!.score, 'scores sorted high to low');
  assert.equal(out[1]!.error!.code, 'IMAGE_UNSUPPORTED');
  assert.deepEqual(out[2]!.genres, ['Drama']);
  assert.match(result.stderr, /notes\.jpg/);
});

test('predict formats: jsonl, csv with every genre, table; --output, --top-k, --threshold', async () => {
  const paths = set.rows.slice(0, 4).map((r) => r.path);
  const jsonl = await runCli(['predict', ...paths, '--model', model, '--format', 'jsonl'], { env });
  assert.equal(jsonl.code, 0, jsonl.stderr);
  assert.equal(jsonl.stdout.trim().split('\n').length, 4);
  const csvFile = dir.file('out.csv');
  const csv = await runCli(['predict', ...paths, '--model', model, '--format', 'csv', '--output', csvFile], { env });
  assert.equal(csv.code, 0);
  assert.equal(csv.stdout, '');
  const lines = (await readFile(csvFile, 'utf8')).trim().split('\n');
  assert.equal(lines[0], 'input,genres,error,Action,Comedy,Drama');
  assert.equal(lines.length, 5);
  const topOne = JSON.parse((await runCli(['predict', ...paths, '--model', model, '--threshold', '0', '--top-k', '1'], { env })).stdout);
  assert.ok(topOne.every((p: { genres: string[] }) => p.genres.length === 1), 'threshold 0 with top-k 1 keeps exactly one');
  const all = JSON.parse((await runCli(['predict', paths[0]!, '--model', model, '--threshold', '0'], { env })).stdout);
  assert.equal(all[0].genres.length, 3);
  const table = await runCli(['predict', paths[0]!, '--model', model, '--format', 'table'], { env });
  assert.match(table.stdout, /^poster\s+genres\s+top scores/);
});

test('the predict table and error lines escape control characters in file names', async () => {
  const odd = dir.file('evil\n\u001b[31mred.jpg');
  await copyFile(set.rows[0]!.path, odd);
  const missing = dir.file('gone\rname.jpg');
  const result = await runCli(['predict', odd, missing, '--model', model, '--format', 'table', '--quiet'], { env });
  assert.equal(result.code, 1);
  const lines = result.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 3, result.stdout);
  assert.ok(lines[1]!.startsWith(`${dir.path}/evil\\n\\x1b[31mred.jpg  `), lines[1]);
  assert.ok(lines[2]!.startsWith(`${dir.path}/gone\\rname.jpg  `), lines[2]);
  assert.ok(!/[\u0000-\u0009\u000b-\u001f]/.test(result.stdout + result.stderr), 'no raw control character but line ends');
  assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
  assert.match(result.stderr, /^error: .*gone\\rname\.jpg/);
});

test('--max-pixels and --max-bytes reach the decoder; the limit error names the option to raise', async () => {
  // --no-cache: a poster already in the embedding cache is not decoded again.
  const poster = set.rows[0]!.path;
  const small = await runCli(['predict', poster, '--model', model, '--no-cache', '--max-pixels', '100'], { env });
  assert.equal(small.code, 1);
  assert.equal(JSON.parse(small.stdout)[0].error.code, 'IMAGE_TOO_LARGE');
  assert.match(small.stderr, /exceeds the limit of 100 \(set maxPixels \/ --max-pixels to allow it\)/);
  const bytes = await runCli(['predict', poster, '--model', model, '--no-cache', '--max-bytes', '10'], { env });
  assert.equal(bytes.code, 1);
  assert.match(bytes.stderr, /exceeds the limit of 10 bytes \(set maxBytes \/ --max-bytes to allow it\)/);
  assert.equal((await runCli(['predict', poster, '--model', model, '--no-cache', '--max-pixels', '100000000'], { env })).code, 0);
  assert.equal((await runCli(['predict', poster, '--model', model, '--max-pixels', 'lots'], { env })).code, 2);
});

test('bad input for every model command is one clear line with the right exit code', async () => {
  const notBundle = dir.file('data');
  const cases: Array<[string[], number, RegExp]> = [
    [['predict', set.rows[0]!.path, '--model', notBundle], 1, /no model bundle here \(no manifest\.json\)/],
    [['predict', set.rows[0]!.path, '--model', model, '--format', 'xml'], 2, /Expected one of json, jsonl, csv, table for --format but received string "xml"$/],
    [['predict', set.rows[0]!.path, '--model', model, '--threshold', '2'], 2, /Expected number between 0 and 1 for --threshold but received number 2$/],
    [['predict', '--model', model], 2, /give poster files/],
    [['predict', set.rows[0]!.path, '--model', model, '--format', 'jsn'], 2, /for --format but received string "jsn"; did you mean "json"\?$/],
    [['train', '--data', set.csv, '--images', set.images, '--output', dir.file('m5'), '--head', 'mpl'], 2, /^posterscope: Expected one of linear, mlp for --head but received string "mpl"; did you mean "mlp"\?$/],
    [['train', '--data', set.csv, '--images', set.images], 2, /train needs --data FILE, --images DIR \(or text: title \/ plot columns, --metadata\) and --output DIR/],
    [['train', '--data', set.csv, '--images', set.images, '--output', dir.file('m2'), '--genres', 'Action,Western', '--backbone', rowFile], 2, /for genres but received string "Western"/],
    [['train', '--data', dir.file('nope.csv'), '--images', set.images, '--output', dir.file('m3'), '--backbone', rowFile], 1, /nope\.csv/],
    [['evaluate', '--model', model, '--split', 'dev'], 2, /Expected one of test, validation, all for --split but received string "dev"$/],
  ];
  const noColumns = await dir.write('no-genres.csv', 'Id,Title\ntt1,Alien\ntt2,Heat\n');
  cases.push([['train', '--data', noColumns, '--images', set.images, '--output', dir.file('m4'), '--backbone', rowFile], 1, /cannot find the genres/]);
  await mkdir(dir.file('broken'));
  await writeFile(dir.file('broken/manifest.json'), '{');
  cases.push([['predict', set.rows[0]!.path, '--model', dir.file('broken')], 1, /is not a posterscope model bundle: manifest\.json is not valid JSON/]);
  // A hand-edited manifest or split.json: one line naming the file and the field, never "Cannot read properties of undefined".
  const edited = dir.file('edited');
  await cp(model, edited, { recursive: true });
  const manifest = JSON.parse(await readFile(`${edited}/manifest.json`, 'utf8'));
  delete manifest.heads[0].standardize;
  await writeFile(`${edited}/manifest.json`, JSON.stringify(manifest));
  cases.push([['predict', set.rows[0]!.path, '--model', edited], 1, /manifest\.json field heads\[0\]\.standardize: /]);
  const resplit = dir.file('resplit');
  await cp(model, resplit, { recursive: true });
  await writeFile(`${resplit}/split.json`, '{"train": [{"id": 1}]}\n');
  cases.push([['evaluate', '--model', resplit], 1, /split\.json does not match its checksum in manifest\.json/]);
  for (const [args, code, message] of cases) {
    const result = await runCli(args, { env });
    assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr.trimEnd(), message, args.join(' '));
    assert.equal(result.stderr.trim().split('\n').length, 1, `${args.join(' ')} printed: ${result.stderr}`);
  }
});
