/**
 * The embedding cache: one directory per backbone fingerprint, holding
 * append-only segment files of fixed-size records
 *
 *   magic u32 | dim u32 | key 32 bytes | crc32 u32 | dim x float32
 *
 * where key = sha256(poster content hash, view name) and the CRC covers key
 * and vector. Each process appends to a segment of its own, so concurrent
 * runs never interleave. A run killed mid-write leaves at most one torn record
 * at the end of its segment; the CRC and length checks skip it on the next
 * open, and every finished record stays readable.
 *
 * Segments are compacted when the cache is opened: past MAX_SEGMENTS, or when
 * one holds damaged records, the segments nobody has written to for
 * SETTLED_MS are merged into one new segment (written aside, fsynced, renamed
 * in, and only then the old ones removed), so a thousand runs never hold a
 * thousand files open (EMFILE), and damaged records are reported once and
 * dropped. A segment still being written is left alone; a reader holds an
 * open descriptor to every segment it indexed, so a segment another process
 * merges away stays readable to it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PosterscopeError, asWriteError, checkInteger, invalidParameterError } from '../errors.js';
import { crc32 } from './crc32.js';

const MAGIC = 0x31455350; // 'PSE1' little-endian
const HEADER = 44;
const KEY_OFFSET = 8;
const CRC_OFFSET = 40;
const SEGMENT_SUFFIX = '.pse';
const MERGING_SUFFIX = '.pse.merging';
/** More segments than this are merged when the cache is opened. */
const MAX_SEGMENTS = 16;
/** A segment written to less than this long ago may belong to a running process: never merged. */
const SETTLED_MS = 60_000;
/** A merge a killed process left behind is removed after this long. */
const STALE_MERGE_MS = 24 * 60 * 60 * 1000;
/** Bump when the pixels a view name stands for change, so old vectors are not reused. */
export const PREPROCESS_VERSION = 1;

interface Location {
  segment: string;
  offset: number;
}

export interface EmbeddingCacheOptions {
  /** Root directory; vectors go in `<dir>/embeddings/<fingerprint>-p<version>/`. */
  dir: string;
  /** Backbone fingerprint (`Backbone.fingerprint`). */
  fingerprint: string;
  dim: number;
  /** Records buffered before a write (1 to 4,096); written records survive a crash. Default 64. */
  flushEvery?: number;
  /** Told once per open how many damaged records were skipped. Default: a line on stderr. */
  onWarning?: (message: string) => void;
}

/** The cache key of one poster view. */
export function embeddingKey(contentHash: string, view: string): Buffer {
  return createHash('sha256').update(contentHash).update('\0').update(view).digest();
}

export class EmbeddingCache {
  readonly directory: string;
  readonly dim: number;
  private readonly index = new Map<string, Location>();
  private readonly fds = new Map<string, number>();
  private readonly flushEvery: number;
  private segment: { name: string; fd: number; size: number } | undefined;
  /**
   * Records not yet written, one after another, and their keys: one buffer
   * for the life of the cache, written over after each flush (a buffer per
   * record and a concatenation per flush cost more than the writes, and
   * arrays replaced at each flush deoptimised the code that puts into them).
   */
  private pending: Buffer | undefined;
  private readonly pendingKeys: string[] = [];
  private skipped = 0;

  private constructor(options: EmbeddingCacheOptions) {
    this.directory = join(options.dir, 'embeddings', `${options.fingerprint}-p${PREPROCESS_VERSION}`);
    this.dim = options.dim;
    // The write buffer holds this many records: bounded, so a typo cannot ask for gigabytes.
    this.flushEvery = checkInteger('flushEvery', options.flushEvery ?? 64, 1, 4096);
  }

