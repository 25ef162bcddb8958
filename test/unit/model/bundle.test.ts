import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { getBackboneSpec, type BackboneSpec } from '../../../src/backbone/registry.js';
import { type BundleContents, type SplitRecord, readBundle, readSplit, upgradeBundle, writeBundle } from '../../../src/model/bundle.js';
import { type HeadSpec, headScores, standardize } from '../../../src/model/head.js';
import { loadModel } from '../../../src/model/model.js';
import { Random } from '../../../src/random.js';
import { GenreHead } from '../../../src/train/head.js';
import { fitStandardizer } from '../../../src/train/standardize.js';
import { ROOT } from '../../helpers/cli.js';
import { type TempDir, makeTempDir } from '../../helpers/images.js';
import { tinyBackbone } from '../../helpers/onnx-models.js';

let dir: TempDir;
let row: BackboneSpec;
let backboneSha: string;
const genres = ['Action', 'Comedy', 'Drama', 'Horror'];
const split: SplitRecord = {
  seed: 0,
  fractions: [0.8, 0.1, 0.1],
  data: 'labels.csv',
  train: [{ id: 'tt1', hash: 'a'.repeat(64) }],
  validation: [{ id: 'tt2', hash: 'b'.repeat(64) }],
  test: [{ id: 'tt3', hash: 'c'.repeat(64) }],
};
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

before(async () => {
  dir = await makeTempDir('posterscope-bundle-');
  const base = getBackboneSpec('mobilenetv2');
  const tiny = await tinyBackbone(dir.path, { ...base, id: 'tiny', feature: { ...base.feature, dim: 6 } });
  row = tiny.row;
  backboneSha = row.file.sha256!;
});

after(() => dir.remove());

function makeContents(spec: HeadSpec, seed = 3): { contents: BundleContents; x: Float32Array; expected: Float32Array } {
  const random = new Random(seed);
  const x = Float32Array.from({ length: 20 * 6 }, () => random.normal() * 3 + 1);
  const standardizer = fitStandardizer(x, 20);
  const head = GenreHead.create(spec, 6, genres.length, random);
  const contents: BundleContents = {
    createdAt: new Date(0).toISOString(),
    posterscopeVersion: 'test',
    backbone: { id: row.id, sha256: backboneSha, spec: row },
    views: ['full'],
    genres,
    heads: [{ input: 'image', standardizer, spec, layers: head.layers }],
    thresholds: { global: 0.5 },
  };
  return { contents, x, expected: headScores(head, standardize(standardizer, x), 20) };
}

async function writeTestBundle(path: string, spec: HeadSpec = { type: 'linear' }) {
  const made = makeContents(spec);
  await writeBundle(path, made.contents, split);
  return made;
}

const json = async (path: string) => JSON.parse(await readFile(path, 'utf8'));
const editManifest = async (path: string, edit: (manifest: any) => void) => {
  const manifest = await json(`${path}/manifest.json`);
  edit(manifest);
  await writeFile(`${path}/manifest.json`, JSON.stringify(manifest));
};

for (const spec of [{ type: 'linear' }, { type: 'mlp', hidden: 5, dropout: 0.3 }] as const) {
  test(`a ${spec.type} bundle round-trips: save, load, identical probabilities to 5 decimals`, async () => {
    const path = dir.file(`bundle-${spec.type}`);
    const { contents, x, expected } = await writeTestBundle(path, spec);
    const bundle = await readBundle(path);
    assert.deepEqual(bundle.heads[0]!.layers.map((l) => Array.from(l.weight)), contents.heads[0]!.layers.map((l) => Array.from(l.weight)), 'tensors come back bit for bit');
    assert.equal(bundle.manifest.formatVersion, 3);
    const model = await loadModel(path, { mirrors: [dir.path], cacheDir: dir.file('cache'), offline: true });
    const scores = model.score(x, 20);
    assert.deepEqual(Array.from(scores, (v) => v.toFixed(5)), Array.from(expected, (v) => v.toFixed(5)));
    assert.deepEqual(model.genres, genres);
    await model.release();
  });
}

