/**
 * Options several commands share, defined once, and the helpers that turn
 * them into library options.
 */
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { PosterscopeError, asWriteError, checkInteger, checkOneOf, invalidParameterError } from '../errors.js';
import type { PosterListReport } from '../data/dataset.js';
import type { CleanSettings } from '../clean/clean.js';
import type { DetectOptions } from '../ocr/detector.js';
import type { LoadBackboneOptions } from '../backbone/backbone.js';
import { BACKBONES, DEFAULT_BACKBONE } from '../backbone/registry.js';
import { type ModelFileSpec, type ResolveOptions, defaultCacheDir, defaultMirrors, resolveModelFile } from '../models/resolve.js';
import { printable } from '../printable.js';
import { terminalProgress, silentProgress, type Progress } from '../progress.js';
import { DEFAULT_DECODE_OPTIONS, type DecodeOptions } from '../image/poster.js';
import { type CommandContext, type OptionDefinition, usageError } from './command.js';

export const backboneOptions = {
  backbone: {
    type: 'string',
    valueName: 'ID|ROW.json',
    description: `Image backbone: ${BACKBONES.map((b) => b.id).join(', ')}, or a JSON file holding a row of your own`,
    defaultText: DEFAULT_BACKBONE,
  },
  'backbone-file': {
    type: 'string',
    valueName: 'FILE',
    description: 'Use this ONNX file for the backbone (its checksum is still verified)',
  },
  'cache-dir': {
    type: 'string',
    valueName: 'DIR',
    description: 'Where model files and embeddings are cached',
    defaultText: '$POSTERSCOPE_CACHE or ~/.cache/posterscope',
  },
  mirror: {
    type: 'string',
    multiple: true,
    valueName: 'DIR',
    description: 'Directory holding model files for offline installs; repeatable',
    defaultText: '$POSTERSCOPE_MIRROR',
  },
  offline: { type: 'boolean', description: 'Never touch the network (also POSTERSCOPE_OFFLINE=1, true or yes)' },
  threads: { type: 'string', valueName: 'N', description: 'ONNX Runtime intra-op threads per inference worker', defaultText: '1' },
  workers: { type: 'string', valueName: 'N', description: 'Inference worker threads, each running one batch at a time', defaultText: 'one per core' },
} satisfies Record<string, OptionDefinition>;

export const progressOptions = {
  quiet: { type: 'boolean', short: 'q', description: 'No progress output on stderr' },
} satisfies Record<string, OptionDefinition>;

export function stringOption(context: CommandContext, name: string): string | undefined {
  const value = context.values[name];
  return typeof value === 'string' ? value : undefined;
}

export function listOption(context: CommandContext, name: string): string[] {
  const value = context.values[name];
  if (Array.isArray(value)) return value.map(String);
  return typeof value === 'string' ? [value] : [];
}

export function integerOption(context: CommandContext, name: string, fallback: number, min: number, max: number): number {
  const text = stringOption(context, name);
  if (text === undefined) return fallback;
  return checkInteger(`--${name}`, /^-?\d+$/.test(text) ? Number(text) : text, min, max);
}

export function cacheDirOf(context: CommandContext): string {
  return stringOption(context, 'cache-dir') ?? defaultCacheDir(context.env);
}

export function backboneLoadOptions(context: CommandContext, progress: Progress): LoadBackboneOptions {
  const mirrors = listOption(context, 'mirror');
  const envMirrors = defaultMirrors(context.env);
  const path = stringOption(context, 'backbone-file');
  const threads = stringOption(context, 'threads');
  const workers = stringOption(context, 'workers');
  return {
    cacheDir: cacheDirOf(context),
    mirrors: [...mirrors, ...envMirrors],
    // Without --offline, resolution reads POSTERSCOPE_OFFLINE itself (1, true or yes), one rule for CLI and library.
    ...(context.values.offline === true ? { offline: true } : {}),
    progress,
    onWarning: (message) => context.stderr.write(`warning: ${printable(message)}\n`),
    env: context.env,
    ...(path ? { path } : {}),
    ...(threads ? { threads: integerOption(context, 'threads', 0, 0, 64) } : {}),
    ...(workers ? { workers: integerOption(context, 'workers', 0, 0, 64) } : {}),
  };
}

