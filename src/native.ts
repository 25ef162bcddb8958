/**
 * posterscope's C addons (native/*.c), built by node-gyp when `npm install`
 * could (scripts/build-native.mjs). Each has a fallback with the same results,
 * so nothing but CPU and memory depends on them; POSTERSCOPE_NATIVE=0 turns
 * them all off. The image addons are in image/native.ts.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** An addon from build/Release, or undefined when it was not built (or addons are turned off). */
export function loadAddon<T>(name: string): T | undefined {
  if (process.env.POSTERSCOPE_NATIVE === '0') return undefined;
  try {
    // One level below the package root from src and from dist alike.
    return createRequire(import.meta.url)(`../build/Release/${name}.node`) as T;
  } catch {
    return undefined;
  }
}

const memory = loadAddon<{
  releaseFreeMemory(): boolean;
  plainView(shared: Float32Array): ArrayBuffer;
  prefault(batch: Float32Array): Promise<void>;
  threadCpuNs(): number;
}>('posterscope_memory');

/**
 * Hands the C heap's free pages back to the system (glibc's malloc_trim): a
 * long-running process's resident size then follows what it holds, not what
 * it once held at its busiest. A few milliseconds; call it when work pauses.
 * False when nothing went back, or the helper was not built.
 */
export function releaseFreeMemory(): boolean {
  return memory?.releaseFreeMemory() ?? false;
}

/**
 * A Float32Array over the same bytes as `shared` (a SharedArrayBuffer view)
 * in a plain ArrayBuffer, which keeps `shared` alive while it lives: ONNX
 * Runtime's binding reads plain ArrayBuffers only, and this spares an
 * inference worker its copy of every batch. Undefined without the helper.
 */
export function plainView(shared: Float32Array): Float32Array | undefined {
  return memory ? new Float32Array(memory.plainView(shared)) : undefined;
}

/**
 * Faults a new batch's pages in on libuv's pool, so that the thread filling
 * it does not take them (2,352 faults for 16 crops, 9.6 MB: ~25 ms on a
 * virtual machine, while the inference workers wait). Bytes never change:
 * the caller may write into the batch meanwhile. Resolves when done;
 * undefined without the helper (the first writes fault the pages in).
 */
export function prefault(batch: Float32Array): Promise<void> | undefined {
  return memory?.prefault(batch);
}

/**
 * The calling thread's CPU time in ns: exact from the C helper
 * (clock_gettime's thread clock); without it (or where that clock is
 * missing) from /proc's schedstat, on Linux; 0 elsewhere. The fallback is
 * brought up to date only at a scheduler tick or a switch: read by the
 * thread itself at the end of a burst of work, it misses up to a tick of it
 * (a profile would put that work after the burst instead of in it).
 */
export function threadCpuNs(): number {
  // The helper answers 0 when the system has no thread clock.
  const exact = memory?.threadCpuNs();
  if (exact) return exact;
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[0]);
  } catch {
    return 0;
  }
}

/** What `nativeFile.read` found: see native/file.c. */
export interface NativeRead {
  /** 0, or the errno of the call that failed (`syscall`). */
  errno: number;
  syscall?: string;
  /** 0 a regular file, 1 a directory, 2 anything else (a FIFO, socket, device): nothing read. */
  kind: 0 | 1 | 2;
  /** The file's size by fstat. */
  size: number;
  /** Bytes put in the buffer: at most its length, so fewer than `size` when it was too small. */
  read: number;
}

/**
 * Reads a whole file in one task on libuv's pool (open non-blocking, fstat,
 * read, close), where Node's fs takes four: undefined without the reader.
 */
export const nativeFile = loadAddon<{ read(path: string, into: Uint8Array): Promise<NativeRead> }>('posterscope_file');