test('BAD CALL - a corrupted or hand-edited bundle is refused with the reason', async () => {
  const path = dir.file('bundle-bad');
  await writeTestBundle(path);
  const weights = await readFile(`${path}/weights.bin`);
  weights[0]! ^= 1;
  await writeFile(`${path}/weights.bin`, weights);
  await assert.rejects(readBundle(path), /weights\.bin does not match its checksum/);
  await writeTestBundle(path);
  const manifest = await json(`${path}/manifest.json`);
  await writeFile(`${path}/manifest.json`, JSON.stringify({ ...manifest, genres: ['Action'] }));
  await assert.rejects(readBundle(path), /head outputs do not match the genre list/);
  await writeFile(`${path}/manifest.json`, JSON.stringify({ ...manifest, formatVersion: 99 }));
  await assert.rejects(readBundle(path), /format version 99 is newer/);
  await assert.rejects(readBundle(dir.file('nowhere')), { code: 'MODEL_NOT_FOUND' });
  await assert.rejects(readBundle(`${path}/weights.bin`), /expected a bundle directory|no manifest/);
});

test('BAD CALL - a manifest or split.json that breaks its schema names the file and the field', async () => {
  const path = dir.file('bundle-schema');
  const cases: Array<[(m: any) => void, RegExp]> = [
    [(m) => delete m.heads[0].layers[0].weight, /manifest\.json field heads\[0\]\.layers\[0\]\.weight: /],
    [(m) => (m.thresholds.global = 'high'), /manifest\.json field thresholds\.global: .*number/],
    [(m) => (m.thresholds.perGenre = [0.2, null, 2, 0.1]), /manifest\.json field thresholds\.perGenre\[2\]: /],
    [(m) => (m.heads[0].spec = { type: 'transformer' }), /manifest\.json field heads\[0\]\.spec\.type: /],
    [(m) => (m.genres = []), /manifest\.json field genres: /],
    [(m) => delete m.weights, /manifest\.json field weights: /],
    [(m) => (m.backbone.spec.input.layout = 'CHW'), /manifest\.json field backbone\.spec: backbone row needs "input" with "name" and "layout"/],
    [(m) => (m.heads[0].layers[0].bias.offset = 1e6), /manifest\.json field heads\[0\]\.layers\[0\]\.bias lies outside weights\.bin/],
    [(m) => (m.format = 'pickle'), /manifest\.json has format "pickle"/],
  ];
  for (const [edit, message] of cases) {
    await writeTestBundle(path);
    await editManifest(path, edit);
    await assert.rejects(readBundle(path), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'MODEL_INVALID');
      assert.match(e.message, message);
      assert.match(e.message, new RegExp(`^${path.replaceAll('/', '\\/')} is not a posterscope model bundle: `));
      assert.equal(e.message.split('\n').length, 1);
      return true;
    });
  }
  await writeTestBundle(path);
  const bundle = await readBundle(path);
  await writeFile(`${path}/split.json`, JSON.stringify({ ...split, test: [{ id: 3 }] }));
  await assert.rejects(readSplit(bundle), /split\.json does not match its checksum in manifest\.json/);
  // Without a recorded checksum (a format 1 bundle), the schema still catches it.
  await assert.rejects(readSplit({ ...bundle, manifest: { ...bundle.manifest, split: undefined } }), /split\.json field test\[0\]\.id: /);
});

test('split.json is tied to its manifest: read back checked, a split from another bundle refused', async () => {
  const a = dir.file('bundle-split-a');
  const b = dir.file('bundle-split-b');
  await writeTestBundle(a);
  await writeBundle(b, makeContents({ type: 'linear' }).contents, { ...split, seed: 1 });
  const bundle = await readBundle(a);
  assert.match(bundle.manifest.split!.sha256, /^[0-9a-f]{64}$/);
  assert.deepEqual(await readSplit(bundle), split);
  await writeFile(`${a}/split.json`, await readFile(`${b}/split.json`));
  await assert.rejects(readSplit(bundle), { code: 'MODEL_INVALID', message: /split\.json does not match its checksum/ });
  await rename(`${a}/split.json`, `${a}/split.moved`);
  await assert.rejects(readSplit(bundle), /split\.json is missing/);
});

