/**
 * One pool of pixel buffers for the hot path: decoded posters and rendered
 * crops are given back once nothing reads them (the embedding pipeline does
 * it) and handed out again. Each buffer allocated afresh is external memory
 * V8 must collect; at 13 crops per poster that was a full collection every
 * few posters. Posters differ in size by a few rows, so a buffer serves any
 * request no larger than it (and at least half its size): the caller gets a
 * view of its first bytes.
 */
const pool: Buffer[] = [];
const POOL_LIMIT = 64;

/**
 * A buffer of exactly `bytes` bytes, recycled when the pool holds one large
 * enough; its content is whatever was there.
 */
export function takeBuffer(bytes: number): Buffer {
  let at = pool.length - 1;
  // The most recently given back first: its memory is the likeliest to be in cache.
  while (at >= 0 && !(pool[at]!.length >= bytes && pool[at]!.length <= 2 * bytes)) at--;
  if (at < 0) return Buffer.allocUnsafe(bytes);
  const [buffer] = pool.splice(at, 1) as [Buffer];
  return buffer.length === bytes ? buffer : buffer.subarray(0, bytes);
}

/** Gives a buffer back for reuse; later takes overwrite it. Shared memory is never taken in. */
export function recycleBuffer(buffer: Buffer): void {
  if (buffer.buffer instanceof SharedArrayBuffer) return;
  if (pool.length >= POOL_LIMIT) pool.shift();
  pool.push(buffer);
}
