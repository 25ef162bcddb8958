/**
 * Files and directories that appear whole or not at all: written under a
 * hidden temporary name beside the target (`.<name>.<pid>-<random>.tmp` for
 * files), then renamed over it (atomic on one file system). A crash leaves at
 * most a stray temporary, never a torn target; `removeStaleTemporaries`
 * sweeps old strays.
 */
import { randomBytes } from 'node:crypto';
import { cp, mkdir, open, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { asWriteError } from './errors.js';

/** Temporaries older than this were left by a killed process; a younger one may be another process's write in progress. */
const STALE_MS = 24 * 60 * 60 * 1000;
const TEMPORARY = /^\.(.+)\.\d+-[0-9a-f]{8}\.tmp$/;

function temporaryPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * @example
 *   await writeFileAtomic('models/mine/manifest.json', JSON.stringify(manifest));
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const temp = temporaryPath(path);
  try {
    await writeFile(temp, data, { flag: 'wx' });
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw asWriteError(path, error);
  }
}

/** A file written in pieces that appears at `path` only on `commit()`. */
export interface AtomicFile {
  write(chunk: Uint8Array): Promise<void>;
  /** fsyncs the file, renames it into place and fsyncs the folder (best effort), so the file survives a power cut. */
  commit(): Promise<void>;
  /** Removes the temporary; `path` is untouched. Safe to call after `commit()` or twice. */
  abort(): Promise<void>;
}

/**
 * @example
 *   const file = await openAtomicFile('cache/models/m.onnx');
 *   try {
 *     for await (const chunk of body) await file.write(chunk);
 *     await file.commit();   // cache/models/m.onnx appears, complete
 *   } finally {
 *     await file.abort();    // after a failure: no trace left
 *   }
 */
export async function openAtomicFile(path: string): Promise<AtomicFile> {
  const temp = temporaryPath(path);
  const handle = await open(temp, 'wx');
  let state: 'open' | 'committed' | 'aborted' = 'open';
  return {
    write: async (chunk) => {
      await handle.write(chunk).catch((error: unknown) => {
        throw asWriteError(path, error);
      });
    },
    commit: async () => {
      try {
        await handle.sync();
        await handle.close();
        await rename(temp, path);
      } catch (error) {
        throw asWriteError(path, error);
      }
      state = 'committed';
      await syncFolder(dirname(path));
    },
    abort: async () => {
      if (state !== 'open') return;
      state = 'aborted';
      await handle.close().catch(() => {});
      await unlink(temp).catch(() => {});
    },
  };
}

/** Makes a rename durable; best effort, as not every platform can fsync a folder. */
async function syncFolder(dir: string): Promise<void> {
  try {
    await fsyncPath(dir);
  } catch {
    // the file itself is already fsynced; losing the rename only costs redoing the work
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
 * Removes the temporaries in `dir` (only those for the file `name`, when
 * given) that are more than a day old: left by killed processes.
 *
 * @example
 *   await removeStaleTemporaries('posters/');            // any poster's
 *   await removeStaleTemporaries('cache/models', 'm.onnx'); // only m.onnx's
 */
export async function removeStaleTemporaries(dir: string, name?: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const entry of names) {
    const match = TEMPORARY.exec(entry);
    if (!match || (name !== undefined && match[1] !== name)) continue;
    const path = join(dir, entry);
    const info = await stat(path).catch(() => undefined);
    if (info?.isFile() && Date.now() - info.mtimeMs > STALE_MS) await unlink(path).catch(() => {});
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
    throw asWriteError(dir, error);
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
