/**
 * Title and plot through the built CLI: train with --metadata (poster + title
 * + plot) and a text-only model, predict with --title / --plot with and without
 * a poster, evaluate's modality table; on generated posters, a tiny generated
 * backbone and generated titles and plots whose words carry the genre.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { getBackboneSpec } from '../../src/backbone/registry.js';
import { Random } from '../../src/random.js';
import { runCli } from '../helpers/cli.js';
import { type TempDir, makeTempDir } from '../helpers/images.js';
import { tinyBackbone } from '../helpers/onnx-models.js';
import { type PosterSet, makePosterSet } from '../helpers/posters.js';

const WORDS = {
  Action: ['explosion', 'fight', 'chase', 'guns', 'mission'],
  Comedy: ['laugh', 'funny', 'wedding', 'prank', 'party'],
  Drama: ['family', 'grief', 'letter', 'struggle', 'memory'],
} as const;

let dir: TempDir;
let set: PosterSet;
let env: NodeJS.ProcessEnv;
let model: string;
let textModel: string;

function sentence(genres: readonly string[], random: Random, n: number): string {
  const words: string[] = [];
  for (let i = 0; i < n; i++) {
    const pool = WORDS[genres[i % genres.length] as keyof typeof WORDS];
    words.push(pool[Math.floor(random.next() * pool.length)]!);
  }
  return words.join(' ');
}

before(async () => {
  dir = await makeTempDir('posterscope-text-e2e-');
  const base = getBackboneSpec('mobilenetv2');
  const { row } = await tinyBackbone(dir.path, { ...base, id: 'tiny', feature: { ...base.feature, dim: 8 } });
  const rowFile = await dir.write('tiny.json', JSON.stringify(row));
  env = { POSTERSCOPE_CACHE: dir.file('cache'), POSTERSCOPE_MIRROR: dir.path, POSTERSCOPE_OFFLINE: '1' };
  set = await makePosterSet(dir.file('data'), 90);
  const random = new Random(3);
  // Every row has a title, two in three a plot (a missing plot is normal); 5 metadata ids match no poster.
  const meta = set.rows.map((r, i) => `${r.id},The ${sentence(r.genres, random, 2)},${1980 + (i % 30)},${i % 3 === 2 ? '' : `"A ${sentence(r.genres, random, 8)}."`}`);
  for (let i = 0; i < 5; i++) meta.push(`tt9${i},Nobody,2000,`);
  const metadata = await dir.write('metadata.csv', `Id,Title,Year,Plot\n${meta.join('\n')}\n`);
  model = dir.file('model');
  const trained = await runCli(
    ['train', '--data', set.csv, '--metadata', metadata, '--images', set.images, '--output', model, '--backbone', rowFile, '--views', 'full', '--learning-rate', '0.05', '--quiet'],
    { env },
  );
  assert.equal(trained.code, 0, trained.stderr);
  assert.match(trained.stderr, /text \(.*metadata\.csv\): 90 with a title, 60 with a plot, 60 both, 0 neither; 5 of 95 metadata ids match no row/);
  assert.match(trained.stderr, /inputs: image, title, plot/);
  // A text-only data set: Title, Genre (comma-separated), Description; no id column, no posters.
  const text = set.rows.map((r, i) => `${i + 1},The ${sentence(r.genres, random, 2)},"${r.genres.join(',')}","${i % 4 === 3 ? '' : `A ${sentence(r.genres, random, 8)}.`}"`);
  const textCsv = await dir.write('movies.csv', `Rank,Title,Genre,Description\n${text.join('\n')}\n`);
  textModel = dir.file('text-model');
  const textTrained = await runCli(['train', '--data', textCsv, '--output', textModel, '--genres-column', 'Genre', '--quiet'], { env });
  assert.equal(textTrained.code, 0, textTrained.stderr);
});

after(() => dir.remove());

test('the bundle records its inputs, text encoders and fusion', async () => {
  const manifest = JSON.parse(await readFile(`${model}/manifest.json`, 'utf8'));
  assert.equal(manifest.formatVersion, 3);
  assert.deepEqual(manifest.inputs.accepts, ['image', 'title', 'plot']);
  assert.equal(manifest.inputs.tunedOn.length, 7, 'every non-empty subset of three inputs');
  assert.deepEqual(manifest.heads.map((h: { input: string }) => h.input), ['image', 'title', 'plot']);
  assert.equal(manifest.heads[1].encoder.row.id, 'tfidf-large');
  assert.equal(manifest.fusion.type, 'sum');
  const textManifest = JSON.parse(await readFile(`${textModel}/manifest.json`, 'utf8'));
  assert.deepEqual(textManifest.inputs.accepts, ['title', 'plot']);
  assert.equal(textManifest.backbone, undefined, 'a text-only model has no backbone');
});

test('predict poster.jpg --title --plot uses all three; --title --plot with no poster uses the text', async () => {
  const comedy = set.rows.find((r) => r.genres.length === 1 && r.genres[0] === 'Comedy')!;
  const all = await runCli(['predict', comedy.path, '--model', model, '--title', 'Prank Party (1999)', '--plot', 'A funny wedding with laugh after laugh.', '--format', 'json'], { env });
  assert.equal(all.code, 0, all.stderr);
  const [withPoster] = JSON.parse(all.stdout);
  assert.deepEqual(withPoster.inputs, ['image', 'title', 'plot']);
  assert.equal(withPoster.input, comedy.path);
  assert.equal(withPoster.scores[0].genre, 'Comedy');

  const text = await runCli(['predict', '--model', model, '--title', 'Guns Chase', '--plot', 'An explosion, a fight, a mission.', '--format', 'json'], { env });
  assert.equal(text.code, 0, text.stderr);
  const [textOnly] = JSON.parse(text.stdout);
  assert.deepEqual(textOnly.inputs, ['title', 'plot']);
  assert.equal(textOnly.input, 'Guns Chase');
  assert.equal(textOnly.scores[0].genre, 'Action');

  // Text alone needs no backbone file: none in the cache, no mirror, offline.
  const { POSTERSCOPE_MIRROR: _mirror, ...noBackbone } = env;
  const bare = await runCli(['predict', '--model', model, '--title', 'Guns Chase', '--plot', 'An explosion, a fight, a mission.', '--format', 'json'], {
    env: { ...noBackbone, POSTERSCOPE_CACHE: dir.file('empty-cache'), POSTERSCOPE_OFFLINE: '1' },
  });
  assert.equal(bare.code, 0, bare.stderr);
  assert.deepEqual(JSON.parse(bare.stdout)[0].scores, textOnly.scores);

  const textModelRun = await runCli(['predict', '--model', textModel, '--plot', 'family grief and a letter', '--format', 'json'], { env });
  assert.equal(textModelRun.code, 0, textModelRun.stderr);
  assert.deepEqual(JSON.parse(textModelRun.stdout)[0].inputs, ['plot']);
  assert.equal(JSON.parse(textModelRun.stdout)[0].scores[0].genre, 'Drama');
});

test('BAD INPUT - a poster for a text-only model, --title with two posters, unknown words: one-line errors', async () => {
  const [a, b] = set.rows;
  const poster = await runCli(['predict', a!.path, '--model', textModel, '--format', 'json'], { env });
  assert.equal(poster.code, 1);
  const [failed] = JSON.parse(poster.stdout);
  assert.equal(failed.error.code, 'INVALID_ARGUMENT');
  assert.match(poster.stderr, /nothing to predict from: image given, but the model reads title, plot\n$/);
  const two = await runCli(['predict', a!.path, b!.path, '--model', model, '--title', 'X'], { env });
  assert.equal(two.code, 2);
  assert.match(two.stderr, /^posterscope: --title and --plot describe one movie/);
  assert.equal(two.stderr.trim().split('\n').length, 1);
  const unknown = await runCli(['predict', '--model', textModel, '--title', 'zzzz qqqq', '--format', 'json'], { env });
  assert.equal(unknown.code, 1);
  assert.match(JSON.parse(unknown.stdout)[0].error.message, /no word of the text is in its vocabulary/);
});

test('evaluate prints the modality table on the same rows and on rows with a plot; JSON has modalities', async () => {
  const table = await runCli(['evaluate', '--model', model], { env });
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /by inputs, on the same \d+ rows/);
  for (const row of ['image only', 'title only', 'plot only', 'title \\+ plot', 'image \\+ title', 'all inputs', 'prior baseline']) assert.match(table.stdout, new RegExp(`\\n${row} +\\d\\.\\d{3}`));
  assert.match(table.stdout, /by inputs, on the \d+ rows with a plot/);
  const json = await runCli(['evaluate', '--model', model, '--json', '-'], { env });
  const report = JSON.parse(json.stdout);
  assert.deepEqual(Object.keys(report.modalities), ['image', 'title', 'plot', 'text', 'imageTitle', 'all']);
  assert.equal(report.microF1, report.modalities.all.microF1, 'the top-level keys are the full-input result');
  for (const m of Object.values(report.modalities) as Array<{ rows: number; microF1: number; mAP: number }>) {
    assert.equal(m.rows, report.rows);
    assert.ok(m.microF1 >= 0 && m.microF1 <= 1 && m.mAP >= 0);
  }
  const text = await runCli(['evaluate', '--model', textModel, '--json', '-'], { env });
  assert.equal(text.code, 0, text.stderr);
  assert.deepEqual(Object.keys(JSON.parse(text.stdout).modalities), ['title', 'plot', 'text', 'all']);
});

test('--fusion concat trains an MLP over the concatenated features; predict and evaluate use it', async () => {
  const output = dir.file('concat-model');
  const manifest0 = JSON.parse(await readFile(`${model}/manifest.json`, 'utf8'));
  const trained = await runCli(
    ['train', '--data', set.csv, '--metadata', dir.file('metadata.csv'), '--images', set.images, '--output', output, '--backbone', dir.file('tiny.json'), '--views', 'full', '--learning-rate', '0.05', '--fusion', 'concat', '--quiet'],
    { env },
  );
  assert.equal(trained.code, 0, trained.stderr);
  assert.match(trained.stderr, /concat: \d+ samples .* x \d+ features, MLP 64 hidden/);
  const manifest = JSON.parse(await readFile(`${output}/manifest.json`, 'utf8'));
  assert.equal(manifest.fusion.type, 'concat');
  assert.deepEqual(manifest.fusion.inputs, ['image', 'title', 'plot']);
  assert.deepEqual(manifest.split, manifest0.split, 'the same split as the sum model');
  const text = await runCli(['predict', '--model', output, '--title', 'Guns Chase', '--plot', 'An explosion, a fight, a mission.', '--format', 'json'], { env });
  assert.equal(text.code, 0, text.stderr);
  assert.deepEqual(JSON.parse(text.stdout)[0].inputs, ['title', 'plot']);
  const report = await runCli(['evaluate', '--model', output, '--json', '-'], { env });
  assert.equal(report.code, 0, report.stderr);
  assert.ok(JSON.parse(report.stdout).modalities.all.microF1 > 0.5);
});

test('BAD USAGE - an unknown --fusion or --inputs value lists the valid ones', async () => {
  const fusion = await runCli(['train', '--data', set.csv, '--images', set.images, '--output', dir.file('x'), '--fusion', 'product'], { env });
  assert.equal(fusion.code, 2);
  assert.match(fusion.stderr, /Expected one of sum, concat for --fusion but received string "product"/);
  const inputs = await runCli(['train', '--data', set.csv, '--images', set.images, '--output', dir.file('x'), '--inputs', 'image,sound'], { env });
  assert.equal(inputs.code, 2);
  assert.match(inputs.stderr, /Expected one of image, title, plot for --inputs but received string "sound"/);
});

test('predict --read-text: a poster without a title gets the text read on it as its title', async () => {
  const { renderTextPoster } = await import('../helpers/text-posters.js');
  const poster = await renderTextPoster(1);
  const file = await dir.write('with-text.png', poster.png);
  const plain = await runCli(['predict', file, '--model', model, '--format', 'json'], { env });
  assert.equal(plain.code, 0, plain.stderr);
  assert.deepEqual(JSON.parse(plain.stdout)[0].inputs, ['image']);
  const read = await runCli(['predict', file, '--model', model, '--read-text', '--format', 'json'], { env });
  assert.equal(read.code, 0, read.stderr);
  assert.deepEqual(JSON.parse(read.stdout)[0].inputs, ['image', 'title']);
  // A title given wins over the read text.
  const given = await runCli(['predict', file, '--model', model, '--read-text', '--plot', 'a funny party', '--format', 'json'], { env });
  assert.deepEqual(JSON.parse(given.stdout)[0].inputs, ['image', 'title', 'plot']);
});
