/**
 * Turning what a user typed (files, directories, globs) into poster files.
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';

/** Extensions picked up when walking a directory (files named explicitly are always tried). */
export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.avif', '.tif', '.tiff']);

export interface CollectedFiles {
  files: string[];
  /** Inputs that matched nothing, with the reason. */
  missing: Array<{ input: string; reason: string }>;
}

function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*' && pattern[i + 1] === '*') {
      re += '.*';
      i++;
      if (pattern[i + 1] === '/') i++;
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

async function walk(dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await walk(path, out);
    else if (entry.isFile() && IMAGE_EXTENSIONS.has(extname(entry.name).toLowerCase())) out.push(path);
  }
}

/**
 * Expands files, directories (recursively) and globs (`*`, `?`, `**`) into a
 * de-duplicated list of image files, in the order the inputs were given (a
 * directory's or glob's files in name order).
 *
 * @example
 *   await collectImageFiles(['posters/', 'extra/*.png', 'nope.jpg'])
 *   // -> { files: ['posters/a.jpg', 'extra/b.png', 'nope.jpg'], missing: [] }
 *   // (a named file that does not exist is kept: reading it reports why)
 */
export async function collectImageFiles(inputs: readonly string[]): Promise<CollectedFiles> {
  const files: string[] = [];
  const missing: CollectedFiles['missing'] = [];
  for (const input of inputs) {
    if (/[*?]/.test(input)) {
      const firstWild = input.search(/[*?]/);
      const base = input.slice(0, input.lastIndexOf('/', firstWild) + 1) || '.';
      const pattern = globToRegExp(resolve(input));
      const found: string[] = [];
      try {
        await walk(base, found);
      } catch {
        /* a glob whose base does not exist matches nothing */
      }
      const matched = found.filter((f) => pattern.test(resolve(f)));
      if (matched.length === 0) missing.push({ input, reason: 'pattern matched no image files' });
      files.push(...matched);
      continue;
    }
    try {
      const info = await stat(input);
      if (info.isDirectory()) {
        const before = files.length;
        await walk(input, files);
        if (files.length === before) missing.push({ input, reason: 'directory holds no image files' });
      } else files.push(input);
    } catch {
      // Keep it: the poster reader reports the precise reason for this input.
      files.push(input);
    }
  }
  return { files: [...new Set(files)], missing };
}
