import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type FetchedPoster, type FetchOptions, type FetchReport, fetchPosters, writeFetchFailures } from '../../../src/data/fetch.js';
import { decodePoster } from '../../../src/image/poster.js';
import { sendBody, sendHalfThenCut, startTestServer, type TestServer } from '../../helpers/http-server.js';
import { type TempDir, makeTempDir } from '../../helpers/images.js';
import { scene } from '../../helpers/scenes.js';
import { isError } from '../../helpers/errors.js';

// The TLS test server's certificate is self-signed, made by the test.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

let dir: TempDir;
let server: TestServer;
let jpeg: Buffer;
let png: Buffer;
let webp: Buffer;
let csv: string;

const FAST = { retries: 1, retryDelayMs: 1, timeoutMs: 400, concurrency: 3 } satisfies Partial<FetchOptions>;
const GOOD_PATHS: Record<string, string> = { a: '/a.jpg', b: '/b.png', c: '/c', flaky: '/flaky.jpg', 'cut-once': '/cut-once.jpg', moved: '/moved', slowish: '/slowish.jpg' };
const GOOD = Object.keys(GOOD_PATHS);


/** Runs fetchPosters on `csv` by default; `byId` holds each id's first row, `byLine` every row. */
async function run(out: string, options: Partial<FetchOptions> = {}) {
  const byLine = new Map<number, FetchedPoster>();
  const report: FetchReport = await fetchPosters({ data: csv, urlColumn: 'poster', idColumn: 'id', out, ...FAST, ...options, onPoster: (r) => byLine.set(r.line, r) });
  const byId = new Map<string, FetchedPoster>();
  for (const line of [...byLine.keys()].sort((a, b) => a - b)) if (!byId.has(byLine.get(line)!.id)) byId.set(byLine.get(line)!.id, byLine.get(line)!);
  return { report, byId, byLine };
}

