/**
 * Garbage collection on demand, for tests that check what happens once
 * something is collected (finalisers, freed native memory): the one place
 * that turns `--expose-gc` on at run time.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A full collection, then a pause of `pauseMs` so finalisers and their messages run. */
export async function collectGarbage(pauseMs = 20): Promise<void> {
  gc();
  await new Promise((resolve) => setTimeout(resolve, pauseMs));
}
