/**
 * Hostile requests against a real `posterscope serve` child process (built
 * CLI, real model and backbone): every one gets its status, code and a
 * one-line message, the server stays healthy and answers a good poster the
 * same way afterwards, and its peak RSS stays under the memory budget.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CLI, ROOT } from '../helpers/cli.js';
import { type TempDir, craftedHugePng, makeTempDir } from '../helpers/images.js';
import { MODELS, UNLABELED, skipWithoutShared } from '../helpers/shared.js';
import { MEMORY_BUDGET_MB, hostileName, image, peakRssOf, pngBomb, truncatedImages } from './hostile.js';

const skip = skipWithoutShared;
let dir: TempDir;
let server: ChildProcess;
let url: string;
let poster: Buffer;
let reference: { genres: string[]; scores: Array<{ genre: string; score: number }> };

type ErrorBody = { error: { code: string; message: string } };

function form(files: Array<[string, Buffer, string]>): FormData {
  const body = new FormData();
  for (const [field, bytes, name] of files) body.append(field, new Blob([new Uint8Array(bytes)]), name);
  return body;
}

async function predictGood(): Promise<typeof reference> {
  const response = await fetch(`${url}/v1/predict`, { method: 'POST', body: form([['image', poster, 'good.jpg']]) });
  assert.equal(response.status, 200);
  return (await response.json()) as typeof reference;
}

/** After each hostile input: alive, nothing left queued, memory under budget. */
async function healthy(what: string): Promise<void> {
  const health = await fetch(`${url}/healthz`);
  assert.equal(health.status, 200, `${what}: /healthz`);
  const state = (await health.json()) as { queued: number };
  assert.equal(state.queued, 0, `${what}: posters left queued`);
  const peak = await peakRssOf(server.pid!);
  assert.ok(peak < MEMORY_BUDGET_MB, `${what}: server peak RSS ${peak.toFixed(0)} MB is over ${MEMORY_BUDGET_MB} MB`);
}

async function expectError(what: string, response: Response, status: number, code: string, message?: RegExp): Promise<void> {
  const text = await response.text();
  assert.equal(response.status, status, `${what}: ${text.slice(0, 300)}`);
  const body = JSON.parse(text) as ErrorBody;
  assert.equal(body.error.code, code, `${what}: ${body.error.message}`);
  assert.ok(!body.error.message.includes('\n') && body.error.message.length < 1000, `${what}: message is not one short line`);
  if (message) assert.match(body.error.message, message, what);
  await healthy(what);
}

before(async () => {
  if (skip) return;
  dir = await makeTempDir('posterscope-abuse-serve-');
  poster = await readFile(join(UNLABELED, 'tt0121766.jpg'));
  server = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--timeout', '30000', '--max-upload', '2'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', POSTERSCOPE_MIRROR: MODELS, POSTERSCOPE_OFFLINE: '1', POSTERSCOPE_CACHE: dir.file('cache') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  url = await new Promise<string>((resolve, reject) => {
    let stderr = '';
    server.stderr!.on('data', (chunk) => {
      stderr += chunk;
      const found = /on (http:\/\/[\d.]+:\d+)\//.exec(stderr);
      if (found) resolve(found[1]!);
    });
    server.on('exit', (code) => reject(new Error(`serve exited (${code}): ${stderr}`)));
  });
  reference = await predictGood();
});

