/**
 * Synthetic movie posters with known text lines, to measure a text detector
 * (recall at IoU 0.5) and text removal (compare with the text-free
 * `background`). Every line is rendered alone by librsvg/pango through sharp,
 * so its box is the exact extent of its ink, not a layout estimate.
 */
import sharp from 'sharp';
import { Random } from '../../src/random.js';

/** An axis-aligned pixel box; `x1` and `y1` are exclusive. */
export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** One rendered text line: a PP-OCR style detector finds lines, so there is one box per line. */
export interface TextPosterBox extends Box {
  text: string;
  kind: 'title' | 'tagline' | 'credits';
}

export interface TextPoster {
  /** RGB HWC, with text. */
  pixels: Buffer;
  /** RGB HWC, the same poster without any text. */
  background: Buffer;
  width: number;
  height: number;
  boxes: TextPosterBox[];
  /** `pixels` encoded as PNG. */
  png: Buffer;
}

/** Families the text is drawn in; each must be installed, or fontconfig silently substitutes another. */
export const TEXT_POSTER_FONTS = [
  'DejaVu Sans',
  'DejaVu Serif',
  'DejaVu Sans Mono',
  'Liberation Sans',
  'Liberation Serif',
  'Liberation Sans Narrow',
] as const;
type Family = (typeof TEXT_POSTER_FONTS)[number];
const TITLE_FONTS: readonly Family[] = ['DejaVu Sans', 'DejaVu Serif', 'DejaVu Sans Mono', 'Liberation Sans', 'Liberation Serif'];
const CREDITS_FONTS: readonly Family[] = ['Liberation Sans Narrow', 'Liberation Sans Narrow', 'DejaVu Sans', 'Liberation Sans'];

/** A pixel is ink when its coverage exceeds this; fainter antialias fringes stay outside the box. */
const INK_ALPHA = 32;
const FONTS_MISSING = 'no text rendered: are fonts installed (fonts-dejavu-core, fonts-liberation)?';

/**
 * A poster whose text lines are known exactly. The same seed gives the same
 * bytes; the default size is 448x640 and fonts scale with the width.
 *
 * @example
 *   const poster = await renderTextPoster(7);
 *   poster.boxes[0] // -> { x0: 27, y0: 421, x1: 264, y1: 452, text: 'THE GARDEN', kind: 'title' }
 */
export async function renderTextPoster(seed: number, options: { width?: number; height?: number } = {}): Promise<TextPoster> {
  const width = options.width ?? 448;
  const height = options.height ?? 640;
  const random = new Random(seed);
  const scale = width / 448;
  await checkFonts();
  const background = random.next() < 0.5 ? gradientBackground(random, seed, width, height) : await sceneBackground(random, seed, width, height);
  const margin = Math.round(width * 0.06);
  const blocks = layOut(random, await writeCopy(random, scale, width - 2 * margin), width, height, margin);

  const pixels = Buffer.from(background);
  const boxes: TextPosterBox[] = [];
  for (const block of blocks) {
    const colour = textColour(random, background, width, union(block.lines.map((l) => l.box)), block.kind === 'title' ? 3 : 4.5);
    // Each line alone on a transparent layer of the poster's size: its ink there is the ground truth.
    const layers = await Promise.all(block.lines.map((l) => renderAlpha(textSvg(width, height, l.line, l.origin.x, l.origin.y))));
    block.lines.forEach(({ line }, i) => {
      const alpha = layers[i]!;
      const box = inkBox(alpha, width, height);
      if (!box) throw new Error(FONTS_MISSING);
      blend(pixels, alpha, colour);
      boxes.push({ ...box, text: line.text, kind: line.kind });
    });
  }
  checkLayout(boxes, width, height);
  const png = await sharp(pixels, { raw: { width, height, channels: 3 } }).png().toBuffer();
  return { pixels, background, width, height, boxes, png };
}

/**
 * Intersection over union of two boxes; 0 when either is empty.
 *
 * @example iou({ x0: 0, y0: 0, x1: 10, y1: 10 }, { x0: 5, y0: 0, x1: 15, y1: 10 }) // -> 0.3333333333333333
 */