export const decodeOptions = {
  'max-pixels': {
    type: 'string',
    valueName: 'N',
    description: 'Refuse posters with more pixels than this (width x height), before decoding them',
    defaultText: String(DEFAULT_DECODE_OPTIONS.maxPixels),
  },
  'max-bytes': {
    type: 'string',
    valueName: 'N',
    description: 'Refuse poster files larger than this many bytes',
    defaultText: String(DEFAULT_DECODE_OPTIONS.maxBytes),
  },
} satisfies Record<string, OptionDefinition>;

/** The poster limits given on the command line (only those given). */
export function decodeOptionsOf(context: CommandContext): DecodeOptions {
  const { maxPixels, maxBytes } = DEFAULT_DECODE_OPTIONS;
  return {
    ...(stringOption(context, 'max-pixels') !== undefined ? { maxPixels: integerOption(context, 'max-pixels', maxPixels, 1, Number.MAX_SAFE_INTEGER) } : {}),
    ...(stringOption(context, 'max-bytes') !== undefined ? { maxBytes: integerOption(context, 'max-bytes', maxBytes, 1, Number.MAX_SAFE_INTEGER) } : {}),
  };
}

export function progressOf(context: CommandContext): Progress {
  return context.values.quiet === true ? silentProgress : terminalProgress({ stream: context.stderr });
}

/** `--data` naming posters, as embed and predict read it (no genres). */
export const posterListOptions = {
  data: { type: 'string', valueName: 'FILE', description: 'CSV or JSON Lines naming the posters by id (or by an image / path column)' },
  images: { type: 'string', multiple: true, valueName: 'DIR', description: 'Folder(s) holding the posters, <id>.jpg (any case of extension); repeatable' },
  'id-column': { type: 'string', valueName: 'NAME|INDEX', description: 'Column with the poster id', defaultText: 'id/Id/imdb_id/imdbId, else the path column, else column 0' },
  'path-column': { type: 'string', valueName: 'NAME|INDEX', description: 'Column with an image path instead of <id>.jpg', defaultText: 'image/path, if any' },
  strict: { type: 'boolean', description: 'Malformed rows are fatal instead of reported' },
  'title-column': { type: 'string', valueName: 'NAME|INDEX', description: 'Column with the movie title', defaultText: 'title/name, if any' },
  'plot-column': { type: 'string', valueName: 'NAME|INDEX', description: 'Column with the plot summary', defaultText: 'plot/overview/description, if any' },
  metadata: { type: 'string', valueName: 'FILE', description: 'CSV or JSON Lines with id, title, plot (and year), joined on the id' },
} satisfies Record<string, OptionDefinition>;

/** `--data` with genres, as train, evaluate and audit read it. */
export const datasetOptions = {
  ...posterListOptions,
  data: { type: 'string', valueName: 'FILE', description: 'Labelled posters: CSV (one-hot, list or |-separated genre column) or JSON Lines' },
  'genres-column': { type: 'string', valueName: 'NAME|INDEX', description: 'Column with a genre list ("[\'A\', \'B\']", "A|B", "A,B")', defaultText: 'auto' },
} satisfies Record<string, OptionDefinition>;

/** A column option: digits are an index, anything else a name. */
export function columnOption(context: CommandContext, name: string): string | number | undefined {
  const value = stringOption(context, name);
  if (value === undefined) return undefined;
  return /^\d+$/.test(value) ? Number(value) : value;
}

/** The column and strictness options of `posterListOptions` / `datasetOptions` that were given. */
export function datasetOptionsOf(context: CommandContext) {
  const idColumn = columnOption(context, 'id-column');
  const genresColumn = columnOption(context, 'genres-column');
  const pathColumn = columnOption(context, 'path-column');
  const titleColumn = columnOption(context, 'title-column');
  const plotColumn = columnOption(context, 'plot-column');
  const metadata = stringOption(context, 'metadata');
  return {
    ...(titleColumn !== undefined ? { titleColumn } : {}),
    ...(plotColumn !== undefined ? { plotColumn } : {}),
    ...(metadata !== undefined ? { metadata } : {}),
    ...(idColumn !== undefined ? { idColumn } : {}),
    ...(genresColumn !== undefined ? { genresColumn } : {}),
    ...(pathColumn !== undefined ? { pathColumn } : {}),
    ...(context.values.strict === true ? { strict: true } : {}),
  };
}

