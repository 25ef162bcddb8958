import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { PosterscopeError } from '../../../src/errors.js';
import { downloadFile } from '../../../src/models/download.js';
import type { Progress } from '../../../src/progress.js';
import {
  sendBody,
  sendHalfThenCut,
  sendHalfThenStall,
  startTestServer,
  type TestHandler,
  type TestServer,
} from '../../helpers/http-server.js';

// The TLS test server's certificate is self-signed, made by the test.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

const body = randomBytes(256 * 1024);
const sha256 = createHash('sha256').update(body).digest('hex');
const fast = { retryDelayMs: 1, timeoutMs: 5000 };

let dir: string;
let dest: string;
let server: TestServer | undefined;

async function serve(handler: TestHandler): Promise<TestServer> {
  server = await startTestServer(handler);
  return server;
}

async function leftovers(): Promise<string[]> {
  return (await readdir(dir)).sort();
}

function isError(code: string, ...fragments: string[]) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof PosterscopeError, `expected PosterscopeError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const fragment of fragments) assert.ok(error.message.includes(fragment), `"${fragment}" not in: ${error.message}`);
    return true;
  };
}

describe('downloadFile', () => {
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'posterscope-download-'));
    dest = join(dir, 'model.onnx');
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('downloads, verifies and reports byte progress', async () => {
    const s = await serve((_req, res) => sendBody(res, body));
    const events: Array<[string, number | undefined]> = [];
    const progress: Progress = {
      start: (_label, total, unit) => events.push([`start ${unit}`, total]),
      tick: (n = 1) => events.push(['tick', n]),
      done: () => events.push(['done', undefined]),
    };
    const got = await downloadFile(s.url('/m.onnx'), dest, { ...fast, sha256, size: body.length, progress });
    assert.deepEqual(got, { path: dest, sha256, size: body.length });
    assert.deepEqual(await readFile(dest), body);
    assert.deepEqual(await leftovers(), ['model.onnx']);
    assert.deepEqual(events[0], ['start B', body.length]);
    assert.deepEqual(events.at(-1), ['done', undefined]);
    const ticked = events.filter(([kind]) => kind === 'tick').reduce((sum, [, n]) => sum + (n ?? 0), 0);
    assert.equal(ticked, body.length);
    assert.equal(s.hits(), 1);
  });

  it('rejects a wrong checksum without retrying and leaves no file', async () => {
    const s = await serve((_req, res) => sendBody(res, body));
    const wrong = 'f'.repeat(64);
    await assert.rejects(
      downloadFile(s.url('/m.onnx'), dest, { ...fast, sha256: wrong }),
      isError('MODEL_CHECKSUM_MISMATCH', `expected ${wrong}`, `got ${sha256}`),
    );
    assert.equal(s.hits(), 1);
    assert.deepEqual(await leftovers(), []);
  });

  it('rejects a Content-Length that contradicts the expected size before reading the body', async () => {
    const s = await serve((_req, res) => sendBody(res, body));
    await assert.rejects(
      downloadFile(s.url('/m.onnx'), dest, { ...fast, size: body.length + 1 }),
      isError('MODEL_CHECKSUM_MISMATCH', `expected ${body.length + 1} bytes`, `sends ${body.length}`),
    );
    assert.equal(s.hits(), 1);
    assert.deepEqual(await leftovers(), []);
  });

  it('retries a connection cut mid-file', async () => {
    const s = await serve((_req, res, nth) => (nth === 1 ? sendHalfThenCut(res, body) : sendBody(res, body)));
    const got = await downloadFile(s.url('/m.onnx'), dest, { ...fast, sha256, size: body.length });
    assert.equal(got.sha256, sha256);
    assert.deepEqual(await readFile(dest), body);
    assert.equal(s.hits(), 2);
    assert.equal((await leftovers()).length, 1);
  });

  it('gives up after the retries when every attempt is cut, leaving nothing behind', async () => {
    const s = await serve((_req, res) => sendHalfThenCut(res, body));
    await assert.rejects(
      downloadFile(s.url('/m.onnx'), dest, { ...fast, sha256, retries: 2 }),
      isError('DOWNLOAD_FAILED', s.url('/m.onnx'), 'connection cut', '3 attempts'),
    );
    assert.equal(s.hits(), 3);
    assert.deepEqual(await leftovers(), []);
  });

  it('does not retry a 404', async () => {
    const s = await serve((_req, res) => res.writeHead(404).end('nope'));
    await assert.rejects(downloadFile(s.url('/m.onnx'), dest, fast), isError('DOWNLOAD_FAILED', 'HTTP 404 Not Found'));
    assert.equal(s.hits(), 1);
    assert.deepEqual(await leftovers(), []);
  });

  it('does not retry a 403', async () => {
    const s = await serve((_req, res) => res.writeHead(403).end());
    await assert.rejects(downloadFile(s.url('/m.onnx'), dest, fast), isError('DOWNLOAD_FAILED', 'HTTP 403'));
    assert.equal(s.hits(), 1);
  });

  for (const status of [500, 503, 429]) {
    it(`retries HTTP ${status}, then succeeds`, async () => {
      const s = await serve((_req, res, nth) => (nth === 1 ? res.writeHead(status).end() : sendBody(res, body)));
      await downloadFile(s.url('/m.onnx'), dest, { ...fast, sha256 });
      assert.equal(s.hits(), 2);
      assert.deepEqual(await readFile(dest), body);
    });
  }

  it('times out a server that stalls mid-body, and retries the timeout', async () => {
    const s = await serve((_req, res) => sendHalfThenStall(res, body));
    await assert.rejects(
      downloadFile(s.url('/m.onnx'), dest, { sha256, timeoutMs: 200, retries: 1, retryDelayMs: 1 }),
      isError('DOWNLOAD_FAILED', 'no data for 200 ms', '2 attempts'),
    );
    assert.equal(s.hits(), 2);
    assert.deepEqual(await leftovers(), []);
  });

  it('times out a server that never sends headers', async () => {
    const s = await serve(() => {});
    await assert.rejects(
      downloadFile(s.url('/m.onnx'), dest, { timeoutMs: 200, retries: 0 }),
      isError('DOWNLOAD_FAILED', 'no data for 200 ms'),
    );
    assert.equal(s.hits(), 1);
  });

  it('follows redirects, relative and absolute', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/a') res.writeHead(301, { location: '/b' }).end();
      else if (req.url === '/b') res.writeHead(302, { location: s.url('/real') }).end();
      else sendBody(res, body);
    });
    await downloadFile(s.url('/a'), dest, { ...fast, sha256 });
    assert.deepEqual(await readFile(dest), body);
    assert.deepEqual([s.hits('/a'), s.hits('/b'), s.hits('/real')], [1, 1, 1]);
  });

  it('stops after 5 redirects', async () => {
    const s = await serve((req, res) => {
      const n = Number(req.url?.slice(1));
      if (n < 10) res.writeHead(302, { location: `/${n + 1}` }).end();
      else sendBody(res, body);
    });
    await downloadFile(s.url('/5'), dest, fast); // exactly 5 redirects: fine
    await assert.rejects(downloadFile(s.url('/4'), dest, fast), isError('DOWNLOAD_FAILED', 'more than 5 redirects'));
    assert.equal(s.hits('/10'), 1);
  });

  it('waits at least the Retry-After of a 503 before retrying', async () => {
    const times: number[] = [];
    const s = await serve((_req, res, nth) => {
      times.push(performance.now());
      if (nth === 1) res.writeHead(503, { 'retry-after': '1' }).end();
      else sendBody(res, body);
    });
    await downloadFile(s.url('/m.onnx'), dest, { ...fast, sha256 });
    assert.equal(s.hits(), 2);
    assert.ok(times[1]! - times[0]! >= 990, `retried after ${(times[1]! - times[0]!).toFixed(0)} ms`);
  });

  it('refuses a redirect from https to http, without retrying, and leaves no file', async () => {
    const plain = await serve((_req, res) => sendBody(res, body));
    const tls = await startTestServer((_req, res) => res.writeHead(301, { location: plain.url('/m.onnx') }).end(), { https: true });
    try {
      await assert.rejects(
        downloadFile(tls.url('/m.onnx'), dest, fast),
        isError('DOWNLOAD_FAILED', `download of ${tls.url('/m.onnx')} failed: refused redirect from https to ${plain.url('/m.onnx')}`),
      );
      assert.deepEqual([tls.hits(), plain.hits()], [1, 0]);
      assert.deepEqual(await leftovers(), []);
    } finally {
      await tls.close();
    }
  });

  it('sweeps its own temp files older than a day but keeps recent ones and other files\' ones', async () => {
    const s = await serve((_req, res) => sendBody(res, body));
    const stale = join(dir, '.model.onnx.1-0000dead.tmp');
    const recent = join(dir, '.model.onnx.2-0000beef.tmp');
    const other = join(dir, '.other.onnx.1-0000dead.tmp');
    for (const file of [stale, recent, other]) await writeFile(file, 'x');
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    await utimes(stale, twoDaysAgo, twoDaysAgo);
    await utimes(other, twoDaysAgo, twoDaysAgo);
    await downloadFile(s.url('/m.onnx'), dest, fast);
    assert.deepEqual(await leftovers(), ['.model.onnx.2-0000beef.tmp', '.other.onnx.1-0000dead.tmp', 'model.onnx']);
  });

  it('BAD CALL - non-http URL', async () => {
    await assert.rejects(downloadFile('ftp://127.0.0.1/m.onnx', dest), (error: unknown) => {
      assert.ok(error instanceof PosterscopeError);
      assert.equal(error.code, 'INVALID_ARGUMENT');
      assert.equal(error.subject, 'url');
      assert.equal(error.message, 'Expected an http: or https: URL for url but received string "ftp://127.0.0.1/m.onnx"');
      return true;
    });
  });

  it('BAD CALL - negative retries', async () => {
    await assert.rejects(downloadFile('http://127.0.0.1/m.onnx', dest, { retries: -1 }), (error: unknown) => {
      assert.ok(error instanceof PosterscopeError);
      assert.equal(error.subject, 'retries');
      return true;
    });
  });
});