export function iou(a: Box, b: Box): number {
  const w = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0);
  const h = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const area = (r: Box) => Math.max(0, r.x1 - r.x0) * Math.max(0, r.y1 - r.y0);
  return inter / (area(a) + area(b) - inter);
}

/**
 * Greedy one-to-one matching, best IoU first; a pair counts when its IoU is at
 * least `threshold`. Recall (precision) of an empty truth (found) list is 1.
 *
 * @example
 *   matchBoxes([{ x0: 0, y0: 0, x1: 10, y1: 10 }, { x0: 20, y0: 0, x1: 30, y1: 10 }], [{ x0: 1, y0: 0, x1: 10, y1: 10 }])
 *   // -> { matched: 1, recall: 0.5, precision: 1 }
 */
export function matchBoxes(truth: Box[], found: Box[], threshold = 0.5): { matched: number; recall: number; precision: number } {
  const pairs: Array<{ t: number; f: number; score: number }> = [];
  truth.forEach((t, ti) =>
    found.forEach((f, fi) => {
      const score = iou(t, f);
      if (score > 0 && score >= threshold) pairs.push({ t: ti, f: fi, score });
    }),
  );
  pairs.sort((a, b) => b.score - a.score || a.t - b.t || a.f - b.f);
  const [usedTruth, usedFound] = [new Set<number>(), new Set<number>()];
  for (const p of pairs) {
    if (usedTruth.has(p.t) || usedFound.has(p.f)) continue;
    usedTruth.add(p.t);
    usedFound.add(p.f);
  }
  const matched = usedTruth.size;
  return {
    matched,
    recall: truth.length ? matched / truth.length : 1,
    precision: found.length ? matched / found.length : 1,
  };
}

// ---------------------------------------------------------------- copy (the words)

interface LineStyle {
  family: Family;
  size: number;
  bold: boolean;
  italic: boolean;
  /** Extra advance per glyph, px. */
  spacing: number;
}
interface Line extends LineStyle {
  text: string;
  kind: TextPosterBox['kind'];
}

const ADJECTIVES = [
  'Silent', 'Last', 'Broken', 'Hidden', 'Golden', 'Dark', 'Frozen', 'Wild', 'Crimson', 'Lost', 'Burning', 'Eternal',
  'Hollow', 'Savage', 'Quiet', 'Bitter', 'Electric', 'Forgotten', 'Final', 'Midnight', 'Distant', 'Iron', 'Velvet', 'Endless',
];
const NOUNS = [
  'Harbor', 'River', 'Empire', 'Shadow', 'Horizon', 'Garden', 'Kingdom', 'Witness', 'Storm', 'Winter', 'Signal', 'Mirror',
  'Frontier', 'Desert', 'Orchard', 'Station', 'Island', 'Promise', 'Stranger', 'Thunder', 'Summer', 'Circus', 'Lighthouse',
  'Avenue', 'Covenant', 'Machine', 'Heart', 'Ocean', 'Crown', 'Valley', 'Echo', 'Hunter', 'Sister', 'Detective', 'Paradise',
];
const VERBS = ['Run', 'Remember', 'Follow', 'Wake', 'Find', 'Save', 'Leave', 'Trust', 'Burn', 'Catch'];
const FIRST_NAMES = [
  'Jane', 'John', 'Maria', 'David', 'Elena', 'Samuel', 'Grace', 'Oliver', 'Nadia', 'Peter', 'Laura', 'Victor', 'Hannah',
  'Marco', 'Alice', 'Thomas', 'Rosa', 'Daniel', 'Ingrid', 'Kenji', 'Amara', 'Lucas', 'Claire', 'Felix',
];
const SURNAMES = [
  'Doe', 'Smith', 'Alvarez', 'Becker', 'Okafor', 'Lindqvist', 'Moreau', 'Kowalski', 'Tanaka', 'Romano', 'Fischer',
  'Hughes', 'Novak', 'Castillo', 'Brennan', 'Duval', 'Sato', 'Whitaker', 'Haddad', 'Jensen', 'Carver', 'Petrova',
];
const ROLES = [
  'DIRECTED BY', 'WRITTEN BY', 'MUSIC BY', 'PRODUCED BY', 'EDITED BY', 'CASTING BY', 'DIRECTOR OF PHOTOGRAPHY',
  'PRODUCTION DESIGNER', 'COSTUME DESIGNER', 'EXECUTIVE PRODUCER', 'CO-PRODUCER', 'SCREENPLAY BY',
];
const STUDIOS = ['NORTHLIGHT', 'BLUE HARBOR', 'REDWOOD', 'SILVER LAKE', 'MERIDIAN', 'ASHFORD & CO.', 'PARALLAX'];

