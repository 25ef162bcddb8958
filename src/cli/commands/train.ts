import { refuseOutputOverInput } from '../../data/files.js';
import { checkOneOf } from '../../errors.js';
import { formatReport } from '../../eval/report.js';
import { VIEW_SETS } from '../../image/views.js';
import type { HeadSpec } from '../../model/head.js';
import { TRAIN_DEFAULTS as D } from '../../train/defaults.js';
import type { TuneOptions } from '../../train/thresholds.js';
import { train } from '../../train/train.js';
import { MODEL_INPUTS } from '../../model/inputs.js';
import { DEFAULT_TEXT_ENCODER, TEXT_ENCODERS } from '../../text/encoders.js';
import { type CommandDefinition, EXIT, usageError } from '../command.js';
import {
  backboneLoadOptions,
  backboneOptions,
  cleanOf,
  cleanOptions,
  datasetOptions,
  datasetOptionsOf,
  integerOption,
  listOption,
  numberOption,
  progressOf,
  progressOptions,
  stringOption,
  decodeOptions,
  decodeOptionsOf,
} from '../shared-options.js';

const HEADS = ['linear', 'mlp'] as const;
const FUSIONS = ['sum', 'concat'] as const;
const POLICIES = ['global', 'per-genre-f1', 'per-genre-precision'] as const satisfies ReadonlyArray<TuneOptions['mode']>;

