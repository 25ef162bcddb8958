/**
 * Files that appear whole or not at all: written under a hidden temporary
 * name beside the target, then renamed over it (atomic on one file system).
 * A crash leaves at most a stray temporary, never a torn target.
 */
import { randomBytes } from 'node:crypto';
import { rename, unlink, writeFile } from 'node:fs/promises';
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