function pick<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random.next() * items.length)]!;
}

function titleText(random: Random): string {
  const [adj, noun, other] = [pick(random, ADJECTIVES), pick(random, NOUNS), pick(random, NOUNS)];
  const patterns = [
    () => `${adj} ${noun}`,
    () => `The ${adj} ${noun}`,
    () => `The ${noun}`,
    () => noun,
    () => `${noun} & ${other}`,
    () => `The ${noun} of ${other}`,
    () => `${noun}: ${adj} ${other}`,
    () => `Don't ${pick(random, VERBS)} the ${noun}`,
    () => `${noun} ${2 + Math.floor(random.next() * 3)}`,
  ];
  return pick(random, patterns)();
}

function taglineText(random: Random): string {
  const [noun, adj] = [pick(random, NOUNS).toLowerCase(), pick(random, ADJECTIVES).toLowerCase()];
  const count = pick(random, ['Two', 'Three', 'Seven', 'Nine']);
  const patterns = [
    () => `Some secrets never stay ${adj}.`,
    () => `Every ${noun} has its price.`,
    () => `The ${noun} is only the beginning.`,
    () => `Trust no one. Not even the ${noun}.`,
    () => `${count} days. ${count} lies. One ${noun}.`,
    () => `This summer, the ${noun} comes home.`,
    () => `Nobody leaves the ${noun} alive.`,
    () => `Where the ${noun} ends, the ${adj} begins.`,
    () => `"You can't outrun the ${noun}."`,
  ];
  return pick(random, patterns)();
}

function personName(random: Random): string {
  return `${pick(random, FIRST_NAMES)} ${pick(random, SURNAMES)}`.toUpperCase();
}

function withArticle(word: string): string {
  return `${/^[AEIOU]/.test(word) ? 'AN' : 'A'} ${word}`;
}

/** Credits lines of at most about `chars` characters, made of "ROLE NAME" pairs as on a billing block. */
function creditsLines(random: Random, count: number, chars: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const parts: string[] = [];
    if (i === 0 && random.next() < 0.5) parts.push(`${pick(random, STUDIOS)} PRESENTS ${withArticle(personName(random))} FILM`);
    else if (i === 0 && random.next() < 0.5) parts.push(`STARRING ${personName(random)}`);
    const target = chars * (0.6 + 0.4 * random.next());
    for (;;) {
      const next = `${pick(random, ROLES)} ${personName(random)}`;
      if (parts.length > 0 && [...parts, next].join('  ').length > target) break;
      parts.push(next);
    }
    lines.push(parts.join('  '));
  }
  return lines;
}

/** Splits after a colon, else at the space nearest the middle; a half of one or two characters is no title line. */
function splitInTwo(text: string): [string, string] | undefined {
  const spaces = [...text.matchAll(/ /g)].map((m) => m.index!);
  if (spaces.length === 0) return undefined;
  const colon = text.indexOf(': ');
  const cut = colon > 0 ? colon + 1 : spaces.reduce((best, i) => (Math.abs(i - text.length / 2) < Math.abs(best - text.length / 2) ? i : best));
  const halves: [string, string] = [text.slice(0, cut), text.slice(cut + 1)];
  return halves.every((h) => h.length >= 3) ? halves : undefined;
}

