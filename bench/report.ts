/**
 * `npm run bench:report`: `posterscope report` on 1,254 real posters with
 * cached embeddings (the target: <= 10 s, file <= 5 MB).
 *
 * The built CLI (dist/) draws the default model's report on the first 1,254
 * labelled posters of ../shared (`--split all`), timed from process start to
 * exit. The first run fills the embedding cache if it is cold and says so; the
 * second is the measurement. Numbers only: nothing is asserted. The machine's
 * load average is printed beside them, since other work shares the cores.
 *
 * Environment: POSTERSCOPE_SHARED (default ../shared); POSTERSCOPE_CACHE
 * (default the user's cache, where embeddings of ../shared may already be).
 */
import { spawnSync } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const POSTERS = 1254;
const root = join(import.meta.dirname, '..');
const shared = resolve(process.env.POSTERSCOPE_SHARED ?? join(root, '..', 'shared'));
const labels = join(shared, 'data', 'posters', 'labels.csv');
const lines = (await readFile(labels, 'utf8')).trim().split('\n');
const data = join(tmpdir(), 'posterscope-bench-report.csv');
await writeFile(data, `${lines.slice(0, POSTERS + 1).join('\n')}\n`);
const out = join(tmpdir(), 'posterscope-bench-report.html');

/** CPU seconds (user + system) of reaped children so far, from /proc (Linux); NaN elsewhere. */
async function childrenCpu(): Promise<number> {
  try {
    const fields = (await readFile('/proc/self/stat', 'utf8')).split(') ')[1]!.split(' ');
    // cutime and cstime are fields 16 and 17 of stat, 14 and 15 after the command name.
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return Number.NaN;
  }
}

function run(): { seconds: number; stdout: string } {
  const started = performance.now();
  const result = spawnSync(
    process.execPath,
    [join(root, 'dist', 'cli', 'main.js'), 'report', '--data', data, '--images', join(shared, 'data', 'posters', 'images'), '--split', 'all', '--out', out, '--quiet', '--mirror', join(shared, 'models'), '--offline'],
    { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
  );
  const seconds = (performance.now() - started) / 1000;
  if (result.status !== 0) throw new Error(`report failed (${result.status}): ${result.stderr}`);
  return { seconds, stdout: result.stdout.trim() };
}

const first = run();
console.log(`first run (fills the embedding cache if cold): ${first.seconds.toFixed(1)} s`);
const load = loadavg()[0]!.toFixed(1);
const cpuBefore = await childrenCpu();
const measured = run();
const cpu = (await childrenCpu()) - cpuBefore;
const bytes = (await stat(out)).size;
console.log(measured.stdout);
console.log('');
console.log(`| measure (${POSTERS} posters, cached embeddings) | value | target |`);
console.log('|---|---|---|');
console.log(`| posterscope report, process start to exit | ${measured.seconds.toFixed(1)} s | <= 10 s |`);
console.log(`| CPU time of that process (user + system, both cores) | ${cpu.toFixed(1)} s | |`);
console.log(`| report.html size | ${(bytes / 1e6).toFixed(2)} MB | <= 5 MB |`);
console.log(`\nload average (1 min) before the measured run: ${load} on ${(await import('node:os')).cpus().length} cores`);