const command: CommandDefinition = {
  name: 'train',
  summary: 'Train a genre model on labelled posters and write a bundle (evaluated on a held-out test split).',
  usage: 'posterscope train --data FILE --images DIR --output DIR [options]',
  details: [
    'Posters are embedded once with a frozen backbone (cached, so re-training is fast),',
    'split 80/10/10 with iterative stratification (duplicates never straddle splits), a head',
    'is fitted with early stopping on validation loss, thresholds are tuned on validation,',
    'and the test split is scored beside the label-frequency prior and random baselines.',
  ].join('\n'),
  options: {
    ...datasetOptions,
    output: { type: 'string', short: 'o', valueName: 'DIR', description: 'Where the model bundle is written' },
    'min-count': { type: 'string', valueName: 'N', description: 'Drop genres with fewer than N posters', defaultText: '1' },
    genres: { type: 'string', valueName: 'A,B,...', description: 'Fix the genre vocabulary' },
    views: {
      type: 'string',
      valueName: 'VIEWS',
      description: `Views averaged per poster at prediction time (sets: ${Object.keys(VIEW_SETS).join(', ')})`,
      defaultText: D.views.join(','),
    },
    'train-views': { type: 'string', valueName: 'VIEWS', description: 'Extra augmented views used as training samples, e.g. aug-1,aug-2', defaultText: D.trainViews.join(',') || 'none' },
    head: { type: 'string', valueName: 'TYPE', description: `Head: ${HEADS.join(', ')}`, defaultText: D.head.type },
    hidden: { type: 'string', valueName: 'N', description: 'MLP hidden units', defaultText: String(D.mlp.hidden) },
    dropout: { type: 'string', valueName: 'P', description: 'MLP dropout', defaultText: String(D.mlp.dropout) },
    loss: { type: 'string', valueName: 'LOSS', description: 'bce, bce-weighted, focal, asymmetric', defaultText: D.loss },
    'learning-rate': { type: 'string', valueName: 'LR', description: 'AdamW learning rate', defaultText: String(D.learningRate) },
    'weight-decay': { type: 'string', valueName: 'WD', description: 'AdamW decoupled weight decay', defaultText: String(D.weightDecay) },
    'batch-size': { type: 'string', valueName: 'N', description: 'Training batch size', defaultText: String(D.batchSize) },
    epochs: { type: 'string', valueName: 'N', description: 'Maximum epochs', defaultText: String(D.maxEpochs) },
    patience: { type: 'string', valueName: 'N', description: 'Epochs without a better validation loss before stopping', defaultText: String(D.patience) },
    seed: { type: 'string', valueName: 'N', description: 'Seed for the split, initialisation and batches', defaultText: String(D.seed) },
    thresholds: { type: 'string', valueName: 'POLICY', description: `Threshold policy: ${POLICIES.join(', ')}`, defaultText: D.thresholds },
    'min-precision': { type: 'string', valueName: 'P', description: 'Lowest validation precision the global threshold may trade for F1', defaultText: String(D.minPrecision) },
    'target-precision': { type: 'string', valueName: 'P', description: 'Per-genre precision for --thresholds per-genre-precision', defaultText: String(D.targetPrecision) },
    inputs: { type: 'string', valueName: 'LIST', description: `Inputs the model reads, one head each: ${MODEL_INPUTS.join(', ')}`, defaultText: 'image (with --images) plus title and plot when the data has them' },
    'text-encoder': { type: 'string', valueName: 'ID', description: `Text encoder for the title and plot heads: ${Object.keys(TEXT_ENCODERS).join(', ')}`, defaultText: DEFAULT_TEXT_ENCODER },
    fusion: { type: 'string', valueName: 'TYPE', description: `How the heads are combined: ${FUSIONS.join(', ')}`, defaultText: 'sum' },
    'text-learning-rate': { type: 'string', valueName: 'LR', description: 'AdamW learning rate of the text heads', defaultText: String(D.textLearningRate) },
    'read-text': { type: 'boolean', description: 'Use the text read on a poster (OCR) as its title when the data gives none' },
    json: { type: 'boolean', description: 'Print the test evaluation as JSON on stdout' },
    clean: { type: 'boolean', description: 'Remove text from posters before embedding (see `posterscope clean`); predict then does too' },
    ...cleanOptions,
    ...backboneOptions,
    ...decodeOptions,
    ...progressOptions,
  },
  examples: [
    'posterscope train --data labels.csv --images posters/ --output my-model',
    'posterscope train --data movies.csv --id-column 0 --genres-column 3 --images a/ --images b/ --output m --min-count 10',
    'posterscope train --data labels.jsonl --images . --output m --head mlp --hidden 256 --loss bce-weighted',
    'posterscope train --data labels.csv --images posters/ --output text-free --clean',
    'posterscope train --data labels.csv --metadata metadata.csv --images posters/ --output multimodal',
    'posterscope train --data movies.csv --title-column Title --plot-column Description --output text-only',
  ],
  async run(context) {
    const data = stringOption(context, 'data');
    const images = listOption(context, 'images');
    const output = stringOption(context, 'output');
    if (!data || !output) throw usageError('train needs --data FILE, --images DIR (or text: title / plot columns, --metadata) and --output DIR (see `posterscope train --help`)');
    const inputsText = stringOption(context, 'inputs');
    const inputs = inputsText?.split(',').map((i) => checkOneOf('--inputs', MODEL_INPUTS, i.trim()));
    if (inputs?.includes('image') && images.length === 0) throw usageError('--inputs image needs --images DIR (the folder holding the posters)');
    const textEncoder = stringOption(context, 'text-encoder');
    if (textEncoder !== undefined) checkOneOf('--text-encoder', Object.keys(TEXT_ENCODERS), textEncoder);
    const fusion = checkOneOf('--fusion', FUSIONS, stringOption(context, 'fusion') ?? 'sum');
    const textLearningRate = numberOption(context, 'text-learning-rate', 1e-6, 10);
    // The bundle folder is swapped in whole: it must not be, or hold, the posters or the table.
    await refuseOutputOverInput([data, ...images], [{ option: '--output', path: output, kind: 'dir' }]);
    const headName = checkOneOf('--head', HEADS, stringOption(context, 'head') ?? D.head.type);
    const head: HeadSpec =
      headName === 'mlp'
        ? { type: 'mlp', hidden: integerOption(context, 'hidden', D.mlp.hidden, 1, 65536), dropout: numberOption(context, 'dropout', 0, 0.95) ?? D.mlp.dropout }
        : { type: 'linear' };
    const policy = checkOneOf('--thresholds', POLICIES, stringOption(context, 'thresholds') ?? D.thresholds);
    const thresholds: TuneOptions = {
      mode: policy,
      minPrecision: numberOption(context, 'min-precision', 0, 1) ?? D.minPrecision,
      ...(policy === 'per-genre-precision' ? { targetPrecision: numberOption(context, 'target-precision', 0.01, 1) ?? D.targetPrecision } : {}),
    };
    const genres = stringOption(context, 'genres');
    const views = stringOption(context, 'views');
    const trainViews = stringOption(context, 'train-views');
    const learningRate = numberOption(context, 'learning-rate', 1e-6, 10);
    const weightDecay = numberOption(context, 'weight-decay', 0, 10);
    const progress = progressOf(context);
    const log = (line: string) => context.stderr.write(`${line}\n`);
    const result = await train({
      data,
      images,
      output,
      ...datasetOptionsOf(context),
      ...backboneLoadOptions(context, progress),
      minCount: integerOption(context, 'min-count', 1, 1, 1_000_000),
      ...(genres ? { genres: genres.split(',').map((g) => g.trim()) } : {}),
      ...(stringOption(context, 'backbone') ? { backbone: stringOption(context, 'backbone')! } : {}),
      ...(views ? { views: views.split(',') } : {}),
      ...(trainViews !== undefined ? { trainViews: trainViews.split(',').filter(Boolean) } : {}),
      head,
      loss: stringOption(context, 'loss') ?? D.loss,
      ...(learningRate !== undefined ? { learningRate } : {}),
      ...(weightDecay !== undefined ? { weightDecay } : {}),
      batchSize: integerOption(context, 'batch-size', D.batchSize, 1, 65536),
      maxEpochs: integerOption(context, 'epochs', D.maxEpochs, 1, 100_000),
      patience: integerOption(context, 'patience', D.patience, 1, 100_000),
      seed: integerOption(context, 'seed', D.seed, 0, 2 ** 31 - 1),
      thresholds,
      ...(inputs ? { inputs } : {}),
      ...(textEncoder ? { textEncoder } : {}),
      fusion,
      ...(textLearningRate !== undefined ? { textLearningRate } : {}),
      ...(context.values['read-text'] === true ? { readText: true } : {}),
      ...cleanOf(context),
      progress,
      decode: decodeOptionsOf(context),
      log,
    });
    log('');
    log(`test split (${result.test.rows} posters, never seen in training):`);
    log(formatReport(result.test));
    log(`bundle written to ${output} (embed ${result.seconds.embed.toFixed(1)} s, fit ${result.seconds.fit.toFixed(1)} s, total ${result.seconds.total.toFixed(1)} s)`);
    if (context.values.json === true) context.stdout.write(`${JSON.stringify(result.test, null, 2)}\n`);
    else context.stdout.write(`${output}\n`);
    return EXIT.ok;
  },
};

export default command;