/** Picks the words and styles, fitted to `maxWidth`: titles are split or shrunk, credits shrunk. */
async function writeCopy(random: Random, scale: number, maxWidth: number): Promise<Array<{ kind: Line['kind']; lines: Fitted[] }>> {
  const upper = random.next() < 0.55;
  const titleStyle: LineStyle = {
    family: pick(random, TITLE_FONTS),
    size: Math.round((28 + 42 * random.next()) * scale),
    bold: random.next() < 0.6,
    italic: random.next() < 0.1,
    spacing: 0,
  };
  if (upper && random.next() < 0.35) titleStyle.spacing = Math.round(titleStyle.size * (0.05 + 0.15 * random.next()));
  let title = titleText(random);
  if (upper) title = title.toUpperCase();
  const estimate = title.length * (titleStyle.size * 0.68 + titleStyle.spacing);
  const halves = splitInTwo(title);
  const titleLines = halves && (estimate > maxWidth * 1.1 || random.next() < 0.3) ? halves : [title];
  const blocks: Array<{ kind: Line['kind']; lines: Line[] }> = [
    { kind: 'title', lines: titleLines.map((text) => ({ ...titleStyle, text, kind: 'title' })) },
  ];

  if (random.next() < 0.6) {
    const tagUpper = random.next() < 0.3;
    const text = taglineText(random);
    blocks.push({
      kind: 'tagline',
      lines: [
        {
          family: pick(random, TITLE_FONTS),
          size: Math.max(6, Math.round((14 + 10 * random.next()) * scale)),
          bold: random.next() < 0.3,
          italic: random.next() < 0.4,
          spacing: tagUpper ? Math.round(2 * scale) : 0,
          text: tagUpper ? text.toUpperCase() : text,
          kind: 'tagline',
        },
      ],
    });
  }

  const creditsStyle: LineStyle = {
    family: pick(random, CREDITS_FONTS),
    size: Math.max(5, Math.round((10 + 6 * random.next()) * scale)),
    bold: random.next() < 0.3,
    italic: false,
    spacing: random.next() < 0.3 ? Math.max(1, Math.round(scale)) : 0,
  };
  const sample = 'DIRECTED BY JANE DOE  MUSIC BY JOHN SMITH';
  const advance = (await measure({ ...creditsStyle, text: sample, kind: 'credits' })).ink.w / sample.length;
  const credits = creditsLines(random, 1 + Math.floor(random.next() * 3), maxWidth / advance);
  blocks.push({ kind: 'credits', lines: credits.map((text) => ({ ...creditsStyle, text, kind: 'credits' })) });

  const fitted = await Promise.all(blocks.map(async (b) => ({ kind: b.kind, lines: await Promise.all(b.lines.map((l) => fit(l, maxWidth))) })));
  // A billing block is set in one size: lines shrunk to fit bring the others down with them.
  const block = fitted.find((b) => b.kind === 'credits')!;
  const smallest = Math.min(...block.lines.map((l) => l.line.size));
  block.lines = await Promise.all(block.lines.map((l) => (l.line.size === smallest ? l : measure({ ...l.line, size: smallest }))));
  return fitted;
}

// ---------------------------------------------------------------- measuring and layout

/** A line with its ink box relative to the text origin (x, baseline). */
interface Fitted {
  line: Line;
  ink: { dx: number; dy: number; w: number; h: number };
}

/** Shrinks the font until the line's ink fits `maxWidth`. */
async function fit(line: Line, maxWidth: number): Promise<Fitted> {
  let fitted = await measure(line);
  for (let i = 0; i < 5 && fitted.ink.w > maxWidth; i++) {
    const ratio = (maxWidth / fitted.ink.w) * 0.97;
    fitted = await measure({ ...line, size: Math.max(1, Math.floor(fitted.line.size * ratio)), spacing: Math.floor(fitted.line.spacing * ratio) });
  }
  if (fitted.ink.w > maxWidth) throw new Error(`text line "${line.text}" does not fit ${maxWidth} px`);
  return fitted;
}

