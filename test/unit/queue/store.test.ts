import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PosterscopeError } from '../../../src/errors.js';
import { type ChunkManifest, checkRedisUrl, chunkJobId, redactUrl } from '../../../src/queue/jobs.js';
import { type ResultStore, openDirectoryStore } from '../../../src/queue/store.js';
import { type TempDir, makeTempDir } from '../../helpers/images.js';

let dir: TempDir;
let store: ResultStore;

before(async () => {
  dir = await makeTempDir('posterscope-store-');
  store = await openDirectoryStore(dir.file('store'));
});

after(async () => {
  await dir.remove();
});

describe('openDirectoryStore', () => {
  it('writes whole files under their keys, leaving no temporaries', async () => {
    assert.equal(await store.has('chunks/a.json'), false);
    assert.equal(await store.read('chunks/a.json'), undefined);
    await store.write('chunks/a.json', '{"rows":[]}');
    await store.write('chunks/a.json', '{"rows":[1]}');
    assert.equal((await store.read('chunks/a.json'))!.toString(), '{"rows":[1]}');
    assert.equal(await store.has('chunks/a.json'), true);
    assert.deepEqual(await readdir(join(store.location, 'chunks')), ['a.json']);
  });

  it('BAD CALL - a key that leaves the store or is not a plain path', async () => {
    for (const key of ['../x.json', 'a/../../x', '/etc/passwd', 'a//b', 'a b']) {
      await assert.rejects(store.write(key, 'x'), (error: unknown) => {
        assert.ok(error instanceof PosterscopeError);
        assert.equal(error.code, 'INVALID_ARGUMENT');
        assert.match(error.message, /^Expected a relative path of letters, digits, "\.", "_" and "-" for store key but received string /);
        return true;
      });
    }
  });

  it('BAD CALL - a store path that is a file', async () => {
    await store.write('file', 'x');
    await assert.rejects(openDirectoryStore(join(store.location, 'file')), /^PosterscopeError: cannot use --store .*file: /);
  });
});

describe('chunkJobId', () => {
  const manifest: ChunkManifest = {
    request: { kind: 'embed', backbone: { id: 'mobilenetv2', sha256: 'a'.repeat(64) }, views: ['native'] },
    entries: [{ source: 'a.jpg', path: '/p/a.jpg', sha256: 'b'.repeat(64) }],
  };

  it('names the same chunk the same way, and any change of poster or setting another way', () => {
    assert.match(chunkJobId(manifest), /^embed-[0-9a-f]{32}$/);
    assert.equal(chunkJobId(structuredClone(manifest)), chunkJobId(manifest));
    const otherView = { ...manifest, request: { ...manifest.request, views: ['full'] } } as ChunkManifest;
    const otherPoster = { ...manifest, entries: [{ ...manifest.entries[0]!, sha256: 'c'.repeat(64) }] };
    assert.notEqual(chunkJobId(otherView), chunkJobId(manifest));
    assert.notEqual(chunkJobId(otherPoster), chunkJobId(manifest));
  });
});

describe('checkRedisUrl', () => {
  it('takes redis:// and rediss:// URLs', () => {
    assert.equal(checkRedisUrl('redis://10.0.0.5:6379'), 'redis://10.0.0.5:6379');
    assert.equal(checkRedisUrl('rediss://user:pw@host:6380/2'), 'rediss://user:pw@host:6380/2');
  });

  it('BAD CALL - anything else, with the one message shape', () => {
    assert.throws(() => checkRedisUrl('localhost:6379'), { message: 'Expected a redis:// or rediss:// URL for --redis but received string "localhost:6379"' });
  });

  it('keeps passwords out of messages', () => {
    assert.equal(redactUrl('redis://user:secret@host:6379'), 'redis://user:***@host:6379');
  });
});
