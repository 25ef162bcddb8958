/**
 * `posterscope report`: a model's evaluation drawn as one self-contained
 * HTML page (see report/html.ts). The numbers are `evaluate()`'s, charts
 * included (eval/curves.ts); this module adds the poster thumbnails of the
 * mistakes gallery and the bundled chart script, and writes the file
 * atomically.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import pMap from 'p-map';
import sharp from 'sharp';
import { writeFileAtomic } from '../atomic-file.js';
import { PosterscopeError, checkInteger } from '../errors.js';
import { type EvaluationCharts, evaluationCharts, genreCounts } from '../eval/curves.js';
import type { EvaluationReport } from '../eval/report.js';
import { type DecodeOptions, decodePoster } from '../image/poster.js';
import type { BundleManifest } from '../model/bundle.js';
import { type EvaluateOptions, type ModelEvaluation, evaluate } from '../model/evaluate.js';
import { readBundle } from '../model/bundle.js';
import { DEFAULT_MODEL_PATH } from '../model/model.js';
import { type ReportPage, renderReportPage, unavailablePage } from './html.js';

export { reportContentSecurityPolicy, unavailablePage } from './html.js';

/** The report file's name inside a bundle (`train` writes it, `serve` shows it at /report). */
export const REPORT_FILE = 'report.html';

// The chart script, built by `npm run build` (web/report/charts.js + ECharts).
const SCRIPT = new URL('../../dist/web/report.js', import.meta.url);

async function chartScript(): Promise<string> {
  try {
    return await readFile(SCRIPT, 'utf8');
  } catch {
    throw new PosterscopeError('INTERNAL', `the report's chart script is missing (${SCRIPT.pathname}): run npm run build`);
  }
}

export interface ThumbnailOptions {
  /** Thumbnail width in pixels; default 64. */
  width?: number;
  decode?: DecodeOptions;
}

/**
 * Small WebP data: URIs of posters, keyed by path; an unreadable poster is
 * left out (the page shows its id alone).
 *
 * @example
 *   (await posterThumbnails(['posters/tt0084867.jpg'])).get('posters/tt0084867.jpg') // -> 'data:image/webp;base64,UklGR…'
 */
export async function posterThumbnails(paths: Iterable<string>, options: ThumbnailOptions = {}): Promise<Map<string, string>> {
  const width = checkInteger('width', options.width ?? 64, 8, 512);
  const out = new Map<string, string>();
  // sharp works off the main thread: a few posters at once keep both cores busy.
  await pMap(new Set(paths), async (path) => {
    try {
      const poster = await decodePoster(path, { ...options.decode, maxSide: width * 3 });
      const bytes = await sharp(poster.pixels, { raw: { width: poster.width, height: poster.height, channels: 3 } })
        .resize({ width, withoutEnlargement: true })
        .webp({ quality: 50, effort: 2 })
        .toBuffer();
      out.set(path, `data:image/webp;base64,${bytes.toString('base64')}`);
    } catch {
      // The gallery shows the poster's id without a picture.
    }
  }, { concurrency: 4 });
  return out;
}

/** What the page shows, less what `renderReport` makes itself (thumbnails, the chart script). */
export interface RenderReportInput extends Omit<ReportPage, 'thumbnails' | 'script' | 'createdAt'> {
  thumbnails?: ThumbnailOptions;
}

/**
 * The report page of an evaluation that carries its charts.
 *
 * @example
 *   const html = await renderReport({ evaluation, manifest, model: 'my-model', data: 'labels.csv', split: 'test' });
 *   html.length // -> 1_084_112
 */
export async function renderReport(input: RenderReportInput): Promise<string> {
  const images = input.evaluation.charts.mistakes.flatMap((g) => [...g.falsePositives, ...g.falseNegatives]).flatMap((m) => (m.image ? [m.image] : []));
  const page: ReportPage = {
    evaluation: input.evaluation,
    manifest: input.manifest,
    model: input.model,
    data: input.data,
    split: input.split,
    ...(input.skipped ? { skipped: input.skipped } : {}),
    thumbnails: await posterThumbnails(images, input.thumbnails),
    script: await chartScript(),
  };
  return renderReportPage(page);
}

export interface ReportOptions extends Omit<EvaluateOptions, 'charts'> {
  /** Where to write the page; default report.html. */
  out?: string;
  thumbnails?: ThumbnailOptions;
}