/**
 * Without fonts pango still draws "tofu" boxes, 12 px tall whatever the size,
 * so a missing font shows as a short line: a 48 px line with ascenders and
 * descenders must have about one em of ink.
 */
async function checkFonts(): Promise<void> {
  const { ink } = await measure({ family: 'DejaVu Sans', size: 48, bold: false, italic: false, spacing: 0, text: 'Hamburgefonstiv', kind: 'title' });
  if (ink.h < 0.8 * 48) throw new Error(`${FONTS_MISSING} (a 48 px line gave ${ink.h} px of ink)`);
}

/** Renders the line alone on a small transparent canvas and finds its ink. */
async function measure(line: Line): Promise<Fitted> {
  const pad = Math.ceil(line.size);
  const [originX, originY] = [pad, Math.round(line.size * 1.4)];
  const height = Math.ceil(line.size * 2.4);
  let width = Math.ceil(line.text.length * (line.size * 0.8 + line.spacing) + 2 * pad);
  for (;;) {
    const alpha = await renderAlpha(textSvg(width, height, line, originX, originY));
    const box = inkBox(alpha, width, height);
    // Tofu boxes drawn without any font are a few px tall whatever the size; a capital is about 0.7 em.
    if (!box || box.y1 - box.y0 < 0.45 * line.size) {
      throw new Error(`${FONTS_MISSING} ("${line.text}" in ${line.family} at ${line.size} px gave ${box ? `${box.y1 - box.y0} px of ink` : 'no ink'})`);
    }
    if (box.y0 === 0 || box.y1 === height) throw new Error(`text line "${line.text}" overflows its measuring canvas`);
    if (box.x1 >= width - 1) {
      width *= 2;
      continue;
    }
    return { line, ink: { dx: box.x0 - originX, dy: box.y0 - originY, w: box.x1 - box.x0, h: box.y1 - box.y0 } };
  }
}

interface PlacedLine extends Fitted {
  box: Box;
  origin: { x: number; y: number };
}
interface Block {
  kind: Line['kind'];
  lines: PlacedLine[];
}

/**
 * Credits sit at the bottom; the title either near the top (tagline under it or
 * over the credits) or low (tagline at the top). Gaps between blocks keep
 * even the faint antialias fringes of different lines apart.
 */
function layOut(random: Random, copy: Array<{ kind: Line['kind']; lines: Fitted[] }>, width: number, height: number, margin: number): Block[] {
  const gap = Math.max(6, Math.round(height * 0.02));
  const stackHeight = (lines: Fitted[], lead: number) => lines.reduce((sum, l) => sum + l.ink.h, 0) + lead * (lines.length - 1);
  const lead = (lines: Fitted[]) => Math.max(3, Math.round(0.25 * lines[0]!.line.size));
  const [title, credits] = [copy.find((b) => b.kind === 'title')!, copy.find((b) => b.kind === 'credits')!];
  const tagline = copy.find((b) => b.kind === 'tagline');
  const alignLeft = random.next() < 0.25;

  const tops = new Map<Line['kind'], number>();
  const creditsHeight = stackHeight(credits.lines, lead(credits.lines));
  const creditsTop = height - Math.round(height * (0.025 + 0.035 * random.next())) - creditsHeight;
  tops.set('credits', creditsTop);
  const titleHeight = stackHeight(title.lines, lead(title.lines));
  const tagHeight = tagline ? tagline.lines[0]!.ink.h : 0;
  if (random.next() < 0.5) {
    const titleTop = Math.round(height * (0.05 + 0.15 * random.next()));
    tops.set('title', titleTop);
    if (tagline) {
      const under = titleTop + titleHeight + Math.round(gap * (1 + 2 * random.next()));
      tops.set('tagline', random.next() < 0.5 ? under : creditsTop - gap * 2 - tagHeight);
    }
  } else {
    const tagTop = Math.round(height * (0.04 + 0.06 * random.next()));
    if (tagline) tops.set('tagline', tagTop);
    const lowest = creditsTop - gap * 2 - titleHeight;
    const highest = (tagline ? tagTop + tagHeight + gap * 2 : tagTop) + Math.round(height * 0.2);
    tops.set('title', Math.round(Math.min(lowest, Math.max(highest, height * (0.5 + 0.25 * random.next()) - titleHeight))));
  }

  return copy.map((b) => {
    let y = tops.get(b.kind)!;
    const lines = b.lines.map((l) => {
      const x0 = alignLeft && b.kind !== 'credits' ? margin : Math.round((width - l.ink.w) / 2);
      const box = { x0, y0: y, x1: x0 + l.ink.w, y1: y + l.ink.h };
      y = box.y1 + lead(b.lines);
      return { ...l, box, origin: { x: x0 - l.ink.dx, y: box.y0 - l.ink.dy } };
    });
    return { kind: b.kind, lines };
  });
}