before(async () => {
  dir = await makeTempDir('posterscope-fetch-');
  jpeg = await scene(1).jpeg().toBuffer();
  png = await scene(2).png().toBuffer();
  webp = await scene(3).webp().toBuffer();
  server = await startTestServer((req, res, nth) => {
    const path = (req.url ?? '/').replace(/\?.*$/, '');
    switch (path) {
      case '/a.jpg':
        return sendBody(res, jpeg);
      case '/b.png':
        return sendBody(res, png);
      case '/c':
        return sendBody(res, webp);
      case '/missing.jpg':
        res.writeHead(404).end('no');
        return;
      case '/forbidden.jpg':
        res.writeHead(403).end('no');
        return;
      case '/flaky.jpg':
        if (nth === 1) res.writeHead(500).end('oops');
        else sendBody(res, jpeg);
        return;
      case '/slow.jpg':
        return; // never answers
      case '/slowish.jpg':
        setTimeout(() => sendBody(res, jpeg), 50);
        return;
      case '/cut.jpg':
        return sendHalfThenCut(res, jpeg);
      case '/cut-once.jpg':
        return nth === 1 ? sendHalfThenCut(res, jpeg) : sendBody(res, jpeg);
      case '/page.jpg':
        res.writeHead(200, { 'content-type': 'text/html' }).end('<!DOCTYPE html><html><body>Sorry</body></html>');
        return;
      case '/half.jpg':
        return sendBody(res, jpeg.subarray(0, jpeg.length >> 1));
      case '/moved':
        res.writeHead(302, { location: '/a.jpg?from=moved' }).end();
        return;
      case '/loop':
        res.writeHead(301, { location: '/loop' }).end();
        return;
      default:
        res.writeHead(404).end();
    }
  });
  const rows = [
    ['a', 'A', server.url('/a.jpg')],
    ['b', 'B', server.url('/b.png')],
    ['c', 'C, the sequel', server.url('/c')],
    ['missing', 'M', server.url('/missing.jpg')],
    ['forbidden', 'F', server.url('/forbidden.jpg')],
    ['flaky', 'F', server.url('/flaky.jpg')],
    ['slow', 'S', server.url('/slow.jpg')],
    ['slowish', 'S', server.url('/slowish.jpg')],
    ['cut', 'C', server.url('/cut.jpg')],
    ['cut-once', 'C', server.url('/cut-once.jpg')],
    ['page', 'P', server.url('/page.jpg')],
    ['half', 'H', server.url('/half.jpg')],
    ['moved', 'M', server.url('/moved')],
    ['loop', 'L', server.url('/loop')],
    ['ftp', 'X', 'ftp://127.0.0.1/x.jpg'],
    ['empty', 'E', ''],
    ['../evil', 'E', server.url('/a.jpg')],
    ['a', 'A again', server.url('/a.jpg')],
    ['b', 'B elsewhere', server.url('/a.jpg')],
  ];
  const field = (v: string) => (/[",]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  csv = await dir.write('posters.csv', `id,title,poster\n${rows.map((r) => r.map(field).join(',')).join('\n')}\n`);
});

after(async () => {
  await server.close();
  await dir.remove();
});

describe('fetchPosters', () => {
  let first: Awaited<ReturnType<typeof run>>;
  before(async () => {
    first = await run(dir.file('out'));
  });

  it('downloads good posters, naming each <id><ext> by its bytes, through redirects and slow answers', async () => {
    const { report, byId } = first;
    assert.deepEqual([report.rows, report.downloaded, report.skipped, report.failed], [19, 7, 1, 11]);
    for (const id of GOOD) assert.equal(byId.get(id)?.status, 'downloaded', id);
    const files = (await readdir(dir.file('out'))).sort();
    assert.deepEqual(files, ['a.jpg', 'b.png', 'c.webp', 'cut-once.jpg', 'flaky.jpg', 'moved.jpg', 'slowish.jpg']);
    assert.deepEqual(await readFile(dir.file('out/b.png')), png);
    assert.equal(report.bytes, 5 * jpeg.length + png.length + webp.length);
    await decodePoster(dir.file('out/moved.jpg'));
  });

  it('retries 5xx and cut bodies, not 404 / 403; gives up on persistent transient failures', () => {
    const { byId } = first;
    assert.equal(byId.get('flaky')!.attempts, 2);
    assert.equal(byId.get('cut-once')!.attempts, 2);
    assert.equal(server.hits('/missing.jpg'), 1);
    assert.equal(server.hits('/forbidden.jpg'), 1);
    assert.equal(server.hits('/cut.jpg'), 2);
    assert.equal(server.hits('/slow.jpg'), 2);
  });

  it('reports every failure with its reason, by line', () => {
    const reasons = Object.fromEntries(first.report.failures.map((f) => [`${f.line}:${f.id}`, f.reason]));
    const cut = `connection cut after ${jpeg.length >> 1} of ${jpeg.length} bytes (2 attempts)`;
    assert.deepEqual(reasons, {
      '5:missing': 'HTTP 404 Not Found',
      '6:forbidden': 'HTTP 403 Forbidden',
      '8:slow': 'timed out after 400 ms (2 attempts)',
      '10:cut': cut,
      '12:page': 'not an image (file starts with "<!DOCTYPE html><")',
      '13:half': reasons['13:half']!,
      '15:loop': 'more than 5 redirects',
      '16:ftp': 'unsupported URL scheme "ftp:" (only http and https)',
      '17:empty': 'no URL (column "poster" is empty)',
      '18:../evil': 'id "../evil" cannot be a file name',
      '20:b': 'duplicate id: line 3 has the same id with another URL',
    });
    assert.match(reasons['13:half']!, /^JPEG data is truncated or corrupt/);
    assert.equal(first.byLine.get(19)!.status, 'skipped'); // same id, same URL as line 2
  });

  it('resumes: a second run requests nothing for posters already there', async () => {
    const before = Object.values(GOOD_PATHS).map((path) => server.hits(path));
    const beforeTotal = server.hits();
    const { report } = await run(dir.file('out'));
    assert.deepEqual([report.downloaded, report.skipped, report.failed], [0, 8, 11]);
    const after = Object.values(GOOD_PATHS).map((path) => server.hits(path));
    assert.deepEqual(after, before);
    // Only the failed rows that reach the network were asked again: missing, forbidden, slow x2, cut x2, page, half, loop x6.
    assert.equal(server.hits() - beforeTotal, 1 + 1 + 2 + 2 + 1 + 1 + 6);
  });

  it('replaces a partial or invalid file, whatever its extension, and leaves no temp files', async () => {
    const out = dir.file('out2');
    await run(out, { data: csv });
    await writeFile(dir.file('out2/a.jpg'), jpeg.subarray(0, 100));
    await rm(dir.file('out2/b.png'));
    await writeFile(dir.file('out2/b.jpg'), '<html>not a poster</html>'); // b is a PNG on the server
    await writeFile(dir.file('out2/b.png.txt'), 'unrelated');
    const hitsA = server.hits('/a.jpg');
    const { report, byId } = await run(out);
    assert.equal(report.downloaded, 2);
    assert.equal(byId.get('a')!.status, 'downloaded');
    assert.equal(server.hits('/a.jpg'), hitsA + 1);
    const files = await readdir(out);
    assert.ok(files.includes('b.png') && !files.includes('b.jpg'), files.join());
    assert.ok(files.includes('b.png.txt'));
    assert.ok(!files.some((f) => f.includes('.part-')), files.join());
    await decodePoster(dir.file('out2/a.jpg'));
  });

  it('names files by row number without --id-column, and reads JSON Lines', async () => {
    const jsonl = await dir.write('list.jsonl', [`{"url": "${server.url('/a.jpg')}"}`, '', `{"url": "${server.url('/c')}", "id": 7}`, 'not json'].join('\n'));
    const { report } = await run(dir.file('out3'), { data: jsonl, urlColumn: 'url', idColumn: undefined });
    assert.deepEqual([report.downloaded, report.failed], [2, 1]);
    assert.deepEqual((await readdir(dir.file('out3'))).sort(), ['1.jpg', '2.webp']);
    assert.deepEqual(report.failures.map((f) => [f.line, f.id]), [[4, '3']]);
    assert.match(report.failures[0]!.reason, /^not valid JSON \(Unexpected token/);
  });

  it('refuses a redirect from https to http (as model downloads do) and waits out a Retry-After', async () => {
    const times: number[] = [];
    const tls = await startTestServer(
      (req, res, nth) => {
        if (req.url === '/downgrade.jpg') res.writeHead(302, { location: server.url('/a.jpg') }).end();
        else if (req.url === '/busy.jpg') {
          times.push(performance.now());
          if (nth === 1) res.writeHead(429, { 'retry-after': '1' }).end();
          else sendBody(res, jpeg);
        } else sendBody(res, png);
      },
      { https: true },
    );
    try {
      const list = await dir.write('tls.csv', `id,url\nsecure,${tls.url('/b.png')}\ndowngrade,${tls.url('/downgrade.jpg')}\nbusy,${tls.url('/busy.jpg')}\n`);
      const { report, byId } = await run(dir.file('out-tls'), { data: list, urlColumn: 'url' });
      assert.deepEqual([report.downloaded, report.failed], [2, 1]);
      assert.equal(byId.get('downgrade')!.reason, `refused redirect from https to ${server.url('/a.jpg')}`);
      assert.equal(byId.get('downgrade')!.attempts, 1);
      assert.equal(byId.get('busy')!.attempts, 2);
      assert.ok(times[1]! - times[0]! >= 990, `retried after ${(times[1]! - times[0]!).toFixed(0)} ms`);
    } finally {
      await tls.close();
    }
  });

  it('a row of the wrong width fails with its line; stale temp files of killed runs are swept, recent ones kept', async () => {
    const out = dir.file('out-width');
    await mkdir(out);
    const stale = join(out, '.a.jpg.123-0000dead.tmp');
    const recent = join(out, '.b.png.123-0000beef.tmp');
    await writeFile(stale, 'x');
    await writeFile(recent, 'x');
    const old = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    await utimes(stale, old, old);
    const list = await dir.write('width.csv', `id,url\na,${server.url('/a.jpg')},extra\nb,${server.url('/b.png')}\n`);
    const { report } = await run(out, { data: list, urlColumn: 'url' });
    assert.deepEqual(report.failures.map((f) => [f.line, f.id, f.reason]), [[2, '', 'has 3 fields, expected 2']]);
    assert.deepEqual((await readdir(out)).sort(), ['.b.png.123-0000beef.tmp', 'b.png']);
  });

  it('writes the failures report as CSV or JSON', async () => {
    const failures = [{ line: 3, id: 'x', url: 'http://h/a,b.jpg', reason: 'HTTP 404 Not Found', attempts: 1 }];
    await writeFetchFailures(dir.file('f.csv'), failures);
    assert.equal(await readFile(dir.file('f.csv'), 'utf8'), 'line,id,url,reason,attempts\n3,x,"http://h/a,b.jpg",HTTP 404 Not Found,1\n');
    await writeFetchFailures(dir.file('f.json'), failures);
    assert.deepEqual(JSON.parse(await readFile(dir.file('f.json'), 'utf8')), failures);
  });

  it('BAD CALL - unknown column, missing file, out-of-range numbers', async () => {
    await assert.rejects(fetchPosters({ data: csv, urlColumn: 'url', out: dir.file('x') }), (e: unknown) => {
      isError('INVALID_ARGUMENT', 'urlColumn')(e);
      assert.equal((e as Error).message, 'Expected one of the columns id, title, poster (or an index 0-2) for urlColumn but received string "url"');
      return true;
    });
    await assert.rejects(fetchPosters({ data: csv, urlColumn: 2, idColumn: 9, out: dir.file('x') }), isError('INVALID_ARGUMENT', 'idColumn'));
    await assert.rejects(fetchPosters({ data: dir.file('none.csv'), urlColumn: 0, out: dir.file('x') }), isError('DATA_INVALID'));
    await assert.rejects(fetchPosters({ data: csv, urlColumn: 2, out: dir.file('x'), concurrency: 0 }), isError('INVALID_ARGUMENT', 'concurrency'));
    await assert.rejects(fetchPosters({ data: csv, urlColumn: 2, out: '' }), isError('INVALID_ARGUMENT', 'out'));
  });
});