test('a format 1 bundle (one head, no split checksum) still loads, and upgradeBundle rewrites it in place', async () => {
  const path = dir.file('bundle-v1');
  const { x, expected } = await writeTestBundle(path, { type: 'mlp', hidden: 5, dropout: 0.3 });
  const weights = await readFile(`${path}/weights.bin`);
  await editManifest(path, (m) => {
    const [head] = m.heads;
    delete m.heads;
    delete m.split;
    Object.assign(m, { formatVersion: 1, standardize: head.standardize, head: { spec: head.spec, layers: head.layers } });
  });
  const v1 = await readBundle(path);
  assert.equal(v1.manifest.split, undefined);
  const model = await loadModel(path, { mirrors: [dir.path], cacheDir: dir.file('cache'), offline: true });
  assert.deepEqual(Array.from(model.score(x, 20), (v) => v.toFixed(5)), Array.from(expected, (v) => v.toFixed(5)));
  await model.release();

  const upgraded = await upgradeBundle(path);
  assert.equal(upgraded.formatVersion, 3);
  assert.equal(upgraded.split!.sha256, sha256(await readFile(`${path}/split.json`)));
  assert.deepEqual(await readFile(`${path}/weights.bin`), weights, 'weights untouched');
  const text = await readFile(`${path}/manifest.json`, 'utf8');
  await upgradeBundle(path);
  assert.equal(await readFile(`${path}/manifest.json`, 'utf8'), text, 'upgrading again changes nothing');
  assert.deepEqual((await readBundle(path)).heads[0]!.standardizer, v1.heads[0]!.standardizer);
});

test('the committed default model is format 3 (poster, title, plot) with its split tied by checksum, weights as trained', async () => {
  const bundle = await readBundle(join(ROOT, 'models', 'default'));
  assert.equal(bundle.manifest.formatVersion, 3);
  assert.deepEqual(bundle.manifest.inputs.accepts, ['image', 'title', 'plot']);
  // The weights trained for the model card (all inputs micro-F1 0.601, mAP 0.447), under 10 MB.
  assert.equal(sha256(await readFile(join(ROOT, 'models', 'default', 'weights.bin'))), 'a6403154989c5a5e7b3802a022b8253e3f02723e37904b4e3118840f1d0cc1c5');
  assert.ok(bundle.manifest.weights.bytes <= 10_000_000);
  const record = await readSplit(bundle);
  assert.deepEqual([record!.train.length, record!.validation.length, record!.test.length], [4787, 592, 609]);
});

test('overwriting a bundle swaps it whole and keeps files a user put beside it; a folder of other files is refused', async () => {
  const path = dir.file('bundle-overwrite');
  await writeTestBundle(path);
  await writeFile(`${path}/NOTES.md`, 'trained for the archive\n');
  const second = makeContents({ type: 'mlp', hidden: 3, dropout: 0 }, 9);
  await writeBundle(path, second.contents);
  const bundle = await readBundle(path);
  assert.equal(bundle.heads[0]!.spec.type, 'mlp');
  assert.equal(await readFile(`${path}/NOTES.md`, 'utf8'), 'trained for the archive\n');
  assert.deepEqual((await readdir(dir.path)).filter((f) => f.startsWith('.bundle-overwrite')), [], 'no staging or previous directory left');

  const posters = dir.file('posters');
  await mkdir(posters);
  await writeFile(`${posters}/a.jpg`, 'not really');
  await assert.rejects(writeBundle(posters, second.contents), { code: 'INVALID_ARGUMENT', message: /holds other files and no model bundle/ });
  assert.deepEqual(await readdir(posters), ['a.jpg']);
  // Heads that do not fit the genres are refused before anything is written.
  await assert.rejects(writeBundle(path, { ...second.contents, genres: ['Action'] }), { code: 'INVALID_ARGUMENT', message: /head outputs do not match the genre list/ });
  assert.equal((await readBundle(path)).heads[0]!.spec.type, 'mlp');
});

