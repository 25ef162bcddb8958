/**
 * Where queue workers put what they compute: a shared location every machine
 * of the pool reaches (a shared file system path here; object storage would be
 * a second implementation of `ResultStore`). Redis only carries job state and
 * small summaries; vectors, predictions and cleaned posters live here, keyed
 * by content hash, each written whole or not at all.
 *
 * Layout (keys are `/`-separated paths under the store):
 *
 *   manifests/<job id>.json                      the posters of one chunk (written by `queue add`)
 *   chunks/<job id>.json                         what a worker did with each of them (rows, errors)
 *   embeddings/<backbone fingerprint>-p<v>/<job id>.f32
 *                                                a chunk's vectors: [embeddingKey(sha256, view) | float32 x dim] records
 *   predictions/<model checksum>-<views>/<ss>/<sha256>.json
 *                                                genres and scores of one poster
 *   clean/<cleaner id>/<ss>/<sha256>.<ext> and .json
 *                                                the text-free poster and its boxes record
 *
 * `<ss>` is the first two hex digits of the content hash, so no folder holds
 * more than 1/256 of the files.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { PosterscopeError, invalidParameterError } from '../errors.js';

/** The one interface workers, `queue add` and `queue collect` use to reach shared results. */
export interface ResultStore {
  /** Where it is, for messages. */
  readonly location: string;
  /** The bytes under `key`, or undefined when there are none. */
  read(key: string): Promise<Buffer | undefined>;
  /** Stores `data` under `key` atomically: a reader sees the old bytes or the new, never a part. */
  write(key: string, data: Uint8Array | string): Promise<void>;
  has(key: string): Promise<boolean>;
}

const KEY = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

function checkKey(key: string): string {
  if (!KEY.test(key) || key.split('/').some((part) => part === '.' || part === '..')) {
    throw invalidParameterError('store key', 'a relative path of letters, digits, ".", "_" and "-"', key);
  }
  return key;
}

/**
 * A store in a directory (local, NFS, or any shared file system mount).
 * Files are written under a temporary name and renamed into place.
 *
 * @example
 *   const store = await openDirectoryStore('/mnt/shared/posterscope');
 *   await store.write('chunks/ab12.json', '{"rows":[]}');
 *   (await store.read('chunks/ab12.json'))?.toString() // -> '{"rows":[]}'
 */
export async function openDirectoryStore(dir: string): Promise<ResultStore> {
  const root = resolve(dir);
  try {
    await mkdir(root, { recursive: true });
    if (!(await stat(root)).isDirectory()) throw new Error('not a directory');
  } catch (error) {
    throw new PosterscopeError('INVALID_ARGUMENT', `cannot use --store ${dir}: ${(error as Error).message.split('\n')[0]}`, { subject: '--store', cause: error });
  }
  const made = new Set<string>();
  const pathOf = (key: string) => join(root, ...checkKey(key).split('/'));
  return {
    location: root,
    async read(key) {
      try {
        return await readFile(pathOf(key));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    async write(key, data) {
      const path = pathOf(key);
      const folder = dirname(path);
      if (!made.has(folder)) {
        await mkdir(folder, { recursive: true });
        made.add(folder);
      }
      await writeFileAtomic(path, data);
    },
    async has(key) {
      return stat(pathOf(key)).then(
        (info) => info.isFile(),
        () => false,
      );
    },
  };
}

/** Two hex digits of fan-out. */
export const shard = (hex: string) => hex.slice(0, 2);
