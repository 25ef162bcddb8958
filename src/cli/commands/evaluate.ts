import { refuseOutputOverInput } from '../../data/files.js';
import { writeFileAtomic } from '../../atomic-file.js';
import { printable } from '../../printable.js';
import { formatReport } from '../../eval/report.js';
import { evaluate, formatModalities } from '../../model/evaluate.js';
import { type CommandDefinition, EXIT, usageError } from '../command.js';
import {
  backboneLoadOptions,
  backboneOptions,
  datasetOptions,
  datasetOptionsOf,
  listOption,
  progressOf,
  progressOptions,
  splitOf,
  splitOption,
  stringOption,
  decodeOptions,
  decodeOptionsOf,
} from '../shared-options.js';

const command: CommandDefinition = {
  name: 'evaluate',
  summary: 'Score a model bundle on its held-out test split or any labelled file, beside baselines.',
  usage: 'posterscope evaluate [--model DIR] [--data FILE --images DIR] [options]',
  details: [
    'Prints the reference systems\' table (exact match, precision, recall, micro-F1, macro-F1,',
    'micro-F0.5) at thresholds 0.3 / 0.5 / 0.7 and at the bundle\'s own policy, mAP, per-genre',
    'precision / recall / F1 / AP / support, and two baselines on the same rows: the',
    'label-frequency prior (at its best global threshold) and uniform random scores.',
    'Without --data, the bundle\'s own data and test split are used. A model reading several',
    'inputs (image, title, plot) also gets the modality table: the same rows scored with image',
    'only, title only, plot only, title + plot, image + title and all inputs, and again on the',
    'rows that have a plot (JSON: modalities.{image,title,plot,text,imageTitle,all}).',
  ].join('\n'),
  options: {
    model: { type: 'string', valueName: 'DIR', description: 'Model bundle', defaultText: 'the built-in default model' },
    ...datasetOptions,
    split: splitOption,
    tta: { type: 'string', valueName: 'VIEWS', description: 'Views averaged per poster', defaultText: 'the bundle\'s' },
    json: { type: 'string', valueName: 'FILE', description: 'Also write the full report as JSON to FILE; with -, print only the JSON on stdout (the table is left out)' },
    ...backboneOptions,
    ...decodeOptions,
    ...progressOptions,
  },
  examples: ['posterscope evaluate --model my-model', 'posterscope evaluate --model my-model --data other.csv --images other/ --json report.json'],
  async run(context) {
    const split = splitOf(context);
    const data = stringOption(context, 'data');
    const images = listOption(context, 'images');
    const tta = stringOption(context, 'tta');
    const jsonOut = stringOption(context, 'json');
    if (data && jsonOut && jsonOut !== '-') await refuseOutputOverInput([data], [{ option: '--json', path: jsonOut, kind: 'file' }]);
    const progress = progressOf(context);
    const report = await evaluate({
      ...backboneLoadOptions(context, progress),
      ...datasetOptionsOf(context),
      ...(stringOption(context, 'model') ? { model: stringOption(context, 'model')! } : {}),
      ...(data ? { data, images } : {}),
      ...(split ? { split } : {}),
      ...(tta ? { views: tta.split(',') } : {}),
      progress,
      decode: decodeOptionsOf(context),
    });
    const json = stringOption(context, 'json');
    const heading = `${report.model} on ${report.data} (${report.split}: ${report.rows} posters${report.skipped ? `, ${report.skipped} unreadable skipped` : ''})\n`;
    if (json === '-') {
      // stdout holds the JSON alone, so a script can parse it; the heading is for the human on stderr.
      context.stderr.write(`${printable(heading.trimEnd())}\n`);
      context.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      const modalities = Object.keys(report.modalities).length > 1 ? [
        `by inputs, on the same ${report.rows} rows (a row without any of the inputs gets the prior):`,
        formatModalities(report.modalities, report.baselines.prior),
        '',
        ...(report.modalitiesWithPlot
          ? [`by inputs, on the ${report.modalitiesWithPlot.rows} rows with a plot:`, formatModalities(report.modalitiesWithPlot.reports, report.modalitiesWithPlot.reports.all?.baselines.prior ?? report.baselines.prior), '']
          : []),
      ].join('\n') : '';
      context.stdout.write(heading + formatReport(report) + modalities);
      // Whole or not at all (a full disk is one WRITE_FAILED line after the table, not a torn JSON file).
      if (json) await writeFileAtomic(json, `${JSON.stringify(report, null, 2)}\n`);
    }
    return EXIT.ok;
  },
};

export default command;
