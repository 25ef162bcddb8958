import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { getBackboneSpec, type BackboneSpec } from '../../../src/backbone/registry.js';
import { PosterscopeError } from '../../../src/errors.js';
import { type BundleContents, type FusionRecord, readBundle, writeBundle } from '../../../src/model/bundle.js';
import { fuseScores } from '../../../src/model/fusion.js';
import { headLogits, standardize } from '../../../src/model/head.js';
import { loadModel } from '../../../src/model/model.js';
import { Random } from '../../../src/random.js';
import { fitTextEncoder } from '../../../src/text/encoders.js';
import { GenreHead } from '../../../src/train/head.js';
import { fitStandardizer } from '../../../src/train/standardize.js';
import { inputSubsets } from '../../../src/train/fusion.js';
import { type TempDir, makeTempDir } from '../../helpers/images.js';
import { tinyBackbone } from '../../helpers/onnx-models.js';

let dir: TempDir;
let row: BackboneSpec;
const genres = ['Action', 'Comedy', 'Drama'];
const titles = ['Fight Club (1999)', 'Funny People (2009)', 'The Grief Letter', 'Fight Night', 'Funny Fight', 'Letter of grief'];
const plots = ['A fight in the club.', 'People laugh a lot.', 'A family grieves.', 'Another fight.', '', 'Grief and letters.'];
const round = (values: ArrayLike<number>) => Array.from(values, (v) => v.toFixed(5));

before(async () => {
  dir = await makeTempDir('posterscope-text-bundle-');
  const base = getBackboneSpec('mobilenetv2');
  row = (await tinyBackbone(dir.path, { ...base, id: 'tiny', feature: { ...base.feature, dim: 6 } })).row;
});

after(() => dir.remove());

function makeContents(withImage: boolean) {
  const random = new Random(5);
  const title = fitTextEncoder('tfidf', titles);
  const plot = fitTextEncoder('tfidf-words', plots);
  const titleHead = GenreHead.create({ type: 'linear' }, title.encoder.dim, genres.length, random);
  const plotHead = GenreHead.create({ type: 'linear' }, plot.encoder.dim, genres.length, random);
  const identity = (dim: number) => ({ mean: new Float32Array(dim), scale: new Float32Array(dim).fill(1) });
  const x = Float32Array.from({ length: 6 * 6 }, () => random.normal());
  const standardizer = fitStandardizer(x, 6);
  const imageHead = GenreHead.create({ type: 'linear' }, 6, genres.length, random);
  const inputs = withImage ? (['image', 'title', 'plot'] as const) : (['title', 'plot'] as const);
  const fusion: FusionRecord = {
    type: 'sum',
    center: [-1, -0.5, 0.2],
    weights: { image: 0.9, title: 0.7, plot: 1.1 },
    subsets: [{ inputs: ['title', 'plot'], weights: { title: 0.6, plot: 1.2 }, shift: -0.1 }],
  };
  const contents: BundleContents = {
    createdAt: new Date(0).toISOString(),
    posterscopeVersion: 'test',
    ...(withImage ? { backbone: { id: row.id, sha256: row.file.sha256!, spec: row }, views: ['full'] } : {}),
    genres,
    heads: [
      ...(withImage ? [{ input: 'image' as const, standardizer, spec: imageHead.spec, layers: imageHead.layers }] : []),
      { input: 'title', standardizer: identity(title.encoder.dim), spec: titleHead.spec, layers: titleHead.layers, encoder: title.stored },
      { input: 'plot', standardizer: identity(plot.encoder.dim), spec: plotHead.spec, layers: plotHead.layers, encoder: plot.stored },
    ],
    fusion,
    inputs: { accepts: [...inputs], tunedOn: inputSubsets([...inputs]) },
    thresholds: { global: 0.4 },
  };
  // The scores the model must reproduce, from the heads and encoders before saving.
  // A plot with no word of the (minDf 2) vocabulary says nothing and is left out, as predict does.
  const plotKnown = plots.map((p) => p !== '' && plot.encoder.encodeSync!([p])[0]!.some((v) => v !== 0));
  const expected = titles.map((t, i) => {
    const logits = {
      title: headLogits(titleHead, title.encoder.encodeSync!([t])[0]!, 1),
      ...(plotKnown[i] ? { plot: headLogits(plotHead, plot.encoder.encodeSync!([plots[i]!])[0]!, 1) } : {}),
    };
    return fuseScores(fusion, logits, 1);
  });
  return { contents, expected, imageHead, standardizer, x, plotKnown };
}

