/**
 * Reading a poster's own text: the detector finds the lines, the recogniser
 * reads them, and the lines come back in reading order (top to bottom, left
 * to right) with their boxes and confidences, plus the whole text as one
 * string, ready to be used where a title or plot is missing.
 *
 * Boxes and read lines are cached on disk by the poster's content hash (boxes
 * under the detector's id, shared with `clean`; lines under the recogniser's
 * and the detector's ids), so a poster is read once whatever confidence floor
 * is asked for later.
 */
import { join } from 'node:path';
import pMap from 'p-map';
import { PosterscopeError, asPosterError, checkInteger, invalidParameterError } from '../errors.js';
import { decodePoster, type DecodeOptions, type Poster } from '../image/poster.js';
import { defaultCacheDir, type ResolveOptions } from '../models/resolve.js';
import { type Progress, silentProgress } from '../progress.js';
import { BoxCache, PosterRecordCache, type RecordCodec, boxFromRow, boxToRow } from './box-cache.js';
import { type DetectOptions, type TextBox, type TextDetector, DEFAULT_TEXT_DETECTOR, loadTextDetector } from './detector.js';
import { type RecognizeOptions, type TextRecognizer, DEFAULT_TEXT_RECOGNIZER, loadTextRecognizer } from './recognizer.js';

/** One text line read from a poster. */
export interface ReadLine {
  text: string;
  /** The recogniser's confidence: the mean probability of the line's characters, in [0, 1]. */
  confidence: number;
  /** Where the line is, in the poster's pixels; `score` is the detector's confidence that it is text. */
  box: TextBox;
}

/** What a poster says. */
export interface PosterText {
  /** Lines at or above the confidence floor, in reading order. */
  lines: ReadLine[];
  /** The lines joined: lines side by side with a space, rows of lines with a newline. */
  text: string;
}

/** Which models read, and how text is detected. */
export interface ReadSettings extends DetectOptions {
  /** Text detector id. Default 'ppocr-v4-det'. */
  detector?: string;
  /** Text recogniser id. Default 'ppocr-v4-rec'. */
  recognizer?: string;
}

export interface ReadOptions {
  /** Lines read with a lower confidence are left out. Default 0.5 (PaddleOCR's `drop_score`). */
  minConfidence?: number;
  /** Limits for posters given as files. The poster is not shrunk: boxes are in the file's own pixels. */
  decode?: DecodeOptions;
}

export const DEFAULT_MIN_CONFIDENCE = 0.5;

export interface LoadPosterReaderOptions extends Omit<ResolveOptions, 'path'>, RecognizeOptions {
  /** Explicit model files (checksums still verified). */
  detectorPath?: string;
  recognizerPath?: string;
  charactersPath?: string;
  /** ONNX Runtime threads. Default: one per core. */
  threads?: number;
  /** Cache boxes and read lines under the cache directory (`boxes/`, `text/`). Default true. */
  cache?: boolean;
}

export interface PosterReader {
  /** Names both models and every setting, e.g. 'ppocr-v4-rec-06b3e6af6c59-28b2362ad4ab-r1--ppocr-v4-det-30a86f573118-p2-s640u2-b0.3-0.6-1.5'. */
  readonly id: string;
  readonly detector: TextDetector;
  readonly recognizer: TextRecognizer;
  /** Reads one poster: decoded, or a file path. */
  read(poster: Poster | string, options?: ReadOptions): Promise<PosterText>;
  release(): Promise<void>;
}

/** Read lines as stored in the cache: every line with some text, whatever its confidence. */
const linesCodec: RecordCodec<ReadLine[]> = {
  encode: (lines) => ({ l: lines.map((line) => [line.text, line.confidence, ...boxToRow(line.box)]) }),
  decode: (record) => {
    if (!Array.isArray(record.l)) return undefined;
    const lines: ReadLine[] = [];
    for (const row of record.l as unknown[]) {
      if (!Array.isArray(row) || typeof row[0] !== 'string' || typeof row[1] !== 'number') return undefined;
      const box = boxFromRow(row.slice(2));
      if (!box) return undefined;
      lines.push({ text: row[0], confidence: row[1], box });
    }
    return lines;
  },
};

