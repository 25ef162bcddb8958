/**
 * Folders import one way: no import cycle between the folders (and top-level
 * modules) of src/, counting static, type-only, re-export and dynamic imports.
 */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../../helpers/cli.js';

const SRC = join(ROOT, 'src');
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;

/** src/model/bundle.ts -> 'model'; src/errors.ts -> 'errors.ts'. */
const unitOf = (file: string) => relative(SRC, file).split('/')[0]!.replace(/\.js$/, '.ts');

async function folderGraph(): Promise<Map<string, Map<string, string>>> {
  const graph = new Map<string, Map<string, string>>();
  for (const entry of await readdir(SRC, { recursive: true })) {
    if (!entry.endsWith('.ts')) continue;
    const file = join(SRC, entry);
    const from = unitOf(file);
    for (const [, spec] of (await readFile(file, 'utf8')).matchAll(IMPORT)) {
      const to = unitOf(resolve(dirname(file), spec!));
      if (to === from) continue;
      if (!graph.has(from)) graph.set(from, new Map());
      if (!graph.get(from)!.has(to)) graph.get(from)!.set(to, `${relative(ROOT, file)} imports ${spec}`);
    }
  }
  return graph;
}

/** One cycle as a list of edges, or undefined. */
function findCycle(graph: Map<string, Map<string, string>>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node)?.keys() ?? []) {
      if (state.get(next) === 'open') {
        const cycle = [...path.slice(path.indexOf(next)), next];
        return cycle.slice(1).map((to, i) => `${cycle[i]} -> ${to} (${graph.get(cycle[i]!)!.get(to)})`);
      }
      if (!state.has(next)) {
        const found = visit(next);
        if (found) return found;
      }
    }
    path.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of graph.keys()) {
    if (state.has(node)) continue;
    const found = visit(node);
    if (found) return found;
  }
  return undefined;
}

test('no import cycle between the folders of src/', async () => {
  const graph = await folderGraph();
  // The scan sees the imports it must see (an empty graph would pass vacuously).
  assert.ok(graph.get('train')?.has('model') && graph.get('model')?.has('eval') && graph.get('cli')?.has('serve'), 'import scan found the known edges');
  const cycle = findCycle(graph);
  assert.equal(cycle, undefined, `import cycle between src/ folders:\n  ${cycle?.join('\n  ')}`);
});

test('the cycle finder finds a cycle when there is one', () => {
  const graph = new Map([
    ['a', new Map([['b', 'a.ts imports b']])],
    ['b', new Map([['c', 'b.ts imports c']])],
    ['c', new Map([['a', 'c.ts imports a']])],
  ]);
  assert.deepEqual(findCycle(graph), ['a -> b (a.ts imports b)', 'b -> c (b.ts imports c)', 'c -> a (c.ts imports a)']);
  graph.get('c')!.delete('a');
  assert.equal(findCycle(graph), undefined);
});