/** `--data FILE --images DIR...` as PosterListOptions, or undefined without --data. */
export function posterListOf(context: CommandContext, options: { imagesOptional?: boolean } = {}) {
  const data = stringOption(context, 'data');
  if (!data) return undefined;
  const images = listOption(context, 'images');
  // predict can read a table's titles and plots alone; every other command needs the posters.
  if (images.length === 0 && !options.imagesOptional) throw usageError('--data needs --images DIR (the folder holding the posters)');
  const { genresColumn: _genres, ...columns } = datasetOptionsOf(context);
  return { data, images, ...columns };
}

/**
 * What a command that reads `--data` for posters tells the user: rows with
 * no image and malformed rows, as `error:` lines (a few examples each), and
 * how many rows they are.
 *
 * @example
 *   posterListProblems(report, ['posters/'])
 *   // -> { rows: 3, lines: ['2 rows of ids.csv have no image in posters/ (e.g. tt9 (line 4), tt8 (line 6))',
 *   //                      'ids.csv line 5: empty id (column "id")'] }
 */
export function posterListProblems(report: PosterListReport, images: readonly string[]): { rows: number; lines: string[] } {
  const lines: string[] = [];
  if (report.imagesMissing > 0) {
    const rows = report.imagesMissing === 1 ? '1 row' : `${report.imagesMissing} rows`;
    lines.push(`${rows} of ${report.file} ${report.imagesMissing === 1 ? 'has' : 'have'} no image in ${images.join(', ')} (e.g. ${report.missingExamples.slice(0, 3).join(', ')})`);
  }
  for (const m of report.malformed.slice(0, SHOWN_MALFORMED)) lines.push(`${report.file} line ${m.line}: ${m.reason}`);
  if (report.malformed.length > SHOWN_MALFORMED) lines.push(`… and ${report.malformed.length - SHOWN_MALFORMED} more malformed rows of ${report.file}`);
  return { rows: report.imagesMissing + report.malformed.length, lines };
}

const SHOWN_MALFORMED = 10;

export function numberOption(context: CommandContext, name: string, min: number, max: number): number | undefined {
  const text = stringOption(context, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
    throw invalidParameterError(`--${name}`, `number between ${min} and ${max}`, Number.isFinite(value) && text.trim() !== '' ? value : text);
  }
  return value;
}

/** How text is found: `clean`, `read`, and `train` / `predict` with --clean. */
export const detectionOptions = {
  'detect-side': { type: 'string', valueName: 'PX', description: 'Text detection: scale the poster\'s shorter side to PX (at most 2x enlarged)', defaultText: '640' },
  'box-threshold': { type: 'string', valueName: 'P', description: 'Text detection: minimum mean text probability of a box', defaultText: '0.6' },
  'detector-file': { type: 'string', valueName: 'FILE', description: 'Use this ONNX file for the text detector (its checksum is still verified)' },
} satisfies Record<string, OptionDefinition>;

export const cleanOptions = {
  ...detectionOptions,
  dilate: { type: 'string', valueName: 'PX', description: 'Pixels added around each text box before in-painting', defaultText: '2' },
  'inpaint-radius': { type: 'string', valueName: 'PX', description: 'In-painting neighbourhood radius', defaultText: '5' },
} satisfies Record<string, OptionDefinition>;

/** Detection settings given on the command line (only those given). */
export function detectSettingsOf(context: CommandContext): DetectOptions {
  const side = stringOption(context, 'detect-side');
  const boxThreshold = numberOption(context, 'box-threshold', 0.01, 0.99);
  return {
    ...(side !== undefined ? { detectSide: integerOption(context, 'detect-side', 640, 32, 4096) } : {}),
    ...(boxThreshold !== undefined ? { boxThreshold } : {}),
  };
}

/** Clean settings given on the command line (only those given, so a bundle's own settings fill the rest). */
export function cleanSettingsOf(context: CommandContext): CleanSettings {
  const dilate = stringOption(context, 'dilate');
  const radius = stringOption(context, 'inpaint-radius');
  return {
    ...detectSettingsOf(context),
    ...(dilate !== undefined ? { dilate: integerOption(context, 'dilate', 2, 0, 100) } : {}),
    ...(radius !== undefined ? { radius: integerOption(context, 'inpaint-radius', 5, 1, 50) } : {}),
  };
}

