/**
 * A full disk (a small tmpfs, mounted for the test; CI runs as root) and
 * kill -9 in the middle of writing a bundle: one line and exit 1, nothing
 * already written lost or damaged; the old bundle or the new one, never neither.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readBundle } from '../../src/model/bundle.js';
import { ROOT } from '../helpers/cli.js';
import { type TempDir, makeTempDir } from '../helpers/images.js';
import { MODELS, POSTERS, UNLABELED, skipWithoutShared } from '../helpers/shared.js';
import { MEMORY_BUDGET_MB, runMeasured } from './hostile.js';

let dir: TempDir;
let full: string;
let mounted = false;
let mountProblem = '';

before(async () => {
  dir = await makeTempDir('posterscope-abuse-disk-');
  full = dir.file('full');
  await mkdir(full);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', full], { stdio: 'pipe' });
    mounted = true;
  } catch (error) {
    mountProblem = `cannot mount a 512 KB tmpfs to fill (${String((error as { stderr?: Buffer }).stderr ?? error).trim().split('\n')[0]}); run as root`;
  }
});

after(async () => {
  if (mounted) execFileSync('umount', [full]);
  await dir?.remove();
});

const RECORD_BYTES = 44 + 1280 * 4;

test('a full disk under the embedding cache: one line, exit 1, every vector written before kept whole', { skip: skipWithoutShared }, async (t) => {
  if (!mounted) return t.skip(mountProblem);
  const env = { POSTERSCOPE_MIRROR: MODELS, POSTERSCOPE_OFFLINE: '1', POSTERSCOPE_CACHE: join(full, 'cache') };
  const posters = (await readdir(POSTERS)).sort().slice(0, 150).map((name) => join(POSTERS, name));
  const first = await runMeasured(['embed', ...posters, '--quiet'], { env, tmp: dir.path });
  assert.equal(first.code, 1, `first: ${first.stderr}`);
  assert.match(first.stderr.trim(), /^posterscope: .*\.pse: cannot write: no space left on the device \(ENOSPC\); what was written before is kept$/);
  assert.ok(first.peakMb < MEMORY_BUDGET_MB, `${first.peakMb} MB`);
  const segments = async () => {
    const folder = join(full, 'cache', 'embeddings', (await readdir(join(full, 'cache', 'embeddings')))[0]!);
    return Promise.all((await readdir(folder)).map(async (name) => (await stat(join(folder, name))).size));
  };
  const sizes = await segments();
  assert.ok(sizes.every((size) => size % RECORD_BYTES === 0), `a torn record left behind: ${sizes}`);
  const kept = sizes.reduce((a, b) => a + b, 0) / RECORD_BYTES;
  assert.ok(kept > 0, 'some vectors were written before the disk filled');
  // A second run still has no room: the same one line, and no damaged record found in what the first left.
  const second = await runMeasured(['embed', ...posters, '--quiet'], { env, tmp: dir.path });
  assert.equal(second.code, 1, `second: ${second.stderr}`);
  assert.doesNotMatch(second.stderr, /damaged/);
  assert.equal(second.stderr.trim().split('\n').length, 1, second.stderr);
  // predict -o onto the full disk (what little room is left filled first): the same kind of line.
  await writeFile(join(full, 'filler'), Buffer.alloc(1024 * 1024)).catch(() => undefined);
  const predict = await runMeasured(['predict', join(UNLABELED, 'tt0121766.jpg'), '-o', join(full, 'genres.json')], { env: { ...env, POSTERSCOPE_CACHE: dir.file('cache') }, tmp: dir.path });
  assert.equal(predict.code, 1, `predict -o: ${predict.stderr}`);
  assert.match(predict.stderr.trim(), /^posterscope: .*genres\.json: cannot write: no space left on the device \(ENOSPC\)/);
});

test('kill -9 while a bundle is being overwritten: the old bundle or the new one loads, never neither', async () => {
  const target = dir.file('bundle');
  const script = await dir.write(
    'overwrite.mts',
    `import { readBundle, writeBundle } from ${JSON.stringify(join(ROOT, 'src/model/bundle.ts'))};
const { manifest: m, heads, fusion } = await readBundle(${JSON.stringify(join(ROOT, 'models', 'default'))});
for (let i = 0; ; i++) {
  await writeBundle(process.argv[2], { createdAt: new Date(i * 1000).toISOString(), posterscopeVersion: m.posterscopeVersion, backbone: m.backbone, views: m.views, genres: m.genres, heads: [...heads], ...(fusion ? { fusion } : {}), inputs: m.inputs, thresholds: m.thresholds });
  if (i === 1) process.stdout.write('ready\\n');
}
`,
  );
  for (let round = 0; round < 3; round++) {
    const child = spawn(process.execPath, ['--import', 'tsx', script, target], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
      child.on('exit', (code) => reject(new Error(`writer exited early (${code})`)));
    });
    await new Promise((resolve) => setTimeout(resolve, 20 + round * 90));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const bundle = await readBundle(target);
    assert.equal(bundle.manifest.genres.length, 25, `round ${round}`);
    assert.match(bundle.manifest.createdAt, /^1970-01-01T00:/, `round ${round}: a bundle written by the loop`);
  }
});
