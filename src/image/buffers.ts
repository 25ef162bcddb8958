/**
 * One pool of pixel buffers for the hot path: poster files, decoded posters
 * and rendered crops are given back once nothing reads them (the embedding
 * pipeline does it) and handed out again. Each buffer allocated afresh is
 * external memory V8 must collect; at 13 crops per poster that was a full
 * collection every few posters. Sizes differ by a few rows or bytes, so
 * buffers are allocated in steps (8 KB under 64 KB, 32 KB above), a buffer
 * serves any request no larger than it whose step-rounded size is at least
 * half of it, and the caller gets a view of its first bytes. Only the pool's
 * own buffers come back to it: one from elsewhere (sharp's output, a slice of
 * Node's shared 8 KB pool) may share its memory with something still in use.
 * `recycleBuffer` is the one way back, for pixels, crops and file bytes alike.
 */
const pool: Buffer[] = [];
/** The memory of every buffer the pool allocated: a view of one goes back whole. */
const owned = new WeakSet<ArrayBufferLike>();
// Past the most a busy pipeline has in flight at once (decode-ahead, four batches of crops, tiles).
const POOL_LIMIT = 128;
const SMALL_STEP = 8 * 1024;
const STEP = 32 * 1024;
/** Takes the pool could not serve, and their bytes: each was a fresh allocation. */
export const poolMisses = { count: 0, bytes: 0 };

/**
 * A buffer of exactly `bytes` bytes, recycled when the pool holds one large
 * enough; its content is whatever was there.
 */
export function takeBuffer(bytes: number): Buffer {
  // The smallest that fits, so a crop does not take a decoded poster's buffer
  // (which the next poster then allocates afresh); among equals, the most
  // recently given back: its memory is the likeliest to be in cache.
  const step = bytes < 2 * STEP ? SMALL_STEP : STEP;
  const capacity = Math.max(step, Math.ceil(bytes / step) * step);
  let at = -1;
  for (let i = pool.length - 1; i >= 0; i--) {
    const length = pool[i]!.length;
    if (length >= bytes && length <= 2 * capacity && (at < 0 || length < pool[at]!.length)) at = i;
  }
  if (at < 0) {
    poolMisses.count++;
    poolMisses.bytes += bytes;
    const whole = Buffer.allocUnsafeSlow(capacity);
    owned.add(whole.buffer);
    return whole.subarray(0, bytes);
  }
  const [buffer] = pool.splice(at, 1) as [Buffer];
  return buffer.length === bytes ? buffer : buffer.subarray(0, bytes);
}

/** Gives a buffer from takeBuffer back for reuse (whole); later takes overwrite it. Any other buffer is left alone. */
export function recycleBuffer(buffer: Buffer): void {
  if (!owned.has(buffer.buffer)) return;
  if (pool.length >= POOL_LIMIT) pool.shift();
  pool.push(buffer.length === buffer.buffer.byteLength ? buffer : Buffer.from(buffer.buffer, 0, buffer.buffer.byteLength));
}
