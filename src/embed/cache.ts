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
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readSync, readdirSync, writeSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { PosterscopeError, invalidParameterError } from '../errors.js';
import { crc32 } from './crc32.js';

const MAGIC = 0x31455350; // 'PSE1' little-endian
const HEADER = 44;
const KEY_OFFSET = 8;
const CRC_OFFSET = 40;
const SEGMENT_SUFFIX = '.pse';
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
  /** Records buffered before a write; written records survive a crash. Default 64. */
  flushEvery?: number;
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
  private pending: Buffer[] = [];
  private pendingKeys: string[] = [];
  private skipped = 0;

  private constructor(options: EmbeddingCacheOptions) {
    this.directory = join(options.dir, 'embeddings', `${options.fingerprint}-p${PREPROCESS_VERSION}`);
    this.dim = options.dim;
    this.flushEvery = options.flushEvery ?? 64;
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
    for (const name of readdirSync(cache.directory).filter((n) => n.endsWith(SEGMENT_SUFFIX)).sort()) {
      cache.scan(name);
    }
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

  private scan(segment: string): void {
    const fd = this.readFd(segment);
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
        if (!ok) {
          // Records after a torn one cannot be trusted to be aligned; stop here.
          this.skipped += Math.floor((size - offset - i) / record) || 1;
          return;
        }
        this.index.set(chunk.toString('hex', i + KEY_OFFSET, i + CRC_OFFSET), { segment, offset: offset + i });
      }
      if (i === 0) break;
      offset += i;
    }
    if (size % record !== 0) this.skipped += 1;
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
    if (pendingAt >= 0) return decodeVector(this.pending[pendingAt]!, this.dim);
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
    const record = Buffer.alloc(this.recordSize);
    record.writeUInt32LE(MAGIC, 0);
    record.writeUInt32LE(this.dim, 4);
    key.copy(record, KEY_OFFSET);
    Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).copy(record, HEADER);
    record.writeUInt32LE(this.checksum(record, 0), CRC_OFFSET);
    this.pending.push(record);
    this.pendingKeys.push(key.toString('hex'));
    if (this.pending.length >= this.flushEvery) this.flush();
  }

  /** Writes buffered records to this process's segment. */
  flush(): void {
    if (this.pending.length === 0) return;
    if (!this.segment) {
      const name = `${Date.now().toString(36)}-${process.pid}-${randomBytes(4).toString('hex')}${SEGMENT_SUFFIX}`;
      this.segment = { name, fd: openSync(join(this.directory, name), 'a'), size: 0 };
    }
    const data = Buffer.concat(this.pending);
    writeSync(this.segment.fd, data);
    const record = this.recordSize;
    this.pendingKeys.forEach((hex, i) => {
      this.index.set(hex, { segment: this.segment!.name, offset: this.segment!.size + i * record });
    });
    this.segment.size += data.length;
    this.pending = [];
    this.pendingKeys = [];
  }

  /** Flushes, syncs to disk and closes all files. */
  close(): void {
    this.flush();
    if (this.segment) {
      fsyncSync(this.segment.fd);
      closeSync(this.segment.fd);
      this.segment = undefined;
    }
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

function decodeVector(record: Buffer, dim: number): Float32Array {
  const out = new Float32Array(dim);
  Buffer.from(out.buffer).set(record.subarray(HEADER, HEADER + dim * 4));
  return out;
}
