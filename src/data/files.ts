/**
 * Poster files on disk: the one directory walker (symlinks followed, loops
 * cut), what a user typed (files, directories, globs) turned into poster
 * files, and the one lookup of a table row's poster in the image folders.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, resolve, sep } from 'node:path';
import { glob } from 'tinyglobby';
import { invalidParameterError } from '../errors.js';

/** Extensions picked up when walking a directory (files named explicitly are always tried). */
export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.avif', '.tif', '.tiff']);

/** Extensions tried, in this order and in any case, for a row's `<id><ext>`. */
export const ID_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp'];

const isImageName = (name: string) => IMAGE_EXTENSIONS.has(extname(name).toLowerCase());

/** Directory order: siblings by name, a folder's files where the folder sorts. */
function byFolderOrder(a: string, b: string): number {
  const x = a.split(sep);
  const y = b.split(sep);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const order = x[i]!.localeCompare(y[i]!);
    if (order !== 0) return order;
  }
  return x.length - y.length;
}

/**
 * Drops paths that are the same file as an earlier one (a symlink loop walked
 * once around, a link beside its target), keeping the first path seen.
 */
async function distinctFiles(paths: readonly string[], seen: Set<string>): Promise<string[]> {
  // Resolved REALPATH_AHEAD at a time (each is a task on libuv's pool; one by
  // one, 6,000 posters took 0.3 s), then kept in the order given.
  const reals: string[] = new Array(paths.length);
  let next = 0;
  const resolveNext = async (): Promise<void> => {
    for (let i = next++; i < paths.length; i = next++) reals[i] = await realpath(paths[i]!).catch(() => resolve(paths[i]!));
  };
  await Promise.all(Array.from({ length: Math.min(REALPATH_AHEAD, paths.length) }, resolveNext));
  const out: string[] = [];
  paths.forEach((path, i) => {
    if (seen.has(reals[i]!)) return;
    seen.add(reals[i]!);
    out.push(path);
  });
  return out;
}

/** Real paths resolved at once when listing files. */
const REALPATH_AHEAD = 16;

/**
 * Every image file under `dir` (recursively, hidden ones included), symlinks
 * to files and folders followed, each file once however many links lead to
 * it; in folder order. Throws when `dir` cannot be read.
 *
 * @example
 *   await walkImageFiles('posters')
 *   // -> ['posters/a.jpg', 'posters/b.PNG', 'posters/linked.jpg', 'posters/sub/c.webp']
 */
export async function walkImageFiles(dir: string): Promise<string[]> {
  return (await walkDistinct(dir, new Set())).files;
}

/** walkImageFiles, leaving out files already in `seen` (real paths), which it extends. */
async function walkDistinct(dir: string, seen: Set<string>): Promise<{ files: string[]; images: number }> {
  await readdir(dir); // a missing or unreadable folder is an error, not an empty list
  const found = await glob('**/*', { cwd: dir, dot: true, onlyFiles: true, followSymbolicLinks: true, expandDirectories: false });
  const images = found.filter(isImageName).map((p) => join(dir, p));
  images.sort(byFolderOrder);
  return { files: await distinctFiles(images, seen), images: images.length };
}

export interface CollectedFiles {
  files: string[];
  /** Inputs that matched nothing, with the reason. */
  missing: Array<{ input: string; reason: string }>;
}

/**
 * Expands files, directories (recursively) and globs (`*`, `?`, `**`, `[ab]`,
 * `{a,b}`) into a de-duplicated list of image files: each directory and glob
 * in folder order, inputs in the order given.
 *
 * @example
 *   await collectImageFiles(['posters/', 'extra/*.png', 'nope.jpg'])
 *   // -> { files: ['posters/a.jpg', 'extra/b.png', 'nope.jpg'], missing: [] }
 *   // (a named file that does not exist is kept: reading it reports why)
 */
export async function collectImageFiles(inputs: readonly string[]): Promise<CollectedFiles> {
  const files: string[] = [];
  const missing: CollectedFiles['missing'] = [];
  const seen = new Set<string>();
  for (const input of inputs) {
    if (/[*?]/.test(input)) {
      const matched = await glob(input.split(sep).join('/'), { dot: true, onlyFiles: true, followSymbolicLinks: true, expandDirectories: false, absolute: isAbsolute(input) });
      const images = matched.filter(isImageName).map((p) => p.split('/').join(sep));
      images.sort(byFolderOrder);
      const added = await distinctFiles(images, seen);
      if (images.length === 0) missing.push({ input, reason: 'pattern matched no image files' });
      files.push(...added);
      continue;
    }
    const info = await stat(input).catch(() => null);
    if (info?.isDirectory()) {
      // Each file's real path resolved once, against this directory's and every earlier input's.
      const { files: found, images } = await walkDistinct(input, seen);
      if (images === 0) missing.push({ input, reason: 'directory holds no image files' });
      files.push(...found);
    } else if (info) {
      files.push(...(await distinctFiles([input], seen)));
    } else {
      // Kept: the poster reader reports the precise reason for this input.
      if (!files.includes(input)) files.push(input);
    }
  }
  return { files, missing };
}