test('a swap interrupted between its two renames: the old bundle is still read, and the next write recovers', async () => {
  const path = dir.file('bundle-interrupted');
  const previous = dir.file('.bundle-interrupted.previous');
  const first = await writeTestBundle(path);
  // The state a kill right after "move the old bundle aside" leaves.
  await rename(path, previous);
  const read = await readBundle(path);
  assert.equal(read.path, path);
  assert.deepEqual(Array.from(read.heads[0]!.layers[0]!.weight), Array.from(first.contents.heads[0]!.layers[0]!.weight));
  assert.deepEqual(await readSplit(read), split);
  const second = makeContents({ type: 'linear' }, 11);
  await writeBundle(path, second.contents);
  assert.deepEqual(Array.from((await readBundle(path)).heads[0]!.layers[0]!.weight), Array.from(second.contents.heads[0]!.layers[0]!.weight));
  assert.deepEqual((await readdir(dir.path)).filter((f) => f.startsWith('.bundle-interrupted')), []);
});

test('kill -9 while a bundle is being overwritten leaves the old or the new bundle, never neither', async () => {
  // A child process overwrites one bundle again and again with two different ones (2 MB of weights each).
  const path = dir.file('bundle-killed');
  const script = await dir.write(
    'overwrite.mts',
    `import { writeBundle } from ${JSON.stringify(join(ROOT, 'src/model/bundle.ts'))};
const contents = JSON.parse(process.argv[2]);
const big = (seed) => Float32Array.from({ length: 512 * 1024 }, (_, i) => Math.sin(i * seed));
for (let i = 0; ; i++) {
  const weight = big(1 + (i % 2));
  await writeBundle(process.argv[3], { ...contents, heads: [{ input: 'image', spec: { type: 'linear' }, standardizer: { mean: new Float32Array(weight.length / 4), scale: new Float32Array(weight.length / 4) }, layers: [{ inputs: weight.length / 4, outputs: 4, weight, bias: new Float32Array(4) }] }] });
  if (i === 1) process.stdout.write('ready\\n');
}
`,
  );
  const { contents } = makeContents({ type: 'linear' });
  const plain = { ...contents, heads: [] };
  const expected = new Set<string>();
  for (const seed of [1, 2]) {
    const weight = Float32Array.from({ length: 512 * 1024 }, (_, i) => Math.sin(i * seed));
    const all = new Float32Array(weight.length / 4 * 2 + weight.length + 4);
    all.set(weight, weight.length / 2);
    expected.add(sha256(new Uint8Array(all.buffer)));
  }
  const random = new Random(17);
  for (let round = 0; round < 8; round++) {
    const child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(plain), path], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
      child.on('exit', (code) => reject(new Error(`writer exited early (${code})`)));
    });
    await new Promise((resolve) => setTimeout(resolve, random.next() * 400));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const bundle = await readBundle(path);
    assert.ok(expected.has(bundle.manifest.weights.sha256), `round ${round}: a bundle that is neither the old nor the new one`);
  }
});

test('a bundle whose backbone file differs from the one it was trained with is refused', async () => {
  const path = dir.file('bundle-other-backbone');
  await writeTestBundle(path);
  await editManifest(path, (m) => (m.backbone.sha256 = 'f'.repeat(64)));
  await assert.rejects(loadModel(path, { mirrors: [dir.path], cacheDir: dir.file('cache'), offline: true }), (e: Error & { code?: string }) => {
    assert.ok(['MODEL_NOT_FOUND', 'MODEL_CHECKSUM_MISMATCH'].includes(e.code!), e.code);
    return true;
  });
});

test('files made from the final manifest are written inside the new bundle before the swap; a failure leaves the old bundle', async () => {
  const path = dir.file('bundle-files');
  const first = makeContents({ type: 'linear' }, 3);
  const manifest = await writeBundle(path, first.contents, split, { files: async (m) => ({ 'report.html': `made ${m.createdAt} ${m.weights.sha256}` }) });
  assert.equal(await readFile(`${path}/report.html`, 'utf8'), `made ${manifest.createdAt} ${manifest.weights.sha256}`);
  const second = makeContents({ type: 'mlp', hidden: 3, dropout: 0 }, 9);
  await assert.rejects(writeBundle(path, second.contents, split, { files: async () => { throw new Error('cannot draw'); } }), /cannot draw/);
  assert.equal((await readBundle(path)).heads[0]!.spec.type, 'linear', 'the old bundle is untouched');
  assert.equal(await readFile(`${path}/report.html`, 'utf8'), `made ${manifest.createdAt} ${manifest.weights.sha256}`);
  assert.deepEqual((await readdir(dir.path)).filter((f) => f.startsWith('.bundle-files')), [], 'no staging directory left');
});
