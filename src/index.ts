/**
 * posterscope's library API. Everything exported here is public and typed;
 * every other module is internal.
 */

// Errors
export { PosterscopeError, ERROR_CODES, EXIT, type ErrorCode, type ErrorOutcome } from './errors.js';
export { VERSION } from './version.js';

// Posters and views
export { decodePoster, readPosterFile, posterSize, DEFAULT_DECODE_OPTIONS, type Poster, type DecodeOptions } from './image/poster.js';
export { parseView, parseViews, viewName, renderView, viewPasses, VIEW_SETS, type ViewSpec, type ViewInput, type Crop } from './image/views.js';

// Backbones
export {
  BACKBONES,
  DEFAULT_BACKBONE,
  getBackboneSpec,
  loadBackboneSpec,
  type BackboneSpec,
  type FeatureSpec,
  type Normalization,
} from './backbone/registry.js';
export { loadBackbone, type Backbone, type LoadBackboneOptions } from './backbone/backbone.js';

// Pretrained sentence encoders (text -> vectors)
export {
  SENTENCE_ENCODERS,
  getSentenceEncoderSpec,
  checkSentenceEncoderSpec,
  loadSentenceEncoder,
  type SentenceEncoder,
  type SentenceEncoderSpec,
  type LoadSentenceEncoderOptions,
} from './text/sentence.js';

// Model files
export {
  resolveModelFile,
  readModelFile,
  defaultCacheDir,
  defaultMirrors,
  type ModelFileSpec,
  type ResolveOptions,
  type ResolvedModelFile,
} from './models/resolve.js';

// Embeddings
export { EmbeddingCache, embeddingKey, type EmbeddingCacheOptions } from './embed/cache.js';
export { embedPosters, type EmbedOptions, type EmbedSummary, type EmbeddedPoster, type PosterSource } from './embed/pipeline.js';

// Data sets and splits
export { readDataset, readPosterList, formatDatasetReport, type Dataset, type DatasetOptions, type DatasetRow, type PosterList, type PosterListOptions, type PosterRow } from './data/dataset.js';
export { stratifiedSplit, type SplitOptions, type SplitResult } from './data/split.js';

// Models: predict, evaluate, train
export { loadModel, DEFAULT_MODEL_PATH, type GenreModel, type Prediction, type PredictOptions, type GenreScore, type LoadModelOptions } from './model/model.js';
export { evaluate, formatModalities, MODALITIES, type EvaluateOptions, type ModelEvaluation, type Modality } from './model/evaluate.js';
export { MODEL_INPUTS, type ModelInput } from './model/inputs.js';
export type { PredictInput, InputLogits } from './model/model.js';
export { TEXT_ENCODERS, DEFAULT_TEXT_ENCODER, fitTextEncoder, loadTextEncoder, type TextEncoder, type TextEncoderRow, type StoredTextEncoder } from './text/encoders.js';
export { normalizeText } from './text/normalize.js';
export { fitTfidf, transformTfidf, type TfidfModel, type TfidfSettings } from './text/tfidf.js';
export { readBundle, writeBundle, readSplit, upgradeBundle, BUNDLE_VERSION, type WriteBundleOptions, type Bundle, type BundleContents, type BundleManifest, type ImageHead, type InputHead, type Fusion, type SplitRecord } from './model/bundle.js';
export type { HeadSpec } from './model/head.js';
export { train, type TrainOptions, type TrainResult } from './train/train.js';
export { TRAIN_DEFAULTS } from './train/defaults.js';
export { tuneThresholds, type TuneOptions } from './train/thresholds.js';

