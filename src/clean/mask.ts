/**
 * Text masks: the pixels an in-painter must repaint, built from the boxes a
 * text detector reports.
 *
 * Detectors hand back tight, sub-pixel boxes; the anti-aliased edges and drop
 * shadows of the glyphs spill a pixel or two past them, so each box is rounded
 * outward to whole pixels and grown by `dilate` pixels on every side before it
 * is painted into a one-byte-per-pixel mask (1 = repaint, 0 = keep). Slanted
 * text comes as a rotated rectangle (`quad`), painted as such, so a tilted
 * title does not cost its whole bounding box.
 */
import { checkInteger, invalidParameterError } from '../errors.js';
import type { TextBox } from '../ocr/detector.js';

export type { TextBox };

/** Half a pixel's diagonal: a pixel whose centre is this close to a slanted edge may be partly inside. */
const PIXEL_REACH = Math.SQRT1_2;

/** Marks pixels of a convex quadrilateral grown by `grow` pixels: centres within grow + PIXEL_REACH of every edge's inner side. */
function fillQuad(mask: Uint8Array, width: number, height: number, quad: ReadonlyArray<readonly [number, number]>, grow: number, name: string): void {
  if (!Array.isArray(quad) || quad.length !== 4) throw invalidParameterError(`${name}.quad`, 'four [x, y] corners', quad);
  const corners = quad.map((corner, k) => {
    if (!Array.isArray(corner) || corner.length !== 2) throw invalidParameterError(`${name}.quad[${k}]`, '[x, y]', corner);
    return [checkCoordinate(`${name}.quad[${k}][0]`, corner[0]), checkCoordinate(`${name}.quad[${k}][1]`, corner[1])] as const;
  });
  // Edges as unit normals n and offsets c with n.p <= c inside, whichever way the corners turn.
  let turn = 0;
  for (let k = 0; k < 4; k++) {
    const [ax, ay] = corners[k]!;
    const [bx, by] = corners[(k + 1) % 4]!;
    turn += ax * by - bx * ay;
  }
  if (turn === 0) return;
  const sign = turn > 0 ? 1 : -1;
  const edges = corners.map(([ax, ay], k) => {
    const [bx, by] = corners[(k + 1) % 4]!;
    const length = Math.hypot(bx - ax, by - ay) || 1;
    const nx = (sign * (by - ay)) / length;
    const ny = (sign * (ax - bx)) / length;
    return { nx, ny, c: nx * ax + ny * ay + grow + PIXEL_REACH };
  });
  const xs = corners.map((c) => c[0]);
  const ys = corners.map((c) => c[1]);
  const left = Math.max(0, Math.floor(Math.min(...xs) - grow - 1));
  const right = Math.min(width, Math.ceil(Math.max(...xs) + grow + 1));
  const top = Math.max(0, Math.floor(Math.min(...ys) - grow - 1));
  const bottom = Math.min(height, Math.ceil(Math.max(...ys) + grow + 1));
  for (let y = top; y < bottom; y++) {
    for (let x = left; x < right; x++) {
      const px = x + 0.5;
      const py = y + 0.5;
      if (edges.every((e) => e.nx * px + e.ny * py <= e.c)) mask[y * width + x] = 1;
    }
  }
}

/** Largest width, height or dilation accepted; far beyond any poster. */
const MAX_SIDE = 100_000;

function checkCoordinate(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalidParameterError(name, 'finite number', value);
  return value;
}

/**
 * A `width` x `height` mask (row-major, one byte per pixel) that is 1 inside
 * any box grown by `dilate` pixels on every side and 0 elsewhere. Box edges are
 * rounded outward (floor for x0/y0, ceil for x1/y1) and clamped to the image;
 * a box with no area (x1 <= x0 or y1 <= y0) covers nothing.
 *
 * @example
 *   const mask = buildMask(6, 4, [{ x0: 1.5, y0: 1, x1: 3.2, y1: 2, score: 0.9 }], 1);
 *   // box -> columns 1..3, row 1; grown by 1 -> columns 0..4, rows 0..2
 *   maskArea(mask) // -> 15
 */
export function buildMask(width: number, height: number, boxes: readonly TextBox[], dilate: number): Uint8Array {
  checkInteger('width', width, 1, MAX_SIDE);
  checkInteger('height', height, 1, MAX_SIDE);
  if (!Array.isArray(boxes)) throw invalidParameterError('boxes', 'array of { x0, y0, x1, y1, score }', boxes);
  checkInteger('dilate', dilate, 0, MAX_SIDE);

  const mask = new Uint8Array(width * height);
  boxes.forEach((box: TextBox, i) => {
    if (typeof box !== 'object' || box === null) throw invalidParameterError(`boxes[${i}]`, '{ x0, y0, x1, y1, score }', box);
    const x0 = checkCoordinate(`boxes[${i}].x0`, box.x0);
    const y0 = checkCoordinate(`boxes[${i}].y0`, box.y0);
    const x1 = checkCoordinate(`boxes[${i}].x1`, box.x1);
    const y1 = checkCoordinate(`boxes[${i}].y1`, box.y1);
    if (x1 <= x0 || y1 <= y0) return;
    if (box.quad !== undefined) {
      fillQuad(mask, width, height, box.quad, dilate, `boxes[${i}]`);
      return;
    }
    const left = Math.max(0, Math.floor(x0) - dilate);
    const top = Math.max(0, Math.floor(y0) - dilate);
    const right = Math.min(width, Math.ceil(x1) + dilate);
    const bottom = Math.min(height, Math.ceil(y1) + dilate);
    for (let y = top; y < bottom; y++) mask.fill(1, y * width + left, y * width + Math.max(left, right));
  });
  return mask;
}

/**
 * Number of masked (non-zero) pixels.
 *
 * @example
 *   maskArea(Uint8Array.of(0, 1, 1, 0)) // -> 2
 */
export function maskArea(mask: Uint8Array): number {
  let area = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) area++;
  return area;
}
