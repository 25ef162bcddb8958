import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { PosterCleaner } from '../../../src/clean/clean.js';
import { cleanPosterFiles } from '../../../src/clean/clean-files.js';
import { isError } from '../../helpers/errors.js';
import { type TempDir, makeTempDir } from '../../helpers/images.js';

let dir: TempDir;
before(async () => {
  dir = await makeTempDir('posterscope-clean-files-');
});
after(() => dir.remove());

test('BAD CALL - concurrency must be an integer from 1 (0 used to clean nothing, silently)', async () => {
  const cleaner = { id: 'unused' } as PosterCleaner; // refused before any poster reaches it
  for (const concurrency of [0, 1.5, 65]) {
    await assert.rejects(cleanPosterFiles([dir.file('a.jpg')], { cleaner, out: dir.file('out'), concurrency }), isError('INVALID_ARGUMENT', 'concurrency'));
  }
});
