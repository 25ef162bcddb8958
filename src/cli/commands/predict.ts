import { readPosterList } from '../../data/dataset.js';
import { collectImageFiles, refuseOutputOverInput } from '../../data/files.js';
import { toCsv } from '../../data/table.js';
import { checkOneOf, excerpt } from '../../errors.js';
import { printable } from '../../printable.js';
import { VIEW_SETS } from '../../image/views.js';
import { type PredictInput, type Prediction, loadModel } from '../../model/model.js';
import { loadPosterReader } from '../../ocr/read.js';
import { type CommandContext, type CommandDefinition, EXIT, reportError, usageError } from '../command.js';
import {
  backboneLoadOptions,
  backboneOptions,
  cleanOf,
  cleanOptions,
  integerOption,
  numberOption,
  posterListOf,
  posterListOptions,
  progressOf,
  progressOptions,
  stringOption,
  decodeOptions,
  decodeOptionsOf,
  writeResults,
} from '../shared-options.js';

const FORMATS = ['json', 'jsonl', 'csv', 'table'] as const;
type Format = (typeof FORMATS)[number];
const DEFAULT_SHOWN = 5;

/** The JSON object for one input: without --verbose, `scores` keeps the predicted genres and the top five. */
function view(prediction: Prediction, verbose: boolean): Prediction {
  if (verbose || prediction.error) return prediction;
  const shown = Math.max(DEFAULT_SHOWN, prediction.genres.length);
  return { ...prediction, scores: prediction.scores.slice(0, shown) };
}