/** Boxes must lie inside the poster, apart from each other; a failure here is a bug in `layOut`. */
function checkLayout(boxes: TextPosterBox[], width: number, height: number): void {
  for (const [i, a] of boxes.entries()) {
    if (a.x0 < 0 || a.y0 < 0 || a.x1 > width || a.y1 > height) throw new Error(`text line "${a.text}" leaves the poster`);
    for (const b of boxes.slice(i + 1)) {
      if (a.x0 < b.x1 + 2 && b.x0 < a.x1 + 2 && a.y0 < b.y1 + 2 && b.y0 < a.y1 + 2) throw new Error(`text lines "${a.text}" and "${b.text}" touch`);
    }
  }
}

// ---------------------------------------------------------------- rendering

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function textSvg(width: number, height: number, line: LineStyle & { text: string }, x: number, y: number): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<text x="${x}" y="${y}" font-family="${line.family}" font-size="${line.size}" font-weight="${line.bold ? 'bold' : 'normal'}" ` +
    `font-style="${line.italic ? 'italic' : 'normal'}" letter-spacing="${line.spacing}" xml:space="preserve" fill="#fff">` +
    `${escapeXml(line.text)}</text></svg>`
  );
}

/**
 * librsvg/pango text rendering is not safe on several libuv threads at once:
 * concurrent renders now and then measure other glyph extents, fail with
 * "SVG rendering failed" or crash the process. So SVGs render one at a time,
 * across all posters in the process.
 */
let svgQueue: Promise<unknown> = Promise.resolve();
function oneAtATime<T>(task: () => Promise<T>): Promise<T> {
  const run = svgQueue.then(task, task);
  svgQueue = run.catch(() => undefined);
  return run;
}

/** The coverage of an SVG as one byte per pixel. */
function renderAlpha(svg: string): Promise<Buffer> {
  return oneAtATime(() => sharp(Buffer.from(svg)).ensureAlpha().extractChannel(3).raw().toBuffer());
}

function inkBox(alpha: Buffer, width: number, height: number): Box | undefined {
  let [x0, y0, x1, y1] = [width, height, -1, -1];
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      if (alpha[row + x]! <= INK_ALPHA) continue;
      if (x < x0) x0 = x;
      if (x >= x1) x1 = x + 1;
      if (y < y0) y0 = y;
      y1 = y + 1;
    }
  }
  return x1 < 0 ? undefined : { x0, y0, x1, y1 };
}

/** Alpha-blends one colour through a coverage mask, in place; uncovered pixels stay exactly as they were. */
function blend(pixels: Buffer, alpha: Buffer, colour: Rgb): void {
  for (let i = 0; i < alpha.length; i++) {
    const a = alpha[i]!;
    if (a === 0) continue;
    for (let k = 0; k < 3; k++) {
      const p = i * 3 + k;
      pixels[p] = Math.round((pixels[p]! * (255 - a) + colour[k]! * a) / 255);
    }
  }
}

function union(boxes: Box[]): Box {
  return {
    x0: Math.min(...boxes.map((b) => b.x0)),
    y0: Math.min(...boxes.map((b) => b.y0)),
    x1: Math.max(...boxes.map((b) => b.x1)),
    y1: Math.max(...boxes.map((b) => b.y1)),
  };
}

// ---------------------------------------------------------------- colour

type Rgb = readonly [number, number, number];

const TEXT_COLOURS: readonly Rgb[] = [
  [255, 255, 255],
  [250, 240, 215],
  [255, 214, 64],
  [255, 140, 20],
  [225, 35, 35],
  [150, 210, 255],
  [12, 12, 12],
  [25, 30, 70],
  [120, 15, 20],
];

/** WCAG relative luminance. */
function luminance([r, g, b]: Rgb): number {
  const lin = (v: number) => (v / 255 <= 0.03928 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4);
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

function contrast(a: Rgb, b: Rgb): number {
  const [la, lb] = [luminance(a), luminance(b)];
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

/** A random colour readable on the mean background under `box`, or the most readable one if none reaches `minimum`. */
function textColour(random: Random, background: Buffer, width: number, box: Box, minimum: number): Rgb {
  const sum = [0, 0, 0];
  for (let y = box.y0; y < box.y1; y++) {
    for (let x = box.x0; x < box.x1; x++) for (let k = 0; k < 3; k++) sum[k]! += background[(y * width + x) * 3 + k]!;
  }
  const n = (box.x1 - box.x0) * (box.y1 - box.y0);
  const mean: Rgb = [sum[0]! / n, sum[1]! / n, sum[2]! / n];
  const readable = TEXT_COLOURS.filter((c) => contrast(c, mean) >= minimum);
  const choice = random.next();
  if (readable.length === 0) return TEXT_COLOURS.reduce((best, c) => (contrast(c, mean) > contrast(best, mean) ? c : best));
  return readable[Math.floor(choice * readable.length)]!;
}

function hsl(h: number, s: number, l: number): Rgb {
  const f = (n: number) => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (l - s * Math.min(l, 1 - l) * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

function hex([r, g, b]: Rgb): string {
  return `#${[r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