/**
 * Loads a text detector and recogniser and returns a reader.
 *
 * @example
 *   const reader = await loadPosterReader();
 *   const { lines, text } = await reader.read('poster.jpg');
 *   // lines -> [{ text: 'THE GARDEN', confidence: 0.98, box: { x0: 21.5, y0: 240.2, x1: 203.8, y1: 281.9, score: 0.91 } }, ...]
 *   // text -> 'THE GARDEN\nEvery harbor has its price.\nDIRECTED BY JANE DOE'
 *   await reader.release();
 */
export async function loadPosterReader(settings: ReadSettings = {}, options: LoadPosterReaderOptions = {}): Promise<PosterReader> {
  const { detector: detectorId = DEFAULT_TEXT_DETECTOR, recognizer: recognizerId = DEFAULT_TEXT_RECOGNIZER, ...detectOptions } = settings;
  const { detectorPath, recognizerPath, charactersPath, cache = true, batchSize, widthRatio, maxWidth, ...resolve } = options;
  const recognizeOptions = { ...(batchSize === undefined ? {} : { batchSize }), ...(widthRatio === undefined ? {} : { widthRatio }), ...(maxWidth === undefined ? {} : { maxWidth }) };
  const detector = await loadTextDetector(detectorId, { ...resolve, ...detectOptions, ...(detectorPath ? { path: detectorPath } : {}) });
  let recognizer: TextRecognizer;
  try {
    recognizer = await loadTextRecognizer(recognizerId, {
      ...resolve,
      ...recognizeOptions,
      ...(recognizerPath ? { path: recognizerPath } : {}),
      ...(charactersPath ? { charactersPath } : {}),
    });
  } catch (error) {
    await detector.release();
    throw error;
  }
  const id = `${recognizer.id}--${detector.id}`;
  const cacheDir = resolve.cacheDir ?? defaultCacheDir(resolve.env);
  const boxCache = cache ? new BoxCache(join(cacheDir, 'boxes'), detector.id) : undefined;
  const textCache = cache ? new PosterRecordCache(join(cacheDir, 'text'), id, linesCodec) : undefined;

  const readAll = async (poster: Poster): Promise<ReadLine[]> => {
    const known = textCache?.get(poster);
    if (known) return known;
    let boxes = boxCache?.get(poster);
    if (!boxes) {
      boxes = await detector.detect(poster);
      boxCache?.put(poster, boxes);
    }
    const ordered = readingOrder(boxes).flat().map((i) => boxes[i]!);
    const texts = await recognizer.recognize(poster, ordered);
    const lines = ordered.flatMap((box, i) => (texts[i]!.text.trim() === '' ? [] : [{ text: texts[i]!.text.trim(), confidence: texts[i]!.confidence, box }]));
    textCache?.put(poster, lines);
    return lines;
  };

  return {
    id,
    detector,
    recognizer,
    async read(input, readOptions = {}) {
      const minConfidence = checkMinConfidence(readOptions.minConfidence);
      const poster = typeof input === 'string' ? await decodePoster(input, { maxSide: 100_000_000, ...readOptions.decode }) : input;
      if (!poster || typeof poster !== 'object' || !Buffer.isBuffer(poster.pixels)) {
        throw invalidParameterError('poster', 'a decoded Poster or a file path', input);
      }
      return joinLines((await readAll(poster)).filter((line) => line.confidence >= minConfidence));
    },
    async release() {
      await Promise.all([detector.release(), recognizer.release()]);
    },
  };
}

function checkMinConfidence(value: number | undefined): number {
  if (value === undefined) return DEFAULT_MIN_CONFIDENCE;
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw invalidParameterError('minConfidence', 'a number between 0 and 1', value);
  return value;
}

/**
 * Reads one poster with a reader of its own, loaded and released around the
 * call; pass `reader` to reuse one across posters (loading takes a second).
 *
 * @example
 *   const { text } = await readPosterText('poster.jpg', { minConfidence: 0.8 });
 *   // -> 'THE GARDEN\nDIRECTED BY JANE DOE'
 */
export async function readPosterText(
  poster: Poster | string,
  options: ReadSettings & ReadOptions & LoadPosterReaderOptions & { reader?: PosterReader } = {},
): Promise<PosterText> {
  const { reader: given, minConfidence, decode, ...rest } = options;
  const readOptions = { ...(minConfidence === undefined ? {} : { minConfidence }), ...(decode ? { decode } : {}) };
  if (given) return given.read(poster, readOptions);
  const { detector, recognizer, detectSide, maxUpscale, binaryThreshold, boxThreshold, unclipRatio, ...loadOptions } = rest;
  const settings = Object.fromEntries(
    Object.entries({ detector, recognizer, detectSide, maxUpscale, binaryThreshold, boxThreshold, unclipRatio }).filter(([, v]) => v !== undefined),
  ) as ReadSettings;
  const reader = await loadPosterReader(settings, loadOptions);
  try {
    return await reader.read(poster, readOptions);
  } finally {
    await reader.release();
  }
}