export interface ReportResult {
  /** Where the page was written. */
  path: string;
  bytes: number;
  seconds: number;
  /** The evaluation drawn, `charts` included: what `report --json` prints. */
  evaluation: ModelEvaluation & { charts: EvaluationCharts };
}

/**
 * Evaluates a bundle (as `evaluate` does, its test split by default) and
 * writes the report page.
 *
 * @example
 *   const { path, bytes } = await writeReport({ model: 'my-model', out: 'my-model/report.html' });
 *   // -> { path: 'my-model/report.html', bytes: 1084112, ... }
 */
export async function writeReport(options: ReportOptions = {}): Promise<ReportResult> {
  const started = performance.now();
  const { out = 'report.html', thumbnails, ...evaluateOptions } = options;
  const path = resolve(out);
  const unwritable = (error: unknown) =>
    new PosterscopeError('INVALID_ARGUMENT', `cannot write the report to ${out} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { subject: out });
  // Before the evaluation, so a bad --out costs nothing.
  await mkdir(dirname(path), { recursive: true }).catch((error: unknown) => {
    throw unwritable(error);
  });
  const evaluation = (await evaluate({ ...evaluateOptions, charts: true })) as ModelEvaluation & { charts: EvaluationCharts };
  const { manifest } = await readBundle(options.model ?? DEFAULT_MODEL_PATH);
  const html = await renderReport({
    evaluation,
    manifest,
    model: evaluation.model,
    data: evaluation.data,
    split: evaluation.split,
    skipped: evaluation.skipped,
    ...(thumbnails ? { thumbnails } : { thumbnails: { ...(options.decode ? { decode: options.decode } : {}) } }),
  });
  await writeFileAtomic(path, html).catch((error: unknown) => {
    throw unwritable(error);
  });
  return { path: out, bytes: Buffer.byteLength(html), seconds: (performance.now() - started) / 1000, evaluation };
}

export interface TrainingReportInput {
  /** The bundle's path, for the heading. */
  model: string;
  /** The test split's evaluation, its scores and labels ([rows x genres]), and the rows' posters. */
  test: EvaluationReport;
  scores: Float32Array;
  labels: Uint8Array;
  posters: ReadonlyArray<{ id: string; image?: string }>;
  /** Training prior and seed the test evaluation used. */
  prior: Float32Array;
  seed: number;
  /** Label matrices of each split, for the class balance. */
  splits: Record<string, Uint8Array>;
  log?: (line: string) => void;
}

/**
 * The report page `train` puts in every bundle it writes, drawn from the
 * test evaluation it just made (no second pass over the posters): `{
 * 'report.html': html }`, or nothing (with a log line) when it cannot be
 * drawn: a missing page never costs the trained model.
 *
 * @example
 *   await writeBundle(dir, contents, split, { files: (manifest) => trainingReportFiles(manifest, input) });
 */
export async function trainingReportFiles(manifest: BundleManifest, input: TrainingReportInput): Promise<Record<string, string>> {
  try {
    const G = manifest.genres.length;
    const balance: Record<string, number[]> = {};
    for (const [name, labels] of Object.entries(input.splits)) balance[name] = genreCounts(labels, labels.length / G, G);
    const charts = evaluationCharts({
      scores: input.scores,
      labels: input.labels,
      rows: input.test.rows,
      genres: manifest.genres,
      policy: manifest.thresholds,
      report: input.test,
      trainPrior: input.prior,
      seed: input.seed,
      posters: input.posters,
      balance,
      ...(manifest.history ? { history: manifest.history } : {}),
      ...(manifest.training ? { bestEpoch: manifest.training.bestEpoch } : {}),
    });
    const html = await renderReport({ evaluation: { ...input.test, charts }, manifest, model: input.model, data: manifest.training?.data ?? '(training data)', split: 'test' });
    return { [REPORT_FILE]: html };
  } catch (error) {
    // Still write the file: otherwise the swap would carry an older model's report.html into the new bundle.
    const reason = (error as Error).message;
    input.log?.(`${REPORT_FILE} could not be drawn: ${reason}`);
    return { [REPORT_FILE]: unavailablePage(`The report of ${input.model} could not be drawn: ${reason}. Run posterscope report --model ${input.model} --out ${input.model}/${REPORT_FILE}`) };
  }
}
