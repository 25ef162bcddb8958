#!/usr/bin/env node
/**
 * npm's install step: builds the C parts with node-gyp, against this Node's
 * own headers when it has them (no download):
 * - the pixel kernels (native/pixels.c), the memory helper (native/memory.c)
 *   and the file reader (native/file.c);
 * - the JPEG decoder (native/jpeg.c), when the system's libjpeg-turbo and
 *   its headers are there (Debian: libjpeg62-turbo-dev).
 * It never fails the install. Whatever is not built is said in one line, and
 * posterscope runs the JavaScript loops or the WebAssembly decoder instead:
 * the same results, more CPU. POSTERSCOPE_NATIVE=0 skips the build.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const fallback = {
  kernels: "the JavaScript loops and Node's fs run instead: same results, more CPU per poster",
  jpeg: 'the WebAssembly decoder runs instead: same pixels, more CPU per poster',
};
if (process.env.POSTERSCOPE_NATIVE === '0') {
  console.warn(`posterscope: POSTERSCOPE_NATIVE=0, the C parts are not built; ${fallback.kernels}`);
  process.exit(0);
}
// Node installed under a prefix keeps its headers at <prefix>/include/node.
const prefix = dirname(dirname(process.execPath));
const localHeaders = existsSync(join(prefix, 'include', 'node', 'node_api.h'));
const args = ['rebuild', ...(localHeaders && !process.env.npm_config_nodedir ? [`--nodedir=${prefix}`] : [])];

/** Runs node-gyp; undefined when it built, else the one line that says why not. */
function build(libjpeg) {
  const built = spawnSync('node-gyp', args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    shell: process.platform === 'win32',
    env: { ...process.env, POSTERSCOPE_LIBJPEG: libjpeg ? '1' : '0' },
  });
  if (built.status === 0) return undefined;
  if (built.error) return built.error.message;
  const lines = `${built.stderr}\n${built.stdout}`.split('\n');
  const line = lines.find((l) => /error|not found|No such/i.test(l) && !/^gyp (info|ERR! (stack|System|command|cwd|node|not ok))/.test(l));
  return (line ?? `node-gyp exited with ${built.status}`).replace(/^gyp ERR! /, '').trim();
}

const withJpeg = build(true);
if (withJpeg === undefined) {
  console.log('posterscope: built the C pixel kernels, the memory helper, the file reader and the libjpeg-turbo decoder (build/Release)');
} else {
  const without = build(false);
  if (without === undefined) {
    console.log('posterscope: built the C pixel kernels, the memory helper and the file reader (build/Release)');
    console.warn(`posterscope: the libjpeg-turbo decoder was not built (${withJpeg}); ${fallback.jpeg}`);
  } else {
    console.warn(`posterscope: the C pixel kernels were not built (${without}); ${fallback.kernels}`);
  }
}
