/**
 * Where the real posters and the real backbone live for integration tests:
 * $POSTERSCOPE_SHARED, else `../shared` beside the project. In CI they must be
 * there; on a developer machine without them the integration tests skip.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ROOT } from './cli.js';

export const SHARED = resolve(process.env.POSTERSCOPE_SHARED ?? join(ROOT, '..', 'shared'));
export const POSTERS = join(SHARED, 'data', 'posters', 'images');
export const UNLABELED = join(SHARED, 'data', 'posters', 'unlabeled');
export const MODELS = join(SHARED, 'models');

const present = existsSync(POSTERS) && existsSync(MODELS);
if (!present && process.env.CI) {
  throw new Error(`integration data not found at ${SHARED}: set POSTERSCOPE_SHARED (CI must run these tests)`);
}

/** `skip` option for node:test: false when the data is there. */
export const skipWithoutShared = present ? false : `no shared data at ${SHARED} (set POSTERSCOPE_SHARED)`;