/**
 * Finds a table row's poster in the image folders, listing each folder once
 * however many rows ask (a readdir per folder, not a stat per row).
 *
 * - By id: `<id><ext>` for each of `extensions` in any case (`tt1.JPG` is
 *   found for `.jpg`), in the first folder holding one; an id that already
 *   names an image file (`tt1.jpg`) is tried as it is first.
 * - By path: relative to each folder in turn, or absolute.
 *
 * @example
 *   const folders = new ImageFolders(['posters/', 'more/']);
 *   await folders.find({ id: 'tt0000001' })          // -> 'posters/tt0000001.JPG'
 *   await folders.find({ id: 'x', path: 'sub/a.png' }) // -> 'more/sub/a.png'
 *   await folders.find({ id: 'tt9' })                // -> null
 */
export class ImageFolders {
  private readonly listings = new Map<string, Promise<{ names: Set<string>; byLowerExt: Map<string, string> }>>();
  private readonly extensions: string[];

  constructor(
    readonly folders: readonly string[],
    extensions: readonly string[] = ID_EXTENSIONS,
  ) {
    this.extensions = extensions.map((e) => (e.startsWith('.') ? e : `.${e}`).toLowerCase());
  }

  private list(dir: string) {
    let listing = this.listings.get(dir);
    if (!listing) {
      listing = readdir(dir).then(
        (names) => {
          const byLowerExt = new Map<string, string>();
          for (const name of names.sort()) {
            const ext = extname(name);
            const key = name.slice(0, name.length - ext.length) + ext.toLowerCase();
            if (!byLowerExt.has(key)) byLowerExt.set(key, name);
          }
          return { names: new Set(names), byLowerExt };
        },
        () => ({ names: new Set<string>(), byLowerExt: new Map<string, string>() }),
      );
      this.listings.set(dir, listing);
    }
    return listing;
  }

  /** The file named `name` in `dir`, its extension in any case when `anyCase`. */
  private async lookup(dir: string, name: string, anyCase: boolean): Promise<string | null> {
    const { names, byLowerExt } = await this.list(dir);
    if (names.has(name)) return join(dir, name);
    if (!anyCase) return null;
    const ext = extname(name);
    const actual = byLowerExt.get(name.slice(0, name.length - ext.length) + ext.toLowerCase());
    return actual === undefined ? null : join(dir, actual);
  }

  async find(row: { id: string; path?: string | null }): Promise<string | null> {
    if (row.path) {
      if (isAbsolute(row.path)) return this.lookup(dirname(row.path), basename(row.path), false);
      for (const folder of this.folders) {
        const candidate = join(folder, row.path);
        const found = await this.lookup(dirname(candidate), basename(candidate), false);
        if (found) return found;
      }
      return null;
    }
    if (row.id === '') return null;
    const names = [...(isImageName(row.id) ? [row.id] : []), ...this.extensions.map((ext) => row.id + ext)];
    for (const folder of this.folders) {
      for (const name of names) {
        const candidate = join(folder, name);
        const found = await this.lookup(dirname(candidate), basename(candidate), true);
        if (found) return found;
      }
    }
    return null;
  }
}

/** Where a path really is: symlinks resolved, and a path that does not exist yet placed under its nearest existing parent. */
async function whereItIs(path: string): Promise<string> {
  const absolute = resolve(path);
  let existing = absolute;
  for (;;) {
    try {
      const real = await realpath(existing);
      return existing === absolute ? real : join(real, absolute.slice(existing.length));
    } catch {
      const parent = dirname(existing);
      if (parent === existing) return absolute;
      existing = parent;
    }
  }
}

const within = (child: string, parent: string) => child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);

/**
 * Refuses outputs that would overwrite or mix with a command's inputs, before
 * any work: an output folder that is, holds or lies inside an input folder or
 * holds an input file (`clean DIR --out DIR` would overwrite the originals; an
 * output inside an input folder is read back as input next time), and an
 * output file that is an input file. Paths are compared where they really are
 * (symlinks resolved). Throws INVALID_ARGUMENT naming both. Two outputs in
 * one place (`--preview` = `--out`) are refused too.
 *
 * @example
 *   await refuseOutputOverInput(['posters/'], [{ option: '--out', path: 'posters/clean', kind: 'dir' }]);
 *   // throws 'Expected a folder outside the inputs (not inside the input folder posters/) for --out but received string "posters/clean"'
 */
export async function refuseOutputOverInput(
  inputs: readonly string[],
  outputs: ReadonlyArray<{ option: string; path: string; kind: 'file' | 'dir' }>,
): Promise<void> {
  const places = await Promise.all(
    inputs.map(async (input) => {
      const kind = await stat(input).then((info) => (info.isDirectory() ? 'dir' : 'file'), () => undefined);
      return kind === undefined ? undefined : { input, kind, real: await whereItIs(input) };
    }),
  );
  const seen: Array<{ option: string; path: string; kind: 'file' | 'dir'; real: string }> = [];
  for (const output of outputs) {
    const real = await whereItIs(output.path);
    const refuse = (why: string) => invalidParameterError(output.option, `a ${output.kind === 'dir' ? 'folder' : 'file'} outside the inputs (not ${why})`, output.path);
    for (const place of places) {
      if (!place) continue;
      if (place.real === real) throw refuse(`the input ${place.input} itself`);
      if (place.kind === 'dir' && within(real, place.real)) throw refuse(`inside the input folder ${place.input}`);
      if (output.kind === 'dir' && within(place.real, real)) throw refuse(`a folder holding the input ${place.input}`);
    }
    for (const other of seen) {
      if (other.real === real) throw refuse(`the same place as ${other.option}`);
    }
    seen.push({ ...output, real });
  }
}