/** Deterministic grain in [-amplitude, amplitude]. */
function grain(x: number, y: number, seed: number, amplitude: number): number {
  const h = (Math.imul(x + 1, 73856093) ^ Math.imul(y + 1, 19349663) ^ Math.imul(seed + 1, 83492791)) >>> 0;
  return (h % (2 * amplitude + 1)) - amplitude;
}

// ---------------------------------------------------------------- backgrounds

/** A linear or radial gradient through 2-3 colours, with faint grain against banding. */
function gradientBackground(random: Random, seed: number, width: number, height: number): Buffer {
  const hue = random.next() * 360;
  const stops: Array<{ at: number; colour: Rgb }> = [
    { at: 0, colour: hsl(hue, 0.3 + 0.6 * random.next(), 0.1 + 0.7 * random.next()) },
    { at: 1, colour: hsl((hue + 40 + 120 * random.next()) % 360, 0.3 + 0.6 * random.next(), 0.1 + 0.7 * random.next()) },
  ];
  if (random.next() < 0.5) stops.splice(1, 0, { at: 0.3 + 0.4 * random.next(), colour: hsl((hue + 200 * random.next()) % 360, 0.5, 0.1 + 0.8 * random.next()) });
  const radial = random.next() < 0.4;
  const [cx, cy] = [width * (0.2 + 0.6 * random.next()), height * (0.2 + 0.6 * random.next())];
  const reach = Math.hypot(Math.max(cx, width - cx), Math.max(cy, height - cy)) * (0.7 + 0.4 * random.next());
  const angle = random.next() * 2 * Math.PI;
  const [ux, uy] = [Math.cos(angle), Math.sin(angle)];
  const half = (Math.abs(ux) * width + Math.abs(uy) * height) / 2;

  const out = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const raw = radial ? Math.hypot(x - cx, y - cy) / reach : ((x - width / 2) * ux + (y - height / 2) * uy) / (2 * half) + 0.5;
      const t = Math.max(0, Math.min(1, raw));
      let s = 0;
      while (s < stops.length - 2 && t > stops[s + 1]!.at) s++;
      const [a, b] = [stops[s]!, stops[s + 1]!];
      const u = (t - a.at) / (b.at - a.at);
      const g = grain(x, y, seed, 2);
      for (let k = 0; k < 3; k++) {
        out[(y * width + x) * 3 + k] = Math.max(0, Math.min(255, Math.round(a.colour[k]! * (1 - u) + b.colour[k]! * u + g)));
      }
    }
  }
  return out;
}

