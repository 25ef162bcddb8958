import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { PosterscopeError } from '../../../src/errors.js';
import { defaultCacheDir, readModelFile, resolveModelFile, type ModelFileSpec, type ResolveOptions } from '../../../src/models/resolve.js';
import { sendBody, startTestServer, type TestServer } from '../../helpers/http-server.js';

const body = randomBytes(64 * 1024);
const sha256 = createHash('sha256').update(body).digest('hex');
const fileName = 'tiny-backbone.onnx';

let root: string;
let cacheDir: string;
let cacheModels: string;
let warnings: string[];
let server: TestServer;

/** Options that never read the real environment or the real cache. */
function options(extra: ResolveOptions = {}): ResolveOptions {
  return { cacheDir, env: {}, onWarning: (m) => warnings.push(m), retryDelayMs: 1, timeoutMs: 5000, ...extra };
}

function spec(extra: Partial<ModelFileSpec> = {}): ModelFileSpec {
  return { fileName, urls: [server.url(`/${fileName}`)], sha256, size: body.length, ...extra };
}

function isError(code: string, ...fragments: string[]) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof PosterscopeError, `expected PosterscopeError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.ok(!error.message.includes('\n'), `message is not one line: ${error.message}`);
    for (const fragment of fragments) assert.ok(error.message.includes(fragment), `"${fragment}" not in: ${error.message}`);
    return true;
  };
}

describe('defaultCacheDir', () => {
  it('prefers POSTERSCOPE_CACHE, then an absolute XDG_CACHE_HOME, then HOME', () => {
    assert.equal(defaultCacheDir({ POSTERSCOPE_CACHE: '/p', XDG_CACHE_HOME: '/x', HOME: '/h' }), '/p');
    assert.equal(defaultCacheDir({ XDG_CACHE_HOME: '/x', HOME: '/h' }), '/x/posterscope');
    assert.equal(defaultCacheDir({ XDG_CACHE_HOME: 'relative', HOME: '/h' }), '/h/.cache/posterscope');
    assert.equal(defaultCacheDir({ HOME: '/home/u' }), '/home/u/.cache/posterscope');
  });
});

describe('resolveModelFile', () => {
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'posterscope-resolve-'));
    cacheDir = join(root, 'cache');
    cacheModels = join(cacheDir, 'models');
    warnings = [];
    server = await startTestServer((_req, res) => sendBody(res, body));
  });
  afterEach(async () => {
    await server.close();
    await rm(root, { recursive: true, force: true });
  });

  it('downloads into the cache, then serves the cache without any request', async () => {
    const first = await resolveModelFile(spec(), options());
    assert.deepEqual(first, { path: join(cacheModels, fileName), source: 'download', sha256 });
    assert.deepEqual(await readFile(first.path), body);
    assert.equal(server.hits(), 1);

    const second = await resolveModelFile(spec(), options());
    assert.deepEqual(second, { path: first.path, source: 'cache', sha256 });
    assert.equal(server.hits(), 1);
    assert.deepEqual((await readdir(cacheModels)).sort(), [fileName, `${fileName}.sha256`]);
    assert.deepEqual(warnings, []);
  });

  it('takes the cache directory from the env when not given', async () => {
    const got = await resolveModelFile(spec(), { ...options(), cacheDir: undefined, env: { POSTERSCOPE_CACHE: cacheDir } });
    assert.equal(got.path, join(cacheModels, fileName));
  });

  it('trusts the sidecar while the file\'s identity matches; a rewrite with its mtime restored is caught by its ctime', async () => {
    const { path } = await resolveModelFile(spec(), options());
    // A whole-second mtime survives utimes exactly, so it can be restored below.
    const pinned = 1_700_000_000;
    await utimes(path, pinned, pinned);
    assert.equal((await resolveModelFile(spec(), options({ offline: true }))).source, 'cache'); // re-hashed, sidecar rewritten

    const tampered = Buffer.from(body);
    tampered[0] = tampered[0]! ^ 0xff;
    await writeFile(path, tampered);
    await utimes(path, pinned, pinned);
    // Same size and mtime, but the rewrite moved the ctime (no call can set it back): re-hashed, refused.
    await assert.rejects(resolveModelFile(spec(), options({ offline: true })), isError('MODEL_NOT_FOUND', 'checksum mismatch'));
  });

  it('readModelFile hashes the bytes it loads: a wrong record never gets a wrong file loaded', async () => {
    const { path } = await resolveModelFile(spec(), options());
    const tampered = Buffer.from(body);
    tampered[100] = tampered[100]! ^ 0xff;
    await writeFile(path, tampered);
    // A record claiming the good hash for the tampered file (as if hashed before the change, identity unchanged).
    const info = await stat(path);
    await writeFile(`${path}.sha256`, `${info.size} ${info.mtimeMs}/${info.ctimeMs}/${info.dev}/${info.ino} ${sha256}\n`);
    assert.equal((await resolveModelFile(spec(), options({ offline: true }))).source, 'cache', 'the record is trusted on its own');
    const { file, bytes } = await readModelFile(spec(), options());
    assert.ok(bytes.equals(body), 'the good file was loaded');
    assert.equal(file.source, 'download');
    assert.ok((await readdir(cacheModels)).includes(`${fileName}.corrupt`), 'the bad copy was moved aside');
  });

  it('moves a corrupt cached file aside with a warning and downloads a fresh one', async () => {
    await mkdir(cacheModels, { recursive: true });
    await writeFile(join(cacheModels, fileName), randomBytes(body.length));
    const got = await resolveModelFile(spec(), options());
    assert.equal(got.source, 'download');
    assert.deepEqual(await readFile(got.path), body);
    assert.equal(server.hits(), 1);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /ignored: sha256 [0-9a-f]{64}, expected [0-9a-f]{64}; moved to .*\.corrupt$/);
    assert.equal((await stat(join(cacheModels, `${fileName}.corrupt`))).size, body.length);
  });

  it('offline: never touches the network and lists every place it looked', async () => {
    const mirror = join(root, 'mirror');
    await assert.rejects(
      resolveModelFile(spec(), options({ offline: true, mirrors: [mirror] })),
      isError('MODEL_NOT_FOUND', `${fileName} not found: looked in cache ${cacheModels} (missing), mirror ${mirror} (missing), download skipped (offline)`),
    );
    assert.equal(server.hits(), 0);
  });

  it('offline from POSTERSCOPE_OFFLINE, with the mirror hint when no mirror is set', async () => {
    for (const value of ['1', 'true']) {
      await assert.rejects(
        resolveModelFile(spec(), options({ env: { POSTERSCOPE_OFFLINE: value } })),
        isError('MODEL_NOT_FOUND', 'no mirror (set POSTERSCOPE_MIRROR)', 'download skipped (offline)'),
      );
    }
    assert.equal(server.hits(), 0);
  });

  it('uses a good explicit path first', async () => {
    const file = join(root, 'mine.onnx');
    await writeFile(file, body);
    assert.deepEqual(await resolveModelFile(spec(), options({ path: file })), { path: file, source: 'path', sha256 });
    assert.equal(server.hits(), 0);
  });

  it('refuses an explicit path with the wrong checksum instead of falling back', async () => {
    const file = join(root, 'mine.onnx');
    const wrong = randomBytes(body.length);
    await writeFile(file, wrong);
    const actual = createHash('sha256').update(wrong).digest('hex');
    await assert.rejects(
      resolveModelFile(spec(), options({ path: file })),
      isError('MODEL_CHECKSUM_MISMATCH', file, `sha256 ${actual}, expected ${sha256}`),
    );
    assert.equal(server.hits(), 0);
  });

  it('finds the file in a mirror from POSTERSCOPE_MIRROR and uses it in place', async () => {
    const empty = join(root, 'm1');
    const full = join(root, 'm2');
    await mkdir(empty);
    await mkdir(full);
    await writeFile(join(full, fileName), body);
    const got = await resolveModelFile(spec(), options({ env: { POSTERSCOPE_MIRROR: `${empty}:${full}` } }));
    assert.deepEqual(got, { path: join(full, fileName), source: 'mirror', sha256 });
    assert.equal(server.hits(), 0);
    await assert.rejects(stat(cacheModels), { code: 'ENOENT' });
  });

  it('skips a mirror copy with the wrong checksum, with a warning', async () => {
    const bad = join(root, 'bad');
    await mkdir(bad);
    await writeFile(join(bad, fileName), randomBytes(body.length));
    const got = await resolveModelFile(spec(), options({ mirrors: [bad] }));
    assert.equal(got.source, 'download');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /^mirror file .* ignored: sha256/);
  });

  it('names every place and the reason per URL when all downloads fail', async () => {
    await server.close();
    server = await startTestServer((req, res) => res.writeHead(req.url === '/gone' ? 404 : 500).end());
    const given = join(root, 'nope.onnx');
    const mirrors = [join(root, 'm1'), join(root, 'm2')];
    const urls = [server.url('/gone'), server.url('/broken')];
    await assert.rejects(
      resolveModelFile(spec({ urls }), options({ path: given, mirrors, retries: 1 })),
      isError(
        'DOWNLOAD_FAILED',
        `${fileName} not found: looked in path ${given} (missing), cache ${cacheModels} (missing), ` +
          `mirror ${mirrors[0]} (missing), mirror ${mirrors[1]} (missing); ` +
          `download of ${urls[0]} failed: HTTP 404 Not Found; ` +
          `download of ${urls[1]} failed: HTTP 500 Internal Server Error (2 attempts)`,
      ),
    );
    assert.deepEqual([server.hits('/gone'), server.hits('/broken')], [1, 2]);
    assert.deepEqual(await readdir(cacheModels), []);
  });

  it('falls through to the next URL when one serves the wrong file', async () => {
    await server.close();
    server = await startTestServer((req, res) => sendBody(res, req.url === '/wrong' ? randomBytes(body.length) : body));
    const got = await resolveModelFile(spec({ urls: [server.url('/wrong'), server.url('/right')] }), options());
    assert.equal(got.source, 'download');
    assert.deepEqual([server.hits('/wrong'), server.hits('/right')], [1, 1]);
  });

  it('reports a checksum mismatch when every URL serves the wrong file', async () => {
    await assert.rejects(
      resolveModelFile(spec({ sha256: 'a'.repeat(64) }), options()),
      isError('MODEL_CHECKSUM_MISMATCH', `expected ${'a'.repeat(64)}, got ${sha256}`),
    );
    assert.equal(server.hits(), 1);
    assert.deepEqual(await readdir(cacheModels), []);
  });

  it('accepts a file of the right size when no sha256 is known, with a warning', async () => {
    const got = await resolveModelFile(spec({ sha256: null }), options());
    assert.deepEqual(got, { path: join(cacheModels, fileName), source: 'download', sha256 });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /no sha256 known for tiny-backbone\.onnx; accepted .* on size alone/);
  });

  it('BAD CALL - file name with a path separator', async () => {
    await assert.rejects(resolveModelFile(spec({ fileName: '../evil.onnx' }), options()), (error: unknown) => {
      assert.ok(error instanceof PosterscopeError);
      assert.equal(error.code, 'INVALID_ARGUMENT');
      assert.equal(error.subject, 'spec.fileName');
      return true;
    });
  });
});