/** One poster file's text, or why it could not be read. */
export interface ReadResult extends PosterText {
  input: string;
  error?: { code: string; message: string };
}

export interface ReadFilesOptions extends ReadOptions {
  reader: PosterReader;
  /** Posters in flight: one is decoded and cut into lines while another is in the network. Default 2. */
  concurrency?: number;
  progress?: Progress;
  /** Called for every poster that fails; the batch goes on. */
  onError?: (error: PosterscopeError) => void;
}

/**
 * Reads poster files; one result per file, in the order given. A poster that
 * cannot be read gets an `error` and the others go on.
 *
 * @example
 *   const reader = await loadPosterReader();
 *   await readPosterFiles(['a.jpg', 'missing.jpg'], { reader });
 *   // -> [{ input: 'a.jpg', lines: [...], text: 'THE GARDEN' },
 *   //     { input: 'missing.jpg', lines: [], text: '', error: { code: 'IMAGE_NOT_FOUND', message: 'missing.jpg: no such file' } }]
 */
export async function readPosterFiles(files: readonly string[], options: ReadFilesOptions): Promise<ReadResult[]> {
  const { reader, progress = silentProgress } = options;
  const concurrency = checkInteger('concurrency', options.concurrency ?? 2, 1, 64);
  const readOptions = { ...(options.minConfidence === undefined ? {} : { minConfidence: options.minConfidence }), ...(options.decode ? { decode: options.decode } : {}) };
  checkMinConfidence(options.minConfidence);
  progress.start('read', files.length, 'posters');
  let lines = 0;
  const results = await pMap(
    files,
    async (file): Promise<ReadResult> => {
      try {
        const text = await reader.read(file, readOptions);
        lines += text.lines.length;
        return { input: file, ...text };
      } catch (error) {
        const e = asPosterError(file, error);
        options.onError?.(e);
        return { input: file, lines: [], text: '', error: { code: e.code, message: e.message } };
      } finally {
        progress.tick();
      }
    },
    { concurrency },
  );
  progress.done(`read ${lines} text lines from ${results.filter((r) => !r.error).length} posters, ${results.filter((r) => r.error).length} failed`);
  return results;
}

/**
 * Reading order: boxes grouped into rows (a box joins a row when it shares
 * at least half its height with the row's first box), rows top to bottom,
 * boxes in a row left to right. Returns the boxes' indices, row by row.
 *
 * @example
 *   readingOrder([{ x0: 120, y0: 10, x1: 200, y1: 30, score: 1 }, { x0: 10, y0: 80, x1: 90, y1: 95, score: 1 }, { x0: 10, y0: 12, x1: 100, y1: 31, score: 1 }])
 *   // -> [[2, 0], [1]]
 */
export function readingOrder(boxes: readonly TextBox[]): number[][] {
  const centre = (b: TextBox) => (b.y0 + b.y1) / 2;
  const order = boxes.map((_, i) => i).sort((a, b) => centre(boxes[a]!) - centre(boxes[b]!) || boxes[a]!.x0 - boxes[b]!.x0);
  const rows: number[][] = [];
  for (const i of order) {
    const box = boxes[i]!;
    const row = rows.at(-1);
    const first = row ? boxes[row[0]!]! : undefined;
    const shared = first ? Math.min(first.y1, box.y1) - Math.max(first.y0, box.y0) : 0;
    if (row && first && shared >= 0.5 * Math.min(first.y1 - first.y0, box.y1 - box.y0)) row.push(i);
    else rows.push([i]);
  }
  return rows.map((row) => row.sort((a, b) => boxes[a]!.x0 - boxes[b]!.x0 || a - b));
}

/** Lines in reading order joined into one text: a space between lines of a row, a newline between rows. */
function joinLines(lines: ReadLine[]): PosterText {
  const rows = readingOrder(lines.map((line) => line.box));
  return { lines: rows.flat().map((i) => lines[i]!), text: rows.map((row) => row.map((i) => lines[i]!.text).join(' ')).join('\n') };
}
