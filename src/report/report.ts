/**
 * `posterscope report`: a model's evaluation drawn as one self-contained
 * HTML page (see report/html.ts). The numbers are `evaluate()`'s, charts
 * included (eval/curves.ts); this module adds the poster thumbnails of the
 * mistakes gallery and the bundled chart script, and writes the file
 * atomically.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from '../atomic-file.js';
import { PosterscopeError, checkInteger } from '../errors.js';
import type { EvaluationCharts } from '../eval/curves.js';
import { type DecodeOptions, decodePoster } from '../image/poster.js';
import type { BundleManifest } from '../model/bundle.js';
import { type EvaluateOptions, type ModelEvaluation, evaluate } from '../model/evaluate.js';
import { readBundle } from '../model/bundle.js';
import { DEFAULT_MODEL_PATH } from '../model/model.js';
import type { ChartedEvaluation } from './charts.js';
import { type ReportPage, renderReportPage } from './html.js';

export { reportContentSecurityPolicy } from './html.js';

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
  /** Thumbnail width in pixels; default 80. */
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
  const width = checkInteger('width', options.width ?? 80, 8, 512);
  const out = new Map<string, string>();
  for (const path of new Set(paths)) {
    try {
      const poster = await decodePoster(path, { ...options.decode, maxSide: width * 3 });
      const bytes = await sharp(poster.pixels, { raw: { width: poster.width, height: poster.height, channels: 3 } })
        .resize({ width, withoutEnlargement: true })
        .webp({ quality: 55, effort: 2 })
        .toBuffer();
      out.set(path, `data:image/webp;base64,${bytes.toString('base64')}`);
    } catch {
      // The gallery shows the poster's id without a picture.
    }
  }
  return out;
}

export interface RenderReportInput {
  evaluation: ChartedEvaluation;
  manifest: BundleManifest;
  model: string;
  data: string;
  split: string;
  skipped?: number;
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
  const path = resolve(out);
  await writeFileAtomic(path, html);
  return { path: out, bytes: Buffer.byteLength(html), seconds: (performance.now() - started) / 1000, evaluation };
}
