/**
 * Text-free posters: detect text lines, grow their boxes into a mask and
 * in-paint it, so a genre model has to look at the artwork instead of reading
 * "...of the Dead" in the title.
 *
 * A `PosterCleaner` has an `id` naming the detector file and every setting;
 * embeddings of cleaned posters are cached under it, so changing a setting
 * never serves vectors of differently cleaned pixels.
 */
import { PosterscopeError, checkInteger } from '../errors.js';
import type { Poster } from '../image/poster.js';
import { type DetectOptions, type LoadTextDetectorOptions, type TextDetector, DEFAULT_TEXT_DETECTOR, loadTextDetector } from '../ocr/detector.js';
import { BoxCache } from '../ocr/box-cache.js';
import { inpaint } from './inpaint.js';
import { type TextBox, buildMask, maskArea } from './mask.js';

export interface CleanSettings extends DetectOptions {
  /** Text detector id. Default 'ppocr-v4-det'. */
  detector?: string;
  /** Pixels added around every box before in-painting (anti-aliasing, outlines, shadows). Default 2. */
  dilate?: number;
  /** In-painting neighbourhood radius in pixels. Default 5. */
  radius?: number;
}

export interface CleanResult {
  /** The poster with its text in-painted (same size, same source and content hash). */
  poster: Poster;
  /** Detected text lines, in the poster's pixel coordinates, highest score first. */
  boxes: TextBox[];
  /** Pixels replaced. */
  maskedPixels: number;
}

export interface PosterCleaner {
  /** Names the detector file, the post-processing version and every setting, e.g. 'clean-ppocr-v4-det-30a86f573118-p2-s640u2-b0.3-0.6-1.5-d2-r5'. */
  readonly id: string;
  readonly detector: TextDetector;
  /** Settings as stored in a model bundle, enough to rebuild the same cleaner. */
  readonly settings: Required<CleanSettings>;
  clean(poster: Poster): Promise<CleanResult>;
  release(): Promise<void>;
}

/** How a bundle records the cleaning its head was trained with. */
export interface CleanRecord {
  id: string;
  /** sha256 of the detector file; a model loads only that exact file. */
  sha256: string;
  settings: Required<CleanSettings>;
}

/** Detector-file resolution options from a backbone's: same cache, mirrors and network policy, its own explicit path. */
export function detectorOptions<T extends { path?: string }>(options: T, detectorPath: string | undefined): Omit<T, 'path'> & { path?: string } {
  const { path: _path, ...rest } = options;
  return { ...rest, ...(detectorPath ? { path: detectorPath } : {}) };
}

export const DEFAULT_CLEAN_SETTINGS = Object.freeze({ detector: DEFAULT_TEXT_DETECTOR, dilate: 2, radius: 5 });

/**
 * Loads the text detector and returns a cleaner.
 *
 * @example
 *   const cleaner = await loadCleaner({ dilate: 3 });
 *   const { poster, boxes } = await cleaner.clean(await decodePoster('poster.jpg'));
 *   boxes.length // -> 4
 */
export async function loadCleaner(
  settings: CleanSettings = {},
  options: Omit<LoadTextDetectorOptions, keyof DetectOptions> & {
    /** Cache detected boxes under `<boxCacheDir>/`; default none (`train` and `loadModel` use `<cache dir>/boxes`). */
    boxCacheDir?: string;
  } = {},
): Promise<PosterCleaner> {
  const dilate = settings.dilate ?? DEFAULT_CLEAN_SETTINGS.dilate;
  const radius = settings.radius ?? DEFAULT_CLEAN_SETTINGS.radius;
  checkInteger('dilate', dilate, 0, 100);
  checkInteger('radius', radius, 1, 50);
  const detectorId = settings.detector ?? DEFAULT_CLEAN_SETTINGS.detector;
  const { detector: _detector, dilate: _dilate, radius: _radius, ...detectOptions } = settings;
  const detector = await loadTextDetector(detectorId, { ...options, ...detectOptions });
  // Masking and in-painting have no version of their own yet: when they change what pixels come out, add one here.
  const id = ['clean', detector.id, `d${dilate}`, `r${radius}`].join('-');
  const boxCache = options.boxCacheDir ? new BoxCache(options.boxCacheDir, detector.id) : undefined;
  return {
    id,
    detector,
    settings: { detector: detectorId, dilate, radius, ...detector.options },
    async clean(poster) {
      let boxes = boxCache?.get(poster);
      if (!boxes) {
        boxes = await detector.detect(poster);
        boxCache?.put(poster, boxes);
      }
      if (boxes.length === 0) return { poster, boxes, maskedPixels: 0 };
      const mask = buildMask(poster.width, poster.height, boxes, dilate);
      const maskedPixels = maskArea(mask);
      if (maskedPixels === mask.length) {
        throw new PosterscopeError('IMAGE_UNSUPPORTED', `${poster.source}: text covers the whole poster; nothing left to in-paint from`, {
          subject: poster.source,
        });
      }
      const pixels = inpaint(poster.pixels, poster.width, poster.height, 3, mask, radius);
      return { poster: { ...poster, pixels: Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength) }, boxes, maskedPixels };
    },
    release: () => detector.release(),
  };
}