function render(predictions: Prediction[], format: Format, verbose: boolean, genres: readonly string[]): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(predictions.map((p) => view(p, verbose)), null, 2)}\n`;
    case 'jsonl':
      return predictions.map((p) => `${JSON.stringify(view(p, verbose))}\n`).join('');
    case 'csv': {
      const rows = predictions.map((p) => {
        const byGenre = new Map(p.scores.map((s) => [s.genre, s.score]));
        return [p.input, p.genres.join('|'), p.error?.message ?? '', ...genres.map((g) => (byGenre.has(g) ? byGenre.get(g)!.toFixed(5) : ''))];
      });
      return toCsv([['input', 'genres', 'error', ...genres], ...rows]);
    }
    case 'table': {
      const rows = predictions.map((p) => {
        const scores = view(p, verbose).scores.map((s) => `${s.genre} ${s.score.toFixed(2)}`).join(', ');
        // Escaped before padding, so a control character in a file name neither breaks the row nor skews the columns.
        return [p.input, p.error ? 'ERROR' : p.genres.join(', ') || '(none)', p.error ? p.error.message : scores].map(printable);
      });
      const header = ['poster', 'genres', verbose ? 'all scores' : 'top scores'];
      const widths = [0, 1].map((c) => Math.min(60, Math.max(header[c]!.length, ...rows.map((r) => r[c]!.length))));
      return `${[header, ...rows].map((r) => `${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]}`).join('\n')}\n`;
    }
  }
}

const command: CommandDefinition = {
  name: 'predict',
  summary: 'Predict the genres of posters (files, folders, globs) with a model bundle.',
  usage: 'posterscope predict <files|dirs|globs...> [options]\n       posterscope predict --data list.csv --images DIR [options]',
  details: [
    'Output: --format json (default when stdout is not a terminal) is an array with one object',
    'per input: { "input", "genres": [...], "scores": [{ "genre", "score" }, ...high to low],',
    '"inputs": ["image", "title", "plot"] (what was used), "error"?: { "code", "message" } };',
    'scores list the predicted genres and the top five',
    '(every genre with --verbose). One unreadable poster never stops a batch: it gets its',
    '"error", and the exit code is 1 when any input failed (2 for usage errors).',
  ].join('\n'),
  options: {
    model: { type: 'string', valueName: 'DIR', description: 'Model bundle to use', defaultText: 'the built-in default model' },
    title: { type: 'string', valueName: 'TEXT', description: 'The movie\'s title, e.g. "Alien (1979)" (with one poster, or alone)' },
    plot: { type: 'string', valueName: 'TEXT', description: 'The movie\'s plot summary (with one poster, or alone)' },
    'read-text': { type: 'boolean', description: 'Read each poster\'s own text (OCR, as `posterscope read`) and use it as the title when a poster comes without one' },
    ...posterListOptions,
    threshold: { type: 'string', valueName: 'P', description: 'One global threshold instead of the bundle\'s tuned policy' },
    'top-k': { type: 'string', valueName: 'K', description: 'At most K genres per poster' },
    'at-least-one': { type: 'boolean', description: 'Always give at least the top genre' },
    tta: {
      type: 'string',
      valueName: 'VIEWS',
      description: `Views averaged per poster (test-time augmentation), e.g. single, tiles, native,tiles-2x; sets: ${Object.keys(VIEW_SETS).join(', ')}`,
      defaultText: 'the bundle\'s',
    },
    format: { type: 'string', short: 'f', valueName: 'FORMAT', description: `Output format: ${FORMATS.join(', ')}`, defaultText: 'table on a terminal, json otherwise' },
    output: { type: 'string', short: 'o', valueName: 'FILE', description: 'Write the results to FILE instead of stdout' },
    verbose: { type: 'boolean', short: 'v', description: 'Every genre\'s score' },
    'no-cache': { type: 'boolean', description: 'Neither read nor store poster embeddings in the cache (every poster is decoded and embedded)' },
    clean: { type: 'boolean', description: 'Remove text from posters first (automatic when the model was trained with --clean)' },
    ...cleanOptions,
    ...backboneOptions,
    ...decodeOptions,
    ...progressOptions,
  },
  examples: [
    'posterscope predict poster.jpg',
    'posterscope predict posters/ --format csv --output genres.csv',
    'posterscope predict "new/**/*.jpg" --top-k 3 --tta tiles --format jsonl',
    'posterscope predict poster.jpg --model my-model --threshold 0.3 --verbose',
    'posterscope predict --data new.csv --images posters/ --format csv -o genres.csv',
    'posterscope predict poster.jpg --title "Alien (1979)" --plot "The crew of a space tug ..."',
    'posterscope predict --title "Alien (1979)" --plot "The crew of a space tug ..."',
    'posterscope predict --data movies.csv --metadata metadata.csv --images posters/',
  ],
  async run(context: CommandContext) {
    const list = posterListOf(context, { imagesOptional: true });
    const title = stringOption(context, 'title');
    const plot = stringOption(context, 'plot');
    const given = { ...(title !== undefined ? { title } : {}), ...(plot !== undefined ? { plot } : {}) };
    const withText = title !== undefined || plot !== undefined;
    if (context.positionals.length === 0 && !list && !withText) {
      throw usageError('give poster files, folders or globs to predict, --title / --plot, or --data FILE --images DIR (see `posterscope predict --help`)');
    }
    if (withText && list) throw usageError('--title and --plot describe one movie: give them with one poster or alone, not with --data (use its title / plot columns)');
    const formatText = stringOption(context, 'format');
    const output = stringOption(context, 'output');
    const format: Format = formatText !== undefined ? checkOneOf('--format', FORMATS, formatText) : !output && context.stdout.isTTY ? 'table' : 'json';
    const threshold = numberOption(context, 'threshold', 0, 1);
    const tta = stringOption(context, 'tta');
    const { files, missing } = await collectImageFiles(context.positionals);
    if (withText && files.length + missing.length > 1) throw usageError('--title and --plot describe one movie: give them with one poster (use --data with title / plot columns for many)');
    const inputs: PredictInput[] = withText ? (files.length === 1 ? [{ image: files[0]!, ...given }] : missing.length > 0 ? [] : [given]) : [...files];
    const problems: string[] = [];
    /** Inputs from --data rows without a poster, predicted from their text: named by their id. */
    const textRows = new Map<number, { id: string; reason: string }>();
    // -o over a poster or the table being read would destroy an input.
    if (output) await refuseOutputOverInput([...files, ...(list ? [list.data] : [])], [{ option: '--output', path: output, kind: 'file' }]);
    const progress = progressOf(context);
    // Text alone (no poster, no table) needs no image backbone: it is not even looked for.
    const textOnly = withText && !list && files.length + missing.length === 0;
    const model = await loadModel(stringOption(context, 'model'), { ...backboneLoadOptions(context, progress), ...cleanOf(context), ...(textOnly ? { imageBranch: false } : {}) });
    if (list) {
      // Rows of --data: each found poster (with the row's text) is an input; a row without one predicts from its text
      // when the model reads text, else it is a failed input, named by its id.
      const { rows, report } = await readPosterList(list);
      const readsText = model.accepts.includes('title') || model.accepts.includes('plot');
      for (const row of rows) {
        const rowText = { ...(row.title ? { title: row.title } : {}), ...(row.plot ? { plot: row.plot } : {}) };
        const reason = `no image in ${list.images.join(', ') || '(no --images given)'} (${list.data} line ${row.line})`;
        if (row.image !== null) inputs.push({ image: row.image, ...rowText });
        else if (readsText && (row.title || row.plot)) {
          textRows.set(inputs.length, { id: row.id, reason });
          inputs.push(rowText);
        } else missing.push({ input: row.id, reason });
      }
      problems.push(...report.malformed.map((m) => `${list.data} line ${m.line}: ${m.reason}`));
    }
    const topK = context.values['top-k'] === undefined ? undefined : integerOption(context, 'top-k', 1, 1, model.genres.length);
    let predictions: Prediction[];
    const { path: _path, ...load } = backboneLoadOptions(context, progress);
    const reader = context.values['read-text'] === true ? await loadPosterReader({}, load).catch(async (error) => { await model.release(); throw error; }) : undefined;
    try {
      predictions = await model.predict(inputs, {
        ...(threshold !== undefined ? { threshold } : {}),
        ...(topK !== undefined ? { topK } : {}),
        ...(context.values['at-least-one'] === true ? { atLeastOne: true } : {}),
        ...(tta ? { views: tta.split(',') } : {}),
        ...(context.values['no-cache'] === true ? { cache: false } : {}),
        decode: decodeOptionsOf(context),
        // A progress bar only pays for itself on batches.
        ...(inputs.length > 1 ? { progress } : {}),
        ...(reader ? { readText: reader } : {}),
      });
    } finally {
      await Promise.all([model.release(), reader?.release()]);
    }
    for (const [index, row] of textRows) {
      const p = predictions[index]!;
      // The text said nothing the model knows: the row is what it was before text, a poster not found.
      predictions[index] = p.error
        ? { input: row.id, inputs: [], genres: [], scores: [], error: { code: 'IMAGE_NOT_FOUND', message: `${excerpt(row.id)}: ${row.reason}, and its text has no word the model knows` } }
        : { ...p, input: row.id };
    }
    for (const m of missing) {
      predictions.push({ input: m.input, inputs: [], genres: [], scores: [], error: { code: 'IMAGE_NOT_FOUND', message: `${excerpt(m.input)}: ${m.reason}` } });
    }
    const text = render(predictions, format, context.values.verbose === true, model.genres);
    await writeResults(context, output, text);
    const failed = predictions.filter((p) => p.error);
    for (const line of [...problems, ...failed.map((p) => p.error!.message)]) reportError(context, line);
    return failed.length + problems.length > 0 ? EXIT.failed : EXIT.ok;
  },
};

export default command;
