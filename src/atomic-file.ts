/**
 * Files and directories that appear whole or not at all: written under a
 * hidden temporary name beside the target, then renamed over it (atomic on
 * one file system). A crash leaves at most a stray temporary, never a torn
 * target.
 */
import { randomBytes } from 'node:crypto';
import { cp, mkdir, open, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * @example
 *   await writeFileAtomic('models/mine/manifest.json', JSON.stringify(manifest));
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(temp, data, { flag: 'wx' });
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
}

const previousOf = (dir: string) => join(dirname(dir), `.${basename(dir)}.previous`);
const exists = (path: string) => stat(path).then(() => true, () => false);

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces a whole directory at once: `write` fills a fresh staging
 * directory beside `dir`, everything is flushed to disk, and only then is
 * the old directory moved aside and the staging one renamed into its place.
 * A crash before the swap leaves the old directory untouched; one between
 * the two renames leaves the old one at `.<name>.previous`, where
 * `readableDirectory` finds it and the next write restores it first. Entries
 * of the old directory that `write` did not produce (a user's notes beside
 * a model) are copied over, so replacing never loses them.
 *
 * @example
 *   await writeDirectoryAtomic('models/mine', async (staging) => {
 *     await writeFile(join(staging, 'weights.bin'), bytes);
 *     await writeFile(join(staging, 'manifest.json'), json);
 *   });
 */
export async function writeDirectoryAtomic(dir: string, write: (staging: string) => Promise<void>): Promise<void> {
  const parent = dirname(dir);
  const previous = previousOf(dir);
  await mkdir(parent, { recursive: true });
  // Finish what an interrupted swap left behind: restore the old directory, or drop it once the new one is in place.
  if (await exists(previous)) {
    if (await exists(dir)) await rm(previous, { recursive: true, force: true });
    else await rename(previous, dir);
  }
  const staging = join(parent, `.${basename(dir)}.${process.pid}-${randomBytes(4).toString('hex')}.incoming`);
  await mkdir(staging);
  try {
    await write(staging);
    const written = new Set(await readdir(staging));
    const old = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [] as string[];
      throw error;
    });
    for (const entry of old) {
      if (!written.has(entry)) await cp(join(dir, entry), join(staging, entry), { recursive: true, preserveTimestamps: true });
    }
    for (const entry of await readdir(staging, { withFileTypes: true })) if (entry.isFile()) await fsyncPath(join(staging, entry.name));
    await fsyncPath(staging);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  if (await exists(dir)) await rename(dir, previous);
  await rename(staging, dir);
  await fsyncPath(parent);
  await rm(previous, { recursive: true, force: true });
}

/**
 * Where a directory written by `writeDirectoryAtomic` can be read: `dir`
 * itself, or its previous version when a crash interrupted the swap.
 */
export async function readableDirectory(dir: string): Promise<string> {
  if (!(await exists(dir)) && (await exists(previousOf(dir)))) return previousOf(dir);
  return dir;
}