test('sum fusion by hand: centred on the prior, weighted per head, per-subset weights and shift', () => {
  const fusion: FusionRecord = { type: 'sum', center: [0, -1], weights: { image: 1, title: 0.5 }, subsets: [{ inputs: ['image', 'title'], weights: { image: 0.5, title: 0.5 }, shift: 0.25 }] };
  const logits = { image: Float32Array.of(2, -3), title: Float32Array.of(-2, 1) };
  const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
  // image alone: its own logits (weight 1); title alone: 0.5 * (logit - center) + center.
  assert.deepEqual(round(fuseScores(fusion, logits, 1, ['image'])), round([sigmoid(2), sigmoid(-3)]));
  assert.deepEqual(round(fuseScores(fusion, logits, 1, ['title'])), round([sigmoid(-1), sigmoid(-1 + 0.5 * 2)]));
  // both: the subset's own weights and shift: 0 + 0.25 + 0.5 * 2 + 0.5 * -2; -1 + 0.25 + 0.5 * -2 + 0.5 * 2
  assert.deepEqual(round(fuseScores(fusion, logits, 1)), round([sigmoid(0.25), sigmoid(-0.75)]));
  assert.deepEqual(inputSubsets(['image', 'title', 'plot']), [['image'], ['title'], ['plot'], ['image', 'title'], ['image', 'plot'], ['title', 'plot'], ['image', 'title', 'plot']]);
});

test('a text-only bundle round-trips: save, load, predict({ title, plot }) gives identical scores to 5 decimals', async () => {
  const path = dir.file('text');
  const { contents, expected, plotKnown } = makeContents(false);
  assert.ok(plotKnown.filter(Boolean).length >= 2 && plotKnown.includes(false), 'both cases are tested');
  const manifest = await writeBundle(path, contents);
  assert.equal(manifest.formatVersion, 3);
  assert.equal(manifest.backbone, undefined);
  const model = await loadModel(path);
  try {
    assert.deepEqual(model.accepts, ['title', 'plot']);
    assert.equal(model.backbone, undefined);
    const predictions = await model.predict(titles.map((title, i) => ({ title, ...(plots[i] ? { plot: plots[i] } : {}) })), { verbose: true } as never);
    predictions.forEach((p, i) => {
      assert.deepEqual(p.inputs, plotKnown[i] ? ['title', 'plot'] : ['title']);
      const byGenre = new Map(p.scores.map((s) => [s.genre, s.score]));
      assert.deepEqual(round(genres.map((g) => byGenre.get(g)!)), round(expected[i]!));
    });
    const [none] = await model.predict([{}]);
    assert.equal(none!.error!.code, 'INVALID_ARGUMENT');
    assert.match(none!.error!.message, /nothing to predict from: no poster, title or plot given/);
  } finally {
    await model.release();
  }
});

test('an image + text bundle round-trips its tensors, vocabulary and fusion bit for bit', async () => {
  const path = dir.file('multimodal');
  const { contents, imageHead, standardizer, x } = makeContents(true);
  await writeBundle(path, contents);
  const bundle = await readBundle(path);
  assert.deepEqual(bundle.manifest.inputs.accepts, ['image', 'title', 'plot']);
  assert.deepEqual(bundle.manifest.fusion, contents.fusion);
  assert.deepEqual(bundle.heads.map((h) => h.input), ['image', 'title', 'plot']);
  for (const [k, head] of bundle.heads.entries()) {
    const original = contents.heads[k]!;
    assert.deepEqual(Array.from(head.layers[0]!.weight), Array.from(original.layers[0]!.weight));
    assert.deepEqual(head.encoder?.model.terms, original.encoder?.model.terms);
    assert.deepEqual(head.encoder && Array.from(head.encoder.model.idf), original.encoder && Array.from(original.encoder.model.idf));
  }
  const model = await loadModel(path, { mirrors: [dir.path] });
  try {
    assert.deepEqual(round(model.score(x, 6)), round(headLogits(imageHead, standardize(standardizer, x), 6).map((z) => 1 / (1 + Math.exp(-z)))));
  } finally {
    await model.release();
  }
});

test('BAD BUNDLE - two heads for one input, a text head without its encoder, no fusion: the field is named', async () => {
  const path = dir.file('bad');
  await writeBundle(path, makeContents(false).contents);
  const text = await readFile(`${path}/manifest.json`, 'utf8');
  const cases: Array<[(m: any) => void, RegExp]> = [
    [(m) => (m.heads[1].input = 'title'), /manifest\.json field heads: expected one head per input, got title, title/],
    [(m) => delete m.heads[0].encoder, /manifest\.json field heads\[0\]\.encoder: expected the text encoder of a text head/],
    [(m) => delete m.fusion, /manifest\.json field fusion: expected a fusion for several heads/],
    [(m) => (m.inputs.accepts = ['sound']), /manifest\.json field inputs\.accepts\[0\]/],
  ];
  for (const [edit, pattern] of cases) {
    const m = JSON.parse(text);
    edit(m);
    await writeFile(`${path}/manifest.json`, JSON.stringify(m));
    await assert.rejects(readBundle(path), (e: unknown) => e instanceof PosterscopeError && e.code === 'MODEL_INVALID' && pattern.test(e.message), String(pattern));
  }
});
