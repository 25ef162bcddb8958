/** The one HTTP client and retry policy, against real loopback servers (plain and TLS). */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HttpFailure, createHttpClient, withRetries } from '../../../src/net/http.js';
import { sendBody, sendHalfThenCut, sendHalfThenStall, startTestServer, type TestServer } from '../../helpers/http-server.js';

// The TLS server's certificate is self-signed, made by the test.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

const body = Buffer.from('a poster, or so it says');
let plain: TestServer;
let tls: TestServer;
const times = new Map<string, number[]>();

function isFailure(message: string | RegExp, transient: boolean) {
  return (error: unknown) => {
    assert.ok(error instanceof HttpFailure, String(error));
    if (typeof message === 'string') assert.equal(error.message, message);
    else assert.match(error.message, message);
    assert.equal(error.transient, transient, error.message);
    return true;
  };
}

before(async () => {
  plain = await startTestServer((req, res, nth) => {
    const path = req.url ?? '/';
    times.set(path, [...(times.get(path) ?? []), performance.now()]);
    if (path === '/ok') sendBody(res, body);
    else if (path === '/busy-then-ok') (nth === 1 ? res.writeHead(503, { 'retry-after': '1' }).end() : sendBody(res, body));
    else if (path === '/limited') res.writeHead(429, { 'retry-after': '3600' }).end();
    else if (path === '/limited-until') res.writeHead(503, { 'retry-after': new Date(Date.now() + 20_000).toUTCString() }).end();
    else if (path === '/gone') res.writeHead(404).end();
    else if (path === '/cut') sendHalfThenCut(res, body);
    else if (path === '/stall') sendHalfThenStall(res, body);
    else if (path === '/chunked') {
      res.writeHead(200);
      res.write(Buffer.alloc(600));
      res.end(Buffer.alloc(600));
    } else if (path === '/never') {
      /* no answer */
    } else res.writeHead(404).end();
  });
  tls = await startTestServer(
    (req, res) => {
      if (req.url === '/ok') sendBody(res, body);
      else if (req.url === '/to-https') res.writeHead(302, { location: '/ok' }).end();
      else if (req.url === '/to-http') res.writeHead(302, { location: plain.url('/ok') }).end();
      else res.writeHead(404).end();
    },
    { https: true },
  );
});

after(async () => {
  await plain.close();
  await tls.close();
});

describe('HttpClient.get', () => {
  const client = createHttpClient();
  after(() => client.close());

  it('returns the body over http and https, following an https redirect', async () => {
    for (const url of [plain.url('/ok'), tls.url('/to-https')]) {
      const response = await client.get(url);
      assert.equal(response.declaredBytes, body.length);
      assert.deepEqual(await response.bytes(), body);
      response.close();
    }
  });

  it('refuses a redirect from https to http, once, without retrying', async () => {
    const before = plain.hits('/ok');
    await assert.rejects(
      withRetries(() => client.get(tls.url('/to-http')), { retries: 3, retryDelayMs: 1 }),
      isFailure(`refused redirect from https to ${plain.url('/ok')}`, false),
    );
    assert.equal(plain.hits('/ok'), before);
  });

  it('classifies statuses: 5xx / 429 transient with Retry-After (capped at a minute, dates too), 404 not', async () => {
    await assert.rejects(client.get(plain.url('/gone')), isFailure('HTTP 404 Not Found', false));
    await assert.rejects(client.get(plain.url('/limited')), (error: unknown) => {
      isFailure('HTTP 429 Too Many Requests', true)(error);
      assert.equal((error as HttpFailure).retryAfterMs, 60_000);
      return true;
    });
    await assert.rejects(client.get(plain.url('/limited-until')), (error: unknown) => {
      const wait = (error as HttpFailure).retryAfterMs;
      assert.ok(wait > 15_000 && wait <= 20_000, String(wait));
      return true;
    });
  });

  it('times out: idle ("no data") and total ("timed out"), both transient', async () => {
    await assert.rejects(client.get(plain.url('/never'), { idleTimeoutMs: 100 }), isFailure('no data for 100 ms', true));
    const stalled = await client.get(plain.url('/stall'), { idleTimeoutMs: 100 });
    await assert.rejects(stalled.bytes(), isFailure('no data for 100 ms', true));
    stalled.close();
    await assert.rejects(client.get(plain.url('/never'), { timeoutMs: 150 }), isFailure('timed out after 150 ms', true));
  });

  it('a body cut short is transient; a body over maxBytes is not', async () => {
    const cut = await client.get(plain.url('/cut'));
    await assert.rejects(cut.bytes(), isFailure(`connection cut after ${body.length >> 1} of ${body.length} bytes`, true));
    cut.close();
    await assert.rejects(client.get(plain.url('/ok'), { maxBytes: 5 }), isFailure('larger than the limit of 5 bytes', false));
    const chunked = await client.get(plain.url('/chunked'), { maxBytes: 1000 });
    assert.equal(chunked.declaredBytes, undefined);
    await assert.rejects(chunked.bytes(), isFailure('larger than the limit of 1000 bytes', false));
    chunked.close();
  });

  it('a refused connection is transient', async () => {
    const closed = await startTestServer(() => {});
    const url = closed.url('/x');
    await closed.close();
    await assert.rejects(client.get(url), isFailure(/ECONNREFUSED/, true));
  });

  it('an abort signal stops the request with its reason', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stopped by the user')), 50);
    await assert.rejects(client.get(plain.url('/never'), { signal: controller.signal }), /stopped by the user/);
  });
});

describe('withRetries', () => {
  const client = createHttpClient({ keepAlive: true });
  after(() => client.close());

  const getBytes = (path: string, attempts: number[]) => (n: number) => {
    attempts.push(n);
    return client.get(plain.url(path)).then(async (response) => {
      try {
        return await response.bytes();
      } finally {
        response.close();
      }
    });
  };

  it('waits at least the Retry-After a 503 asks for, then succeeds', async () => {
    const attempts: number[] = [];
    assert.deepEqual(await withRetries(getBytes('/busy-then-ok', attempts), { retries: 3, retryDelayMs: 1 }), body);
    assert.deepEqual(attempts, [1, 2]);
    const [first, second] = times.get('/busy-then-ok')!;
    assert.ok(second! - first! >= 990, `retried after ${(second! - first!).toFixed(0)} ms`);
  });

  it('retries transient failures up to the limit, others never', async () => {
    const cut: number[] = [];
    await assert.rejects(withRetries(getBytes('/cut', cut), { retries: 2, retryDelayMs: 1 }), isFailure(/^connection cut/, true));
    assert.deepEqual(cut, [1, 2, 3]);
    const gone: number[] = [];
    await assert.rejects(withRetries(getBytes('/gone', gone), { retries: 2, retryDelayMs: 1 }), isFailure('HTTP 404 Not Found', false));
    assert.deepEqual(gone, [1]);
    const other: number[] = [];
    await assert.rejects(
      withRetries(async (n) => {
        other.push(n);
        throw new Error('not an HTTP failure');
      }, { retries: 2, retryDelayMs: 1 }),
      /not an HTTP failure/,
    );
    assert.deepEqual(other, [1]);
  });
});