/** `clean` and `detectorPath` library options from --clean, the clean settings and --detector-file; settings alone imply --clean. */
export function cleanOf(context: CommandContext): { clean?: boolean | CleanSettings; detectorPath?: string } {
  const settings = cleanSettingsOf(context);
  const detectorPath = stringOption(context, 'detector-file');
  const wanted = context.values.clean === true || Object.keys(settings).length > 0;
  return {
    ...(wanted ? { clean: Object.keys(settings).length > 0 ? settings : true } : {}),
    ...(detectorPath ? { detectorPath } : {}),
  };
}

/**
 * A command's results to `--output FILE`, else stdout. A file that cannot be
 * written is one error naming it.
 *
 * @example
 *   await writeResults(context, stringOption(context, 'output'), JSON.stringify(results))
 */
export async function writeResults(context: Pick<CommandContext, 'stdout'>, output: string | undefined, text: string): Promise<void> {
  if (!output) {
    context.stdout.write(text);
    return;
  }
  try {
    // (A stream's end() callback also fires on a failed write: a full disk used to exit 0 with an empty file.)
    await writeFile(output, text);
  } catch (error) {
    const failed = asWriteError(output, error);
    throw failed instanceof PosterscopeError
      ? failed
      : new PosterscopeError('INVALID_ARGUMENT', `cannot write --output ${output}: ${(error as Error).message}`, { subject: '--output', cause: error });
  }
}

/** Where a job queue and its results are: `queue` and `worker`. */
export const queueOptions = {
  redis: { type: 'string', valueName: 'URL', description: 'Redis holding the job queue (redis://host:port, rediss:// for TLS)' },
  queue: { type: 'string', valueName: 'NAME', description: 'Queue name (several runs can share one Redis)', defaultText: 'posters' },
  store: { type: 'string', valueName: 'DIR', description: 'Shared folder every worker reaches, where results are written by content hash' },
  jobs: { type: 'string', valueName: 'LIST', description: 'Job kinds: embed, clean, predict (comma-separated)', defaultText: 'all' },
} satisfies Record<string, OptionDefinition>;

/** `--jobs embed,clean`, checked; undefined when not given. */
export function jobKindsOf(context: CommandContext): Array<'embed' | 'clean' | 'predict'> | undefined {
  const text = stringOption(context, 'jobs');
  if (text === undefined) return undefined;
  const kinds = text.split(',').map((k) => k.trim()).filter((k) => k !== '');
  if (kinds.length === 0) throw invalidParameterError('--jobs', 'a comma-separated list of embed, clean, predict', text);
  return [...new Set(kinds.map((k) => checkOneOf('--jobs', ['embed', 'clean', 'predict'] as const, k)))];
}

/**
 * Where a model file is, for the `backbones` / `encoders` listings: only the
 * row asked for with --fetch may touch the network (and its failure is the
 * command's error); the others are looked up locally.
 *
 * @example
 *   await locateModelFile(spec.file, { mirrors: ['/media/models'] }, false) // -> 'mirror: /media/models/mobilenetv2-12-int8.onnx'
 */
export async function locateModelFile(file: ModelFileSpec, options: ResolveOptions, fetch: boolean): Promise<string> {
  try {
    const found = await resolveModelFile(file, { ...options, offline: fetch ? options.offline : true });
    return `${found.source}: ${found.path}`;
  } catch (error) {
    if (fetch) throw error;
    return 'not available locally';
  }
}

const EVALUATION_SPLITS = ['test', 'validation', 'all'] as const;

/** `--split` of evaluate and report: which rows of the data to score. */
export const splitOption: OptionDefinition = {
  type: 'string',
  valueName: 'SPLIT',
  description: `Rows to score: ${EVALUATION_SPLITS.join(', ')}`,
  defaultText: 'test for the bundle\'s own data, else all',
};

export function splitOf(context: CommandContext): (typeof EVALUATION_SPLITS)[number] | undefined {
  const text = stringOption(context, 'split');
  return text === undefined ? undefined : checkOneOf('--split', EVALUATION_SPLITS, text);
}
