/**
 * `posterscope report` and the report.html `train` writes, through the built
 * CLI on generated posters and a tiny generated backbone.
 */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { getBackboneSpec } from '../../src/backbone/registry.js';
import { runCli } from '../helpers/cli.js';
import { type TempDir, makeTempDir } from '../helpers/images.js';
import { tinyBackbone } from '../helpers/onnx-models.js';
import { type PosterSet, makePosterSet } from '../helpers/posters.js';

let dir: TempDir;
let set: PosterSet;
let env: NodeJS.ProcessEnv;
let model: string;
let trainArgs: string[];

before(async () => {
  dir = await makeTempDir('posterscope-report-e2e-');
  const base = getBackboneSpec('mobilenetv2');
  const { row } = await tinyBackbone(dir.path, { ...base, id: 'tiny', feature: { ...base.feature, dim: 8 } });
  const rowFile = await dir.write('tiny.json', JSON.stringify(row));
  env = { POSTERSCOPE_CACHE: dir.file('cache'), POSTERSCOPE_MIRROR: dir.path, POSTERSCOPE_OFFLINE: '1' };
  set = await makePosterSet(dir.file('data'), 90);
  model = dir.file('model');
  trainArgs = ['train', '--data', set.csv, '--images', set.images, '--output', model, '--backbone', rowFile, '--views', 'full', '--train-views', '', '--learning-rate', '0.05', '--epochs', '5'];
  const trained = await runCli(trainArgs, { env });
  assert.equal(trained.code, 0, trained.stderr);
});

after(() => dir.remove());

const madeAt = (html: string) => /model made ([^ ]+) ·/.exec(html)?.[1];

test('train writes report.html into the bundle, and a retrain swaps in a report of the new model', async () => {
  const first = await readFile(`${model}/report.html`, 'utf8');
  const manifest = JSON.parse(await readFile(`${model}/manifest.json`, 'utf8'));
  assert.equal(madeAt(first), manifest.createdAt);
  assert.match(first, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'sha256-/);
  assert.match(first, /data-chart="sweep"/);
  // Training again over the same folder: the report inside is the new model's, never the old one carried over.
  const again = await runCli(trainArgs, { env });
  assert.equal(again.code, 0, again.stderr);
  const second = await readFile(`${model}/report.html`, 'utf8');
  const newer = JSON.parse(await readFile(`${model}/manifest.json`, 'utf8'));
  assert.notEqual(newer.createdAt, manifest.createdAt);
  assert.equal(madeAt(second), newer.createdAt);
  assert.deepEqual((await readdir(dir.path)).filter((name) => name.startsWith('.model')), [], 'no staging or previous folder left');
});

test('report writes the page and, with --json, prints the numbers it drew on stdout', async () => {
  const out = dir.file('page.html');
  const result = await runCli(['report', '--model', model, '--out', out, '--json'], { env });
  assert.equal(result.code, 0, result.stderr);
  const numbers = JSON.parse(result.stdout);
  assert.match(result.stderr, /^wrote .*page\.html \(\d\.\d\d MB, [\d.]+ s\): .* \(test: \d+ posters\); micro-F1 \d\.\d{3}, mAP \d\.\d{3} \(prior /m);
  for (const key of ['sweep', 'curves', 'genreBaselines', 'confusion', 'calibration', 'balance', 'mistakes', 'history', 'bestEpoch']) assert.ok(key in numbers.charts, key);
  // The class balance of the bundle's own data comes per split, and adds up to the split's sizes' labels.
  assert.deepEqual(Object.keys(numbers.charts.balance), ['train', 'validation', 'test']);
  const testCounts = numbers.charts.balance.test as number[];
  assert.deepEqual(testCounts, numbers.perGenre.map((g: { support: number }) => g.support));
  assert.equal(numbers.charts.confusion.predictedInstead.length, numbers.perGenre.length);
  const page = await readFile(out, 'utf8');
  assert.match(page, /<h1>posterscope report<\/h1>/);
  assert.ok(page.includes(`micro-F1 ${numbers.microF1.toFixed(3)}`) || page.includes(`<b>${numbers.microF1.toFixed(3)}</b>`));
  // Without --json, one summary line on stdout.
  const plain = await runCli(['report', '--model', model, '--out', out, '--quiet'], { env });
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(plain.stdout.trim().split('\n').length, 1);
});

test('bad report invocations get one line each', async () => {
  const cases: Array<[string[], number, RegExp]> = [
    [['report', '--model', model, '--data', set.csv], 2, /--data needs --images DIR/],
    [['report', '--model', model, '--split', 'dev'], 2, /Expected one of test, validation, all for --split but received string "dev"$/],
    [['report', '--model', dir.file('nope')], 1, /nope/],
    [['report', '--model', model, '--out', `${set.csv}/page.html`], 2, /^posterscope: cannot write the report to .*labels\.csv\/page\.html \((EEXIST|ENOTDIR)\)$/],
  ];
  for (const [args, code, message] of cases) {
    const result = await runCli(args, { env });
    assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr.trimEnd(), message, args.join(' '));
    assert.equal(result.stderr.trim().split('\n').length, 1, `${args.join(' ')} printed: ${result.stderr}`);
  }
});