after(async () => {
  if (server && server.exitCode === null) {
    console.log(`server peak RSS after every hostile request: ${(await peakRssOf(server.pid!)).toFixed(0)} MB`);
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  await dir?.remove();
});

test('extreme aspect ratios are refused with the ratio in the message, at once', { skip }, async () => {
  for (const [w, h] of [[10, 10_000], [10_000, 10], [9, 100]] as const) {
    const response = await fetch(`${url}/v1/predict`, { method: 'POST', body: form([['image', await image(w, h, 'png'), 'strip.png']]) });
    await expectError(`${w}x${h}`, response, 415, 'IMAGE_UNSUPPORTED', /aspect ratio \d+(\.\d)?:1 .* beyond 8:1/);
  }
});

test('pixel bombs: a lying header is refused before decoding; a real 49 Mpx bomb decodes within the budget', { skip }, async () => {
  await expectError('crafted 30000x30000', await fetch(`${url}/v1/predict`, { method: 'POST', body: form([['image', craftedHugePng(30_000, 30_000), 'bomb.png']]) }), 422, 'IMAGE_TOO_LARGE', /30000x30000 pixels exceeds/);
  const bomb = await pngBomb();
  const response = await fetch(`${url}/v1/predict`, { method: 'POST', body: form([['image', bomb, 'bomb.png']]) });
  assert.equal(response.status, 200, await response.clone().text());
  await healthy('7000x7000 PNG');
});

test('truncated images of every format are 422 IMAGE_CORRUPT, one per file in a batch', { skip }, async () => {
  const cut = await truncatedImages();
  for (const [name, bytes] of cut) {
    await expectError(name, await fetch(`${url}/v1/predict`, { method: 'POST', body: form([['image', bytes, name]]) }), 422, 'IMAGE_CORRUPT');
  }
  const response = await fetch(`${url}/v1/predict/batch`, { method: 'POST', body: form([...cut.map(([n, b]): [string, Buffer, string] => ['images', b, n]), ['images', poster, 'good.jpg']]) });
  assert.equal(response.status, 200);
  const results = (await response.json()) as Array<{ error?: { code: string } }>;
  assert.deepEqual(results.map((r) => r.error?.code ?? 'ok'), [...cut.map(() => 'IMAGE_CORRUPT'), 'ok']);
  await healthy('truncated batch');
});

test('huge tta and view lists are refused before any work', { skip }, async () => {
  const augments = Array.from({ length: 1500 }, (_, i) => `aug-${i}`).join(',');
  await expectError('1500 augment views', await fetch(`${url}/v1/predict?tta=${augments}`, { method: 'POST', body: form([['image', poster, 'p.jpg']]) }), 400, 'INVALID_ARGUMENT', /backbone passes/);
  const tiles = Array.from({ length: 100 }, (_, i) => `tiles-${(1 + i * 0.03).toFixed(2)}x`).join(',');
  await expectError('100 tile views', await fetch(`${url}/v1/predict?tta=${tiles}`, { method: 'POST', body: form([['image', poster, 'p.jpg']]) }), 400, 'INVALID_ARGUMENT', /backbone passes/);
  const batch = Array.from({ length: 64 }, (_, i): [string, Buffer, string] => ['images', poster, `p${i}.jpg`]);
  await expectError('64 posters x tiles-4x', await fetch(`${url}/v1/predict/batch?tta=tiles-4x,tiles-3x`, { method: 'POST', body: form(batch) }), 400, 'INVALID_ARGUMENT', /64 posters x 2 views/);
  await expectError('unknown view', await fetch(`${url}/v1/predict?tta=${'%1b'.repeat(3000)}`, { method: 'POST', body: form([['image', poster, 'p.jpg']]) }), 400, 'INVALID_ARGUMENT');
  // A query past Node's 16 KB header limit never reaches the routes: refused by the HTTP parser (431), server unharmed.
  const huge = await fetch(`${url}/v1/predict?tta=${'aug-1,'.repeat(5000)}`, { method: 'POST', body: form([['image', poster, 'p.jpg']]) }).then(
    (response) => response.status,
    () => 'closed',
  );
  assert.ok(huge === 431 || huge === 'closed', `a 30 KB query: ${huge}`);
  await healthy('30 KB query');
});

test('malformed multipart variants are 4xx JSON, never 500', { skip }, async () => {
  const raw = (body: string | Uint8Array<ArrayBuffer>, type: string) => fetch(`${url}/v1/predict/batch`, { method: 'POST', body, headers: { 'content-type': type } });
  const part = (b: string, headers: string, data: string) => `--${b}\r\n${headers}\r\n\r\n${data}\r\n`;
  const cases: Array<[string, Promise<Response>]> = [
    ['no boundary', raw('--x\r\n', 'multipart/form-data')],
    ['empty boundary', raw('--\r\n', 'multipart/form-data; boundary=')],
    ['truncated', raw(`--zz\r\nContent-Disposition: form-data; name="images"; filename="a.jpg"\r\n\r\n${poster.subarray(0, 500).toString('latin1')}`, 'multipart/form-data; boundary=zz')],
    ['no disposition', raw(`${part('zz', 'Content-Type: image/jpeg', 'abc')}--zz--\r\n`, 'multipart/form-data; boundary=zz')],
    ['100 KB header line', raw(`${part('zz', `Content-Disposition: form-data; name="images"; filename="${'a'.repeat(100_000)}.jpg"`, 'abc')}--zz--\r\n`, 'multipart/form-data; boundary=zz')],
    ['5000 header lines', raw(`--zz\r\n${'X-A: b\r\n'.repeat(5000)}Content-Disposition: form-data; name="images"; filename="a.jpg"\r\n\r\nabc\r\n--zz--\r\n`, 'multipart/form-data; boundary=zz')],
    ['binary garbage', raw(new Uint8Array(new ArrayBuffer(200_000)).map((_, i) => (i * 7919) & 255), 'multipart/form-data; boundary=zz')],
    ['only the closing boundary', raw('--zz--\r\n', 'multipart/form-data; boundary=zz')],
  ];
  for (const [what, pending] of cases) {
    const response = await pending;
    const text = await response.text();
    if (response.status === 200) {
      // Readable enough to find a part: its file gets its own error.
      const items = JSON.parse(text) as Array<{ error?: { code: string; message: string } }>;
      assert.ok(items.every((item) => item.error && !item.error.message.includes('\n') && item.error.message.length < 1000), `${what}: ${text.slice(0, 200)}`);
      await healthy(what);
      continue;
    }
    assert.ok(response.status >= 400 && response.status < 500, `${what}: ${response.status} ${text.slice(0, 200)}`);
    const body = JSON.parse(text) as ErrorBody;
    assert.ok(['BAD_REQUEST', 'INVALID_ARGUMENT', 'IMAGE_UNSUPPORTED', 'TOO_LARGE'].includes(body.error.code), `${what}: ${body.error.code} ${body.error.message}`);
    assert.ok(!body.error.message.includes('\n'), what);
    await healthy(what);
  }
});

test('oversized requests: 65 files, and 64 files that together pass --max-upload', { skip }, async () => {
  const files = Array.from({ length: 65 }, (_, i): [string, Buffer, string] => ['images', poster, `p${i}.jpg`]);
  await expectError('65 files', await fetch(`${url}/v1/predict/batch`, { method: 'POST', body: form(files) }), 413, 'TOO_MANY_FILES');
  // Each file is under --max-upload (2 MB), all of them together 64 MB: refused after the second, never held at once.
  const big = Buffer.concat([poster, Buffer.alloc(1024 * 1024 - poster.length)]);
  const many = Array.from({ length: 64 }, (_, i): [string, Buffer, string] => ['images', big, `b${i}.jpg`]);
  await expectError('64 x 1 MB', await fetch(`${url}/v1/predict/batch`, { method: 'POST', body: form(many) }), 413, 'TOO_LARGE', /all files together/);
});

test('huge names with control characters: escaped and cut in messages, kept whole only in JSON fields', { skip }, async () => {
  const name = hostileName(1_000_000);
  const response = await fetch(`${url}/v1/predict/batch`, { method: 'POST', body: form([['images', Buffer.from('<html>'), name], ['images', poster, 'ok.jpg']]) });
  const text = await response.text();
  assert.equal(response.status, 200, text.slice(0, 200));
  const [bad, good] = JSON.parse(text) as Array<{ input: string; error?: { code: string; message: string } }>;
  assert.equal(bad!.error!.code, 'IMAGE_UNSUPPORTED');
  assert.ok(!bad!.error!.message.includes('\n') && !bad!.error!.message.includes('\u001b'), 'escaped');
  assert.ok(good!.error === undefined);
  await healthy('1 MB hostile name');
});

test('after all of that the server answers a good poster exactly as before', { skip }, async () => {
  const again = await predictGood();
  assert.deepEqual(again.genres, reference.genres);
  assert.deepEqual(again.scores, reference.scores);
  await healthy('the end');
});