/** A blurred "photo": sky and ground, hills, blobs, maybe a figure, then vignette, a darker foot and grain. */
async function sceneBackground(random: Random, seed: number, width: number, height: number): Promise<Buffer> {
  const hue = random.next() * 360;
  const colour = (l: number) => hex(hsl((hue + 160 * (random.next() - 0.5) + 360) % 360, 0.2 + 0.7 * random.next(), l));
  const shapes: string[] = [
    `<defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${colour(0.15 + 0.6 * random.next())}"/>` +
      `<stop offset="1" stop-color="${colour(0.1 + 0.6 * random.next())}"/></linearGradient></defs>`,
    `<rect width="${width}" height="${height}" fill="url(#sky)"/>`,
  ];
  const horizon = height * (0.35 + 0.35 * random.next());
  const hills = Array.from({ length: 7 }, (_, i) => `${Math.round((i / 6) * width)},${Math.round(horizon + (random.next() - 0.5) * height * 0.15)}`);
  shapes.push(`<polygon points="0,${height} ${hills.join(' ')} ${width},${height}" fill="${colour(0.05 + 0.4 * random.next())}"/>`);
  for (let i = 0, n = 4 + Math.floor(random.next() * 8); i < n; i++) {
    const [cx, cy] = [random.next() * width, random.next() * height];
    const [rx, ry] = [(0.05 + 0.25 * random.next()) * width, (0.03 + 0.2 * random.next()) * height];
    shapes.push(
      `<ellipse cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" rx="${rx.toFixed(1)}" ry="${ry.toFixed(1)}" ` +
        `fill="${colour(0.1 + 0.8 * random.next())}" opacity="${(0.4 + 0.5 * random.next()).toFixed(2)}"/>`,
    );
  }
  if (random.next() < 0.5) {
    const [fx, fs] = [width * (0.25 + 0.5 * random.next()), height * (0.25 + 0.25 * random.next())];
    const top = horizon - fs * 0.6;
    shapes.push(
      `<g fill="${colour(0.03 + 0.1 * random.next())}"><circle cx="${fx.toFixed(1)}" cy="${(top + fs * 0.12).toFixed(1)}" r="${(fs * 0.11).toFixed(1)}"/>` +
        `<rect x="${(fx - fs * 0.2).toFixed(1)}" y="${(top + fs * 0.25).toFixed(1)}" width="${(fs * 0.4).toFixed(1)}" height="${fs.toFixed(1)}" rx="${(fs * 0.12).toFixed(1)}"/></g>`,
    );
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${shapes.join('')}</svg>`;
  const sigma = Math.max(0.5, (1 + 4 * random.next()) * (width / 448));
  const blurred = await oneAtATime(() => sharp(Buffer.from(svg)).blur(sigma).removeAlpha().raw().toBuffer());

  const foot = 0.3 + 0.4 * random.next();
  const out = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    const darken = 1 - foot * Math.max(0, (y / height - 0.7) / 0.3);
    for (let x = 0; x < width; x++) {
      const d = ((x / width - 0.5) ** 2 + (y / height - 0.5) ** 2) * 2;
      const shade = darken * (1 - 0.45 * d);
      const g = grain(x, y, seed, 6);
      for (let k = 0; k < 3; k++) {
        const p = (y * width + x) * 3 + k;
        out[p] = Math.max(0, Math.min(255, Math.round(blurred[p]! * shade + g)));
      }
    }
  }
  return out;
}
