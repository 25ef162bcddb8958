/** `posterscope audit` and `posterscope fetch` as a user runs them: the built CLI, no TTY, a loopback server. */
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { runCli } from '../helpers/cli.js';
import { sendBody, startTestServer, type TestServer } from '../helpers/http-server.js';
import { type TempDir, makeTempDir } from '../helpers/images.js';
import { scene } from '../helpers/scenes.js';

let dir: TempDir;

before(async () => {
  dir = await makeTempDir('posterscope-e2e-audit-');
});
after(() => dir.remove());

function oneLine(result: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(result.code, 2, result.stderr);
  assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  assert.match(result.stderr, pattern);
}

describe('posterscope audit', () => {
  let data: string;
  let images: string;
  let split: string;
  before(async () => {
    images = dir.file('images');
    await mkdir(images);
    for (let i = 1; i <= 4; i++) await scene(i).jpeg().toFile(dir.file(`images/m${i}.jpg`));
    await sharp(dir.file('images/m1.jpg')).resize({ width: 120 }).jpeg({ quality: 60 }).toFile(dir.file('images/m5.jpg'));
    await dir.write('images/m6.jpg', '<html>Not Found</html>');
    data = await dir.write('movies.csv', 'imdb_id,genre\nm1,Drama\nm2,Comedy|Drama\nm3,Action\nm4,Drama\nm5,Drama\nm6,Horror\nm7,Drama\n');
    split = await dir.write(
      'split.json',
      JSON.stringify({ seed: 0, train: ['m1', 'm2', 'm3', 'm4'].map((id) => ({ id, hash: 'x' })), validation: [], test: [{ id: 'm5', hash: 'y' }] }),
    );
  });

  it('prints a summary, exit 0 without --fail-on', async () => {
    const result = await runCli(['audit', '--data', data, '--images', images, '--splits', split, '--rare', '2']);
    assert.equal(result.code, 0, result.stderr);
    for (const line of [
      'movies.csv: 7 rows (genre lists), 5 posters decoded in',
      '!!  unreadable images: 1',
      `      ${dir.file('images/m6.jpg')}: not an image (file starts with "<html>Not Found<")`,
      '!!  rows without an image: 1',
      '!!  near-duplicate images (hash distance ≤ 4): 1',
      '      m1 ~ m5 (distance',
      '!!  leakage across splits',
      '      near-duplicate: m1, m5 in train and test',
      '!!  rare genres (< 2 posters): 3',
    ]) {
      assert.ok(result.stdout.includes(line), `"${line}" not in:\n${result.stdout}`);
    }
    assert.match(result.stderr, /audited 5 posters \(1 unreadable\)/);
  });

  it('--json prints the report; --fail-on exits 1 naming the conditions met', async () => {
    const result = await runCli(['audit', '--data', data, '--images', images, '--splits', split, '--json', '--quiet', '--fail-on', 'missing, tiny,leakage']);
    assert.equal(result.code, 1);
    const report = JSON.parse(result.stdout);
    assert.equal(report.rows, 7);
    assert.deepEqual(report.failed, ['missing', 'leakage']);
    assert.equal(report.findings.unreadable, 1);
    assert.deepEqual(report.leakage[0].ids, ['m1', 'm5']);
    assert.equal(result.stderr, 'audit failed: missing (1), leakage (1)\n');
    const clean = await runCli(['audit', '--data', data, '--images', images, '--quiet', '--fail-on', 'duplicates,tiny']);
    assert.equal(clean.code, 0, clean.stderr);
  });

  it('BAD CALL - missing --data, unknown column, bad --fail-on or number: one line, exit 2', async () => {
    oneLine(await runCli(['audit', '--images', images]), /^posterscope: audit needs --data FILE and --images DIR/);
    oneLine(
      await runCli(['audit', '--data', data, '--images', images, '--id-column', 'nope']),
      /^posterscope: Expected one of the columns imdb_id, genre \(or an index 0-1\) for idColumn but received string "nope"\n$/,
    );
    const failOn = await runCli(['audit', '--data', data, '--images', images, '--fail-on', 'missing,bogus']);
    oneLine(failOn, /for --fail-on but received string "bogus"/);
    assert.equal(
      failOn.stderr,
      'posterscope: Expected a comma list of malformed, unreadable, missing, unlabelled, duplicates, conflicts, near-duplicates, leakage, tiny, rare for --fail-on but received string "bogus"\n',
    );
    oneLine(
      await runCli(['audit', '--data', data, '--images', images, '--fail-on', 'leakge']),
      /for --fail-on but received string "leakge"; did you mean "leakage"\?\n$/,
    );
    oneLine(await runCli(['audit', '--data', data, '--images', images, '--near-distance', '65']), /Expected integer between 0 and 64 for --near-distance/);
    const missing = await runCli(['audit', '--data', dir.file('nope.csv'), '--images', images]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^posterscope: .*nope\.csv: no such file\n$/);
  });

  it('file names with newlines and terminal escapes are printed escaped, one line each', async () => {
    const odd = dir.file('odd');
    await mkdir(odd);
    await scene(1).jpeg().toFile(dir.file('odd/a.jpg'));
    await dir.write('odd/evil\n\u001b[31mname.jpg', 'not a poster');
    const labels = await dir.write('odd.csv', 'id,genre\na,Drama\n');
    const result = await runCli(['audit', '--data', labels, '--images', odd, '--quiet']);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!result.stdout.includes('\u001b'), 'no raw escape character');
    assert.ok(result.stdout.includes(`      ${odd}/evil\\n\\x1b[31mname.jpg: not an image`), result.stdout);
    assert.ok(result.stdout.split('\n').every((line) => !line.startsWith('[31m')), 'no line broken by the file name');
  });

  it('--max-pixels is applied to every poster decoded', async () => {
    const result = await runCli(['audit', '--data', data, '--images', images, '--max-pixels', '100', '--json', '--quiet']);
    const report = JSON.parse(result.stdout);
    assert.equal(report.checked, 0, 'no poster is under 100 pixels');
    assert.ok(report.unreadable.some((u: { code: string; reason: string }) => u.code === 'IMAGE_TOO_LARGE' && /--max-pixels/.test(u.reason)), JSON.stringify(report.unreadable));
  });
});