  /**
   * Opens (creating if needed) the cache of one backbone and indexes it.
   *
   * @example
   *   const cache = await EmbeddingCache.open({ dir: defaultCacheDir(), fingerprint: backbone.fingerprint, dim: 1280 });
   *   cache.size // -> 5988 after embedding the posters once
   */
  static async open(options: EmbeddingCacheOptions): Promise<EmbeddingCache> {
    const cache = new EmbeddingCache(options);
    mkdirSync(cache.directory, { recursive: true });
    const now = Date.now();
    const entries = readdirSync(cache.directory);
    // A merge a killed process never finished (its sources are all still there).
    for (const name of entries) if (name.endsWith(MERGING_SUFFIX)) unlinkIfOlder(join(cache.directory, name), now - STALE_MERGE_MS);
    const segments = entries.filter((n) => n.endsWith(SEGMENT_SUFFIX)).sort();
    const settled = segments.filter((name) => modifiedBefore(join(cache.directory, name), now - SETTLED_MS));
    const isSettledSet = new Set(settled);
    const tooMany = segments.length > MAX_SEGMENTS && settled.length > 1;
    let damagedSettled = false;
    for (const name of segments) {
      const before = cache.skipped;
      const fd = cache.scan(name);
      if (fd === undefined) continue;
      const isSettled = isSettledSet.has(name);
      if (isSettled && cache.skipped > before) damagedSettled = true;
      // Segments about to be merged are read again by name: a thousand of them are not held open.
      if (tooMany && isSettled) closeSync(fd);
      else cache.fds.set(name, fd);
    }
    if (cache.skipped > 0) {
      const warn = options.onWarning ?? ((message: string) => process.stderr.write(`posterscope: warning: ${message}\n`));
      warn(
        `${cache.skipped} damaged embedding cache record${cache.skipped === 1 ? '' : 's'} skipped in ${cache.directory} ` +
          '(a killed run or a damaged disk); those vectors are computed again',
      );
    }
    if (tooMany || damagedSettled) cache.merge(settled);
    return cache;
  }

  /** Number of distinct cached vectors. */
  get size(): number {
    return this.index.size + this.pendingKeys.length;
  }

  /** Torn or corrupt records skipped while opening (evidence of an earlier crash). */
  get skippedRecords(): number {
    return this.skipped;
  }

  private get recordSize(): number {
    return HEADER + this.dim * 4;
  }

  private readFd(segment: string): number {
    let fd = this.fds.get(segment);
    if (fd === undefined) {
      fd = openSync(join(this.directory, segment), 'r');
      this.fds.set(segment, fd);
    }
    return fd;
  }

  /**
   * Calls `visit` with each whole, valid record of a segment, in order, and
   * returns how many records were damaged: a torn tail, or a record failing
   * its checksum (records after it cannot be trusted to be aligned).
   */
  private readRecords(fd: number, visit: (chunk: Buffer, at: number, offset: number) => void): number {
    const size = fstatSync(fd).size;
    const record = this.recordSize;
    const perChunk = Math.max(1, Math.floor((4 << 20) / record));
    const chunk = Buffer.allocUnsafe(perChunk * record);
    for (let offset = 0; offset + record <= size; ) {
      const bytes = readSync(fd, chunk, 0, Math.min(chunk.length, size - offset), offset);
      let i = 0;
      for (; i + record <= bytes; i += record) {
        const ok =
          chunk.readUInt32LE(i) === MAGIC &&
          chunk.readUInt32LE(i + 4) === this.dim &&
          chunk.readUInt32LE(i + CRC_OFFSET) === this.checksum(chunk, i);
        if (!ok) return Math.floor((size - offset - i) / record) || 1;
        visit(chunk, i, offset + i);
      }
      if (i === 0) break;
      offset += i;
    }
    return size % record !== 0 ? 1 : 0;
  }