// Decisions and metrics: pure functions of scores, labels and a threshold policy
export { decide, decideGenres, withOverrides, type ThresholdPolicy, type PolicyOverrides } from './eval/decide.js';
export { evaluateScores, formatReport, type EvaluationReport, type EvaluationInput, type GenreMetrics, type BaselineReport } from './eval/report.js';
export { averagePrecision, labelPrior, ConfusionCounts, AveragePrecision, type DecisionMetrics } from './eval/metrics.js';
export {
  evaluationCharts, thresholdSweep, precisionRecallCurve, genreConfusion, labelCooccurrence, calibration, genreCounts, confidentMistakes,
  type EvaluationCharts, type ChartsInput, type SweepPoint, type CurvePoint, type GenreCurve, type CalibrationBin, type GenreMistakes, type ConfidentMistake,
} from './eval/curves.js';

// The report page: evaluate's numbers drawn as one self-contained HTML file
export { writeReport, renderReport, posterThumbnails, reportContentSecurityPolicy, REPORT_FILE, type ReportOptions, type ReportResult, type RenderReportInput } from './report/report.js';

// Data pipeline: audit, fetch, perceptual hashes
export { auditDataset, formatAudit, failedConditions, readSplits, AUDIT_CONDITIONS, type AuditOptions, type AuditReport, type AuditCondition } from './data/audit.js';
export { fetchPosters, writeFetchFailures, type FetchOptions, type FetchReport, type FetchFailure } from './data/fetch.js';
export { perceptualHash, hammingDistance, nearPairs } from './data/phash.js';

// Text on posters: find the lines, read them
export {
  loadTextDetector,
  TEXT_DETECTORS,
  DEFAULT_TEXT_DETECTOR,
  DEFAULT_DETECT_OPTIONS,
  type TextBox,
  type TextDetector,
  type TextDetectorSpec,
  type DetectOptions,
} from './ocr/detector.js';
export {
  loadTextRecognizer,
  TEXT_RECOGNIZERS,
  DEFAULT_TEXT_RECOGNIZER,
  DEFAULT_RECOGNIZE_OPTIONS,
  type TextRecognizer,
  type TextRecognizerSpec,
  type RecognizedText,
  type RecognizeOptions,
  type LoadTextRecognizerOptions,
} from './ocr/recognizer.js';
export {
  readPosterText,
  loadPosterReader,
  readPosterFiles,
  readingOrder,
  DEFAULT_MIN_CONFIDENCE,
  type PosterReader,
  type PosterText,
  type ReadLine,
  type ReadResult,
  type ReadSettings,
  type ReadOptions,
  type ReadFilesOptions,
  type LoadPosterReaderOptions,
} from './ocr/read.js';

// Text removal: in-paint the lines found
export { loadCleaner, DEFAULT_CLEAN_SETTINGS, type PosterCleaner, type CleanSettings, type CleanResult, type CleanRecord } from './clean/clean.js';
export { cleanPosterFiles, readBoxesFile, BOXES_FILE, type CleanFilesOptions, type CleanFilesSummary, type BoxesRecord } from './clean/clean-files.js';
export { buildMask } from './clean/mask.js';
export { inpaint } from './clean/inpaint.js';

// Serving
export { createServer, type ServerOptions } from './serve/server.js';
export { PredictionQueue, type QueueOptions } from './serve/queue.js';

// Many machines: chunk jobs on BullMQ / Redis, results in a shared store
export { enqueuePosters, type EnqueueOptions, type EnqueueSummary } from './queue/enqueue.js';
export { startQueueWorker, modelChecksum, type QueueWorker, type QueueWorkerOptions } from './queue/worker.js';
export { queueStatus, formatStatus, type QueueStatus, type QueueStatusOptions, type WorkerBeat } from './queue/status.js';
export { collectResults, type CollectOptions, type CollectSummary } from './queue/collect.js';
export { openDirectoryStore, type ResultStore } from './queue/store.js';
export { JOB_KINDS, type JobKind, type JobRequest, type ChunkManifest, type ChunkRecord, type ChunkRow, type ChunkSummary } from './queue/jobs.js';

// Progress
export { terminalProgress, silentProgress, type Progress } from './progress.js';
