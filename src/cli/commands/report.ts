import { printable } from '../../printable.js';
import { writeReport } from '../../report/report.js';
import { type CommandDefinition, EXIT, usageError } from '../command.js';
import {
  backboneLoadOptions,
  backboneOptions,
  datasetOptions,
  datasetOptionsOf,
  decodeOptions,
  decodeOptionsOf,
  listOption,
  progressOf,
  progressOptions,
  splitOf,
  splitOption,
  stringOption,
} from '../shared-options.js';

const command: CommandDefinition = {
  name: 'report',
  summary: 'Draw a model\'s evaluation as one self-contained HTML page (charts, baselines, failure gallery).',
  usage: 'posterscope report [--model DIR] [--data FILE --images DIR] [--out report.html] [--json]',
  details: [
    'Evaluates the bundle exactly as `evaluate` does (its own test split by default) and writes one',
    'HTML file that works offline: training history, threshold sweep, precision-recall per genre,',
    'per-genre F1 and AP, class balance, genre confusion beside label co-occurrence, calibration,',
    'the inputs used, and the most confident mistakes per genre as poster thumbnails. Every number',
    'is shown beside the label-frequency prior and random scores. --json prints the numbers drawn.',
  ].join('\n'),
  options: {
    model: { type: 'string', valueName: 'DIR', description: 'Model bundle', defaultText: 'the built-in default model' },
    ...datasetOptions,
    split: splitOption,
    tta: { type: 'string', valueName: 'VIEWS', description: 'Views averaged per poster', defaultText: 'the bundle\'s' },
    out: { type: 'string', short: 'o', valueName: 'FILE', description: 'Where to write the page', defaultText: 'report.html' },
    json: { type: 'boolean', description: 'Print the evaluation with every chart\'s numbers as JSON on stdout' },
    ...backboneOptions,
    ...decodeOptions,
    ...progressOptions,
  },
  examples: ['posterscope report --model my-model --out my-model/report.html', 'posterscope report --model my-model --data other.csv --images other/ --json > numbers.json'],
  async run(context) {
    const split = splitOf(context);
    const data = stringOption(context, 'data');
    const images = listOption(context, 'images');
    if (data && images.length === 0) throw usageError('--data needs --images DIR (the folder holding the posters)');
    const tta = stringOption(context, 'tta');
    const progress = progressOf(context);
    const result = await writeReport({
      ...backboneLoadOptions(context, progress),
      ...datasetOptionsOf(context),
      ...(stringOption(context, 'model') ? { model: stringOption(context, 'model')! } : {}),
      ...(data ? { data, images } : {}),
      ...(split ? { split } : {}),
      ...(tta ? { views: tta.split(',') } : {}),
      out: stringOption(context, 'out') ?? 'report.html',
      progress,
      decode: decodeOptionsOf(context),
    });
    const { evaluation: e } = result;
    const line =
      `wrote ${result.path} (${(result.bytes / 1e6).toFixed(2)} MB, ${result.seconds.toFixed(1)} s): ${e.model} on ${e.data} ` +
      `(${e.split}: ${e.rows} posters${e.skipped ? `, ${e.skipped} unreadable skipped` : ''}); micro-F1 ${e.microF1.toFixed(3)}, mAP ${e.mAP.toFixed(3)} ` +
      `(prior ${e.baselines.prior.microF1.toFixed(3)} / ${e.baselines.prior.mAP.toFixed(3)})`;
    if (context.values.json === true) {
      // stdout holds the JSON alone; the summary is for the human on stderr.
      context.stderr.write(`${printable(line)}\n`);
      context.stdout.write(`${JSON.stringify(e, null, 2)}\n`);
    } else {
      context.stdout.write(`${printable(line)}\n`);
    }
    return EXIT.ok;
  },
};

export default command;
