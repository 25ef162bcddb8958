/**
 * One table reader for every command: a table `title,imdbId,Genre` whose
 * posters are named `<id>.JPG` is read the same way by embed --data, audit,
 * train, evaluate --data and predict --data (built CLI, tiny backbone).
 */
import assert from 'node:assert/strict';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { getBackboneSpec } from '../../src/backbone/registry.js';
import { runCli } from '../helpers/cli.js';
import { type TempDir, makeTempDir } from '../helpers/images.js';
import { tinyBackbone } from '../helpers/onnx-models.js';
import { type PosterSet, makePosterSet } from '../helpers/posters.js';

let dir: TempDir;
let set: PosterSet;
let rowFile: string;
let env: NodeJS.ProcessEnv;
let table: string;
const COUNT = 60;

before(async () => {
  dir = await makeTempDir('posterscope-e2e-table-');
  const base = getBackboneSpec('mobilenetv2');
  const { row } = await tinyBackbone(dir.path, { ...base, id: 'tiny', feature: { ...base.feature, dim: 8 } });
  rowFile = await dir.write('tiny.json', JSON.stringify(row));
  env = { POSTERSCOPE_CACHE: dir.file('cache'), POSTERSCOPE_MIRROR: dir.path, POSTERSCOPE_OFFLINE: '1' };
  set = await makePosterSet(dir.file('data'), COUNT);
  // Posters as a camera or an old Windows tool names them: upper-case extension.
  for (const r of set.rows) await rename(r.path, r.path.replace(/\.jpg$/, '.JPG'));
  const lines = set.rows.map((r, i) => `"Movie ${i}, the sequel",${r.id},${r.genres.join('|')}`);
  table = await dir.write('movies.csv', `title,imdbId,Genre\n${lines.join('\n')}\n`);
});

after(() => dir.remove());

test('embed --data finds every poster by the imdbId column, whatever the case of the extension', async () => {
  const result = await runCli(['embed', '--data', table, '--images', set.images, '--backbone', rowFile, '--views', 'full', '--json', '--quiet'], { env });
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout);
  assert.deepEqual([report.posters, report.embedded, report.failed], [COUNT, COUNT, 0]);
});

test('audit finds the same posters: none missing, none unlabelled', async () => {
  const result = await runCli(['audit', '--data', table, '--images', set.images, '--json', '--quiet', '--fail-on', 'missing,unlabelled,malformed'], { env });
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout);
  assert.deepEqual([report.rows, report.checked, report.findings.missing, report.findings.unlabelled], [COUNT, COUNT, 0, 0]);
});

test('train, evaluate --data and predict --data read the table the same way', async () => {
  const model = dir.file('model');
  const trained = await runCli(
    ['train', '--data', table, '--images', set.images, '--output', model, '--backbone', rowFile, '--views', 'full', '--train-views', '', '--learning-rate', '0.05', '--quiet'],
    { env },
  );
  assert.equal(trained.code, 0, trained.stderr);
  assert.match(trained.stderr, new RegExp(`movies\\.csv: ${COUNT} rows \\(genre lists\\)\\nimages: ${COUNT} found, 0 missing`));
  const split = JSON.parse(await readFile(`${model}/split.json`, 'utf8'));
  assert.equal(split.train.length + split.validation.length + split.test.length, COUNT);

  const evaluated = await runCli(['evaluate', '--model', model, '--data', table, '--images', set.images, '--split', 'all', '--json', '-', '--quiet'], { env });
  assert.equal(evaluated.code, 0, evaluated.stderr);
  assert.match(evaluated.stderr, new RegExp(`\\(all: ${COUNT} posters\\)`));
  assert.equal((JSON.parse(evaluated.stdout) as { rows: number }).rows, COUNT);

  // An id-only list (no genres), with one row whose poster is not there.
  const ids = await dir.write('ids.csv', `title,imdbId\nFirst,${set.rows[0]!.id}\nSecond,${set.rows[1]!.id}\nLost,tt9999999\n`);
  const predicted = await runCli(['predict', '--model', model, '--data', ids, '--images', set.images, '--format', 'json', '--quiet'], { env });
  assert.equal(predicted.code, 1, 'a row without a poster fails the run');
  const out = JSON.parse(predicted.stdout) as Array<{ input: string; genres: string[]; error?: { code: string; message: string } }>;
  assert.deepEqual(
    out.map((p) => [p.input, p.error?.code ?? 'ok']),
    [
      [set.rows[0]!.path.replace(/\.jpg$/, '.JPG'), 'ok'],
      [set.rows[1]!.path.replace(/\.jpg$/, '.JPG'), 'ok'],
      ['tt9999999', 'IMAGE_NOT_FOUND'],
    ],
  );
  // The training table's title column gave the model a title head: the row was tried by its title "Lost" first.
  assert.equal(predicted.stderr, `error: tt9999999: no image in ${set.images} (${ids} line 4), and its text has no word the model knows\n`);
});

test('embed --data reports rows without a poster and malformed rows, one line each, exit 1', async () => {
  const list = await dir.write('partial.csv', `imdbId,title\n${set.rows[0]!.id},One\ntt0000000,Gone\n,Nameless\n`);
  const result = await runCli(['embed', '--data', list, '--images', set.images, '--backbone', rowFile, '--views', 'full', '--json', '--quiet'], { env });
  assert.equal(result.code, 1);
  const report = JSON.parse(result.stdout);
  assert.deepEqual([report.posters, report.failed], [1, 2]);
  assert.equal(
    result.stderr,
    `error: 1 row of ${list} has no image in ${set.images} (e.g. tt0000000 (line 3))\n` + `error: ${list} line 4: empty id (column "imdbId")\n`,
  );
  const usage = await runCli(['embed', '--data', list, '--backbone', rowFile], { env });
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--data needs --images DIR/);
  await writeFile(dir.file('dup.csv'), 'id,id\ntt1,tt2\n');
  const duplicate = await runCli(['embed', '--data', dir.file('dup.csv'), '--images', set.images, '--backbone', rowFile], { env });
  assert.equal(duplicate.code, 1);
  assert.equal(duplicate.stderr, `posterscope: ${dir.file('dup.csv')}: columns 0 and 1 are both named "id": rename one\n`);
});