describe('posterscope fetch', () => {
  let server: TestServer;
  let list: string;
  let jpeg: Buffer;
  before(async () => {
    jpeg = await scene(7).jpeg().toBuffer();
    server = await startTestServer((req, res) => {
      if (req.url === '/ok.jpg') sendBody(res, jpeg);
      else if (req.url === '/page') res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
      else res.writeHead(404).end();
    });
    list = await dir.write('list.csv', `imdbId,Title,Poster\n1,One,${server.url('/ok.jpg')}\n2,Two,${server.url('/gone.jpg')}\n3,Three,${server.url('/page')}\n`);
  });
  after(() => server.close());

  it('downloads, reports failures (exit 1), and a re-run skips what is there', async () => {
    const out = dir.file('fetched');
    const report = dir.file('failures.json');
    const result = await runCli(['fetch', '--data', list, '--url-column', 'Poster', '--id-column', 'imdbId', '--out', out, '--report', report, '--json']);
    assert.equal(result.code, 1, result.stderr);
    const summary = JSON.parse(result.stdout);
    assert.deepEqual([summary.rows, summary.downloaded, summary.skipped, summary.failed, summary.report], [3, 1, 0, 2, report]);
    assert.deepEqual(await readFile(dir.file('fetched/1.jpg')), jpeg);
    const failures = JSON.parse(await readFile(report, 'utf8'));
    assert.deepEqual(failures.map((f: { id: string; reason: string }) => [f.id, f.reason]), [
      ['2', 'HTTP 404 Not Found'],
      ['3', 'not an image (file starts with "<html>login</htm")'],
    ]);
    assert.match(result.stderr, /error: line 3 \(2\): http:\/\/127\.0\.0\.1:\d+\/gone\.jpg: HTTP 404 Not Found\n/);

    const again = await runCli(['fetch', '--data', list, '--url-column', '2', '--id-column', '0', '--out', out, '--quiet']);
    assert.equal(again.code, 1);
    assert.match(again.stdout, /^3 rows: 0 downloaded \(0\.0 MiB\), 1 already there, 2 failed in [\d.]+ s\nfailures: .*fetched\/fetch-failures\.csv\n$/);
    assert.equal(server.hits('/ok.jpg'), 1);
    assert.match(await readFile(dir.file('fetched/fetch-failures.csv'), 'utf8'), /^line,id,url,reason,attempts\n3,2,/);
  });

  it('exit 0 when every row is fetched', async () => {
    const good = await dir.write('good.csv', `url\n${server.url('/ok.jpg')}\n`);
    const result = await runCli(['fetch', '--data', good, '--url-column', 'url', '--out', dir.file('good'), '--quiet']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await readFile(dir.file('good/fetch-failures.csv'), 'utf8'), 'line,id,url,reason,attempts\n');
  });

  it('BAD CALL - missing options, unknown column, bad --report or number: one line, exit 2', async () => {
    oneLine(await runCli(['fetch', '--data', list, '--out', dir.file('x')]), /^posterscope: fetch needs --data FILE, --url-column COL and --out DIR/);
    oneLine(
      await runCli(['fetch', '--data', list, '--url-column', 'url', '--out', dir.file('x')]),
      /^posterscope: Expected one of the columns imdbId, Title, Poster \(or an index 0-2\) for urlColumn but received string "url"\n$/,
    );
    oneLine(await runCli(['fetch', '--data', list, '--url-column', 'Poster', '--out', dir.file('x'), '--report', 'r.txt']), /Expected a \.csv or \.json file for --report/);
    oneLine(await runCli(['fetch', '--data', list, '--url-column', 'Poster', '--out', dir.file('x'), '--concurrency', '0']), /Expected integer between 1 and 256 for --concurrency/);
  });
});
