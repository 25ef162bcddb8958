/**
 * The training loop for a genre head: mini-batch AdamW on cached embeddings,
 * early stopping on validation loss with patience, and the best epoch's
 * weights restored at the end. Deterministic for a given seed.
 */
import { checkInteger, invalidParameterError } from '../errors.js';
import { labelPrior } from '../eval/metrics.js';
import type { EpochRecord } from '../model/bundle.js';
import { type HeadSpec, type SparseRows, pickRows, sigmoid, sparseRows } from '../model/head.js';
import { Random } from '../random.js';
import { AdamW } from './adamw.js';
import { TRAIN_DEFAULTS } from './defaults.js';
import { GenreHead } from './head.js';
import { type LossSpec, computeLoss } from './loss.js';

export interface Examples {
  /** [rows x inputs] features. */
  x: Float32Array;
  /** [rows x genres] 0/1 labels. */
  y: Uint8Array;
  rows: number;
}

export interface FitOptions {
  head: HeadSpec;
  loss: LossSpec;
  /** Defaults for these: TRAIN_DEFAULTS. */
  maxEpochs?: number;
  batchSize?: number;
  learningRate?: number;
  /** Decoupled weight decay. */
  weightDecay?: number;
  /** Epochs without a better validation loss before stopping. */
  patience?: number;
  seed?: number;
  /** Scores validation predictions; lets the caller plug in its metrics. */
  validationMetrics: (scores: Float32Array, labels: Uint8Array, rows: number) => { microF1: number; mAP: number };
  onEpoch?: (record: EpochRecord) => void;
}

export interface FitResult {
  head: GenreHead;
  history: EpochRecord[];
  bestEpoch: number;
}

/**
 * @example
 *   const { head, history, bestEpoch } = fitHead(train, validation, 25, { head: { type: 'linear' }, loss: { type: 'bce' }, validationMetrics });
 *   // history[bestEpoch - 1].validationLoss is the lowest; head holds that epoch's weights
 */
export function fitHead(train: Examples, validation: Examples, genres: number, options: FitOptions): FitResult {
  const inputs = train.x.length / train.rows;
  if (!Number.isInteger(inputs) || validation.x.length !== validation.rows * inputs) {
    throw invalidParameterError('validation.x', `${validation.rows} x ${inputs} features`, validation.x);
  }
  const maxEpochs = checkInteger('maxEpochs', options.maxEpochs ?? TRAIN_DEFAULTS.maxEpochs, 1, 100_000);
  const batchSize = checkInteger('batchSize', options.batchSize ?? TRAIN_DEFAULTS.batchSize, 1, 1 << 20);
  const patience = checkInteger('patience', options.patience ?? TRAIN_DEFAULTS.patience, 1, 100_000);
  const random = new Random(options.seed ?? TRAIN_DEFAULTS.seed);
  const head = GenreHead.create(options.head, inputs, genres, random, labelPrior(train.y, train.rows, genres));
  const parameters = head.parameters();
  const optimizer = new AdamW(parameters, parameters.map((_, i) => i % 2 === 0), {
    learningRate: options.learningRate ?? TRAIN_DEFAULTS.learningRate,
    weightDecay: options.weightDecay ?? TRAIN_DEFAULTS.weightDecay,
  });
  const order = Int32Array.from({ length: train.rows }, (_, i) => i);
  // TF-IDF rows are mostly zeros: their non-zero columns are found once here,
  // not in every pass (a 32,768-term plot head spent most of its epochs
  // scanning zeros). The same sums either way.
  const sparseTrain = inputs >= 256 ? sparseRows(train.x, train.rows, inputs) : null;
  const validationX: Float32Array | SparseRows = (sparseTrain && sparseRows(validation.x, validation.rows, inputs)) || validation.x;
  const batchX = new Float32Array(sparseTrain ? 0 : batchSize * inputs);
  const batchY = new Uint8Array(batchSize * genres);
  const history: EpochRecord[] = [];
  let best = { loss: Infinity, epoch: 0, weights: parameters.map((p) => p.slice()) };

  for (let epoch = 1; epoch <= maxEpochs; epoch++) {
    const started = performance.now();
    random.shuffle(order);
    let trainLoss = 0;
    for (let start = 0; start < train.rows; start += batchSize) {
      const rows = Math.min(batchSize, train.rows - start);
      for (let r = 0; r < rows; r++) {
        const row = order[start + r]!;
        if (!sparseTrain) batchX.set(train.x.subarray(row * inputs, (row + 1) * inputs), r * inputs);
        batchY.set(train.y.subarray(row * genres, (row + 1) * genres), r * genres);
      }
      const x = sparseTrain ? pickRows(sparseTrain, order, start, rows) : batchX.subarray(0, rows * inputs);
      const y = batchY.subarray(0, rows * genres);
      const logits = head.forward(x, rows, random);
      const { loss, grad } = computeLoss(options.loss, logits, y, rows, genres);
      trainLoss += loss * rows;
      optimizer.update(head.backward(grad));
    }
    const logits = head.forward(validationX, validation.rows);
    const validationLoss = computeLoss(options.loss, logits, validation.y, validation.rows, genres).loss;
    for (let i = 0; i < logits.length; i++) logits[i] = sigmoid(logits[i]!);
    const metrics = options.validationMetrics(logits, validation.y, validation.rows);
    const record: EpochRecord = {
      epoch,
      trainLoss: trainLoss / train.rows,
      validationLoss,
      validationMicroF1: metrics.microF1,
      validationMAP: metrics.mAP,
      seconds: (performance.now() - started) / 1000,
    };
    history.push(record);
    options.onEpoch?.(record);
    if (validationLoss < best.loss) best = { loss: validationLoss, epoch, weights: parameters.map((p) => p.slice()) };
    else if (epoch - best.epoch >= patience) break;
  }
  // Restore the best epoch's weights.
  parameters.forEach((p, i) => p.set(best.weights[i]!));
  return { head, history, bestEpoch: best.epoch };
}
