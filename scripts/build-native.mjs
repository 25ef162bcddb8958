#!/usr/bin/env node
/**
 * npm's install step: builds the C pixel kernels (native/pixels.c) with
 * node-gyp, against this Node's own headers when it has them (no download),
 * and never fails the install: without a compiler it says so in one line and
 * posterscope runs the JavaScript loops instead (same results, more CPU).
 * POSTERSCOPE_NATIVE=0 skips the build.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const fallback = 'the JavaScript loops run instead: same results, more CPU per poster';
if (process.env.POSTERSCOPE_NATIVE === '0') {
  console.warn(`posterscope: POSTERSCOPE_NATIVE=0, the C pixel kernels are not built; ${fallback}`);
  process.exit(0);
}
// Node installed under a prefix keeps its headers at <prefix>/include/node.
const prefix = dirname(dirname(process.execPath));
const localHeaders = existsSync(join(prefix, 'include', 'node', 'node_api.h'));
const args = ['rebuild', ...(localHeaders && !process.env.npm_config_nodedir ? [`--nodedir=${prefix}`] : [])];
const built = spawnSync('node-gyp', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], shell: process.platform === 'win32' });
if (built.status === 0) {
  console.log('posterscope: built the C pixel kernels (build/Release/posterscope_pixels.node)');
} else {
  const line = built.error
    ? built.error.message
    : (`${built.stderr}\n${built.stdout}`.split('\n').find((l) => /error|not found|No such/i.test(l) && !/^gyp info/.test(l)) ?? `node-gyp exited with ${built.status}`);
  console.warn(`posterscope: the C pixel kernels were not built (${line.replace(/^gyp ERR! /, '').trim()}); ${fallback}`);
}