  /** Indexes one segment; its open descriptor, or undefined when it has gone (merged away by another process). */
  private scan(segment: string): number | undefined {
    let fd: number;
    try {
      fd = openSync(join(this.directory, segment), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    this.skipped += this.readRecords(fd, (chunk, at, offset) => {
      this.index.set(chunk.toString('hex', at + KEY_OFFSET, at + CRC_OFFSET), { segment, offset });
    });
    return fd;
  }

  /**
   * Merges settled segments into one new segment: written aside, fsynced and
   * renamed in before any source is removed, so a kill at any point leaves
   * every record readable (at worst twice). A failure (a full disk) leaves
   * the sources as they are.
   */
  private merge(sources: readonly string[]): void {
    const name = `${Date.now().toString(36)}-${process.pid}-${randomBytes(4).toString('hex')}`;
    const final = `${name}${SEGMENT_SUFFIX}`;
    const temp = join(this.directory, `${name}${MERGING_SUFFIX}`);
    const moved = new Map<string, Location>();
    const gone: string[] = [];
    let out: number | undefined;
    try {
      out = openSync(temp, 'wx+');
      let size = 0;
      const buffered: Buffer[] = [];
      let bufferedBytes = 0;
      const write = () => {
        const data = Buffer.concat(buffered);
        for (let at = 0; at < data.length; ) at += writeSync(out!, data, at, data.length - at);
        buffered.length = 0;
        bufferedBytes = 0;
      };
      for (const source of sources) {
        const kept = this.fds.get(source);
        let fd: number;
        try {
          fd = kept ?? openSync(join(this.directory, source), 'r');
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
          gone.push(source);
          continue;
        }
        try {
          this.readRecords(fd, (chunk, at) => {
            const hex = chunk.toString('hex', at + KEY_OFFSET, at + CRC_OFFSET);
            if (moved.has(hex)) return;
            moved.set(hex, { segment: final, offset: size });
            buffered.push(Buffer.from(chunk.subarray(at, at + this.recordSize)));
            bufferedBytes += this.recordSize;
            size += this.recordSize;
            if (bufferedBytes >= 4 << 20) write();
          });
        } finally {
          // One source open at a time, however many there are.
          if (kept === undefined) closeSync(fd);
        }
      }
      write();
      fsyncSync(out);
      renameSync(temp, join(this.directory, final));
    } catch {
      // Merging is housekeeping: the sources still hold every record.
      if (out !== undefined) closeSync(out);
      rmSync(temp, { force: true });
      for (const source of gone) this.forget(source);
      return;
    }
    syncDirectory(this.directory);
    for (const [hex, location] of moved) this.index.set(hex, location);
    for (const source of sources) this.forget(source, false);
    for (const source of gone) this.forget(source);
    this.fds.set(final, out);
    for (const source of sources) rmSync(join(this.directory, source), { force: true });
  }

  /** Drops a segment that is merged or gone: its descriptor and any index entry still pointing at it. */
  private forget(segment: string, dropEntries = true): void {
    const fd = this.fds.get(segment);
    if (fd !== undefined) closeSync(fd);
    this.fds.delete(segment);
    if (dropEntries) for (const [hex, location] of this.index) if (location.segment === segment) this.index.delete(hex);
  }

  private checksum(buffer: Buffer, start: number): number {
    const withKey = crc32(buffer, start + KEY_OFFSET, start + CRC_OFFSET);
    return crc32(buffer, start + HEADER, start + this.recordSize, withKey);
  }

  has(key: Buffer): boolean {
    const hex = key.toString('hex');
    return this.index.has(hex) || this.pendingKeys.includes(hex);
  }

  /** The cached vector, or undefined. */
  get(key: Buffer): Float32Array | undefined {
    const hex = key.toString('hex');
    const pendingAt = this.pendingKeys.lastIndexOf(hex);
    if (pendingAt >= 0) return decodeVector(this.pending!.subarray(pendingAt * this.recordSize, (pendingAt + 1) * this.recordSize), this.dim);
    const location = this.index.get(hex);
    if (!location) return undefined;
    const record = Buffer.allocUnsafe(this.recordSize);
    readSync(this.readFd(location.segment), record, 0, record.length, location.offset);
    if (record.readUInt32LE(CRC_OFFSET) !== this.checksum(record, 0)) {
      throw new PosterscopeError('CACHE_CORRUPT', `${join(this.directory, location.segment)}: record at ${location.offset} fails its checksum`);
    }
    return decodeVector(record, this.dim);
  }

  put(key: Buffer, vector: Float32Array): void {
    if (vector.length !== this.dim) {
      throw invalidParameterError('vector', `Float32Array of length ${this.dim}`, vector);
    }
    const size = this.recordSize;
    this.pending ??= Buffer.alloc(this.flushEvery * size);
    // This record's place in the write buffer.
    const start = this.pendingKeys.length * size;
    const buffer = this.pending;
    buffer.writeUInt32LE(MAGIC, start);
    buffer.writeUInt32LE(this.dim, start + 4);
    key.copy(buffer, start + KEY_OFFSET);
    buffer.set(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength), start + HEADER);
    buffer.writeUInt32LE(this.checksum(buffer, start), start + CRC_OFFSET);
    this.pendingKeys.push(key.toString('hex'));
    if (this.pendingKeys.length >= this.flushEvery) this.flush();
  }

  /**
   * Writes buffered records to this process's segment. A write the disk
   * refuses (full, quota, read-only) throws WRITE_FAILED; the segment is cut
   * back to its last whole record, so every record written before stays
   * readable and nothing half-written is indexed.
   */
  flush(): void {
    if (this.pendingKeys.length === 0) return;
    const record = this.recordSize;
    const data = this.pending!.subarray(0, this.pendingKeys.length * record);
    let path = this.directory;
    try {
      if (!this.segment) {
        const name = `${Date.now().toString(36)}-${process.pid}-${randomBytes(4).toString('hex')}${SEGMENT_SUFFIX}`;
        path = join(this.directory, name);
        // Read back through the same descriptor: the file stays readable to this process even if another merges it away.
        this.segment = { name, fd: openSync(path, 'a+'), size: 0 };
        this.fds.set(name, this.segment.fd);
      }
      path = join(this.directory, this.segment.name);
      // writeSync may write less than asked (a disk filling up): write the rest, or fail.
      for (let at = 0; at < data.length; ) at += writeSync(this.segment.fd, data, at, data.length - at);
    } catch (error) {
      this.pendingKeys.length = 0;
      if (this.segment) {
        try {
          ftruncateSync(this.segment.fd, this.segment.size);
        } catch {
          // A torn tail is skipped by the next open anyway.
        }
      }
      throw asWriteError(path, error);
    }
    const { name, size } = this.segment;
    for (let i = 0; i < this.pendingKeys.length; i++) this.index.set(this.pendingKeys[i]!, { segment: name, offset: size + i * record });
    this.segment.size += data.length;
    this.pendingKeys.length = 0;
  }

  /** Flushes, syncs to disk and closes all files (closing them even when the last write fails). */
  close(): void {
    try {
      this.flush();
      if (this.segment) {
        try {
          fsyncSync(this.segment.fd);
        } catch (error) {
          throw asWriteError(join(this.directory, this.segment.name), error);
        }
      }
    } finally {
      // The segment's descriptor is among the readers'.
      this.segment = undefined;
      for (const fd of this.fds.values()) closeSync(fd);
      this.fds.clear();
    }
  }
}

function decodeVector(record: Buffer, dim: number): Float32Array {
  const out = new Float32Array(dim);
  Buffer.from(out.buffer).set(record.subarray(HEADER, HEADER + dim * 4));
  return out;
}

function modifiedBefore(path: string, time: number): boolean {
  try {
    return statSync(path).mtimeMs < time;
  } catch {
    return false;
  }
}

function unlinkIfOlder(path: string, time: number): void {
  if (modifiedBefore(path, time)) rmSync(path, { force: true });
}

/** Makes a rename durable; best effort (not every platform can fsync a folder). */
function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // the merged file itself is fsynced; a lost rename only leaves the sources in place
  }
}
