/**
 * A small real text-only genre model (title + plot heads, TF-IDF), trained
 * in a few seconds on the first 200 movies of ../shared's imdb-movies.csv,
 * for tests of the surfaces that take text (API, page). No poster, no backbone.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { train } from '../../src/train/train.js';
import { SHARED } from './shared.js';

export const IMDB_MOVIES = join(SHARED, 'data', 'text', 'imdb-movies.csv');

/** Trains the model into `dir/text-model` and returns its path. */
export async function trainTextModel(dir: string): Promise<string> {
  // The file has no quoted newlines: its first 201 lines are the header and 200 movies.
  const lines = (await readFile(IMDB_MOVIES, 'utf8')).split('\n').slice(0, 201);
  const data = join(dir, 'movies-200.csv');
  await writeFile(data, `${lines.join('\n')}\n`);
  const output = join(dir, 'text-model');
  await train({ data, images: [], output, inputs: ['title', 'plot'], minCount: 15, maxEpochs: 15, log: () => {} });
  return output;
}
