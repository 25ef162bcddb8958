import { loadBackbone } from '../../backbone/backbone.js';
import { DEFAULT_BACKBONE, loadBackboneSpec } from '../../backbone/registry.js';
import { readPosterList } from '../../data/dataset.js';
import { collectImageFiles } from '../../data/files.js';
import { EmbeddingCache } from '../../embed/cache.js';
import { DEFAULT_BATCH_SIZE, embedPosters } from '../../embed/pipeline.js';
import { invalidParameterError } from '../../errors.js';
import { parseViews, VIEW_SETS, viewName } from '../../image/views.js';
import { type CommandDefinition, EXIT, reportError, usageError } from '../command.js';
import {
  backboneLoadOptions,
  backboneOptions,
  cacheDirOf,
  integerOption,
  posterListOf,
  posterListOptions,
  posterListProblems,
  progressOf,
  progressOptions,
  stringOption,
  decodeOptions,
  decodeOptionsOf,
} from '../shared-options.js';

const command: CommandDefinition = {
  name: 'embed',
  summary: 'Embed posters with a frozen backbone into the on-disk cache (re-runs only embed what is new).',
  usage: 'posterscope embed <files|dirs|globs...> [options]\n       posterscope embed --data labels.csv --images DIR [options]',
  details: [
    'Vectors are keyed by (poster content hash, backbone + checksum, view), so renamed',
    'or copied posters are not embedded twice, and a run killed at any point resumes',
    'where it stopped. View sets: ' + Object.entries(VIEW_SETS).map(([k, v]) => `${k} = ${v.join('+')}`).join('; ') + '.',
  ].join('\n'),
  options: {
    ...posterListOptions,
    views: {
      type: 'string',
      valueName: 'LIST',
      description: 'Comma-separated views or view sets (native, full, crop-top, tiles-2x, aug-1, tiles, ...)',
      defaultText: 'single',
    },
    'batch-size': { type: 'string', valueName: 'N', description: 'Crops per backbone pass', defaultText: String(DEFAULT_BATCH_SIZE) },
    prefetch: { type: 'string', valueName: 'N', description: 'Posters decoded ahead of inference', defaultText: '8' },
    json: { type: 'boolean', description: 'Print the summary as JSON on stdout' },
    ...backboneOptions,
    ...decodeOptions,
    ...progressOptions,
  },
  examples: [
    'posterscope embed posters/',
    'posterscope embed --data labels.csv --images posters/ --views tiles',
    'POSTERSCOPE_MIRROR=/media/models posterscope embed --offline "scans/**/*.png"',
  ],
  async run(context) {
    const list = posterListOf(context);
    let files: string[];
    const problems: string[] = [];
    let unusable = 0;
    if (list) {
      const { rows, report } = await readPosterList(list);
      files = [...new Set(rows.flatMap((row) => (row.image === null ? [] : [row.image])))];
      const found = posterListProblems(report, list.images);
      problems.push(...found.lines);
      unusable = found.rows;
    } else {
      if (context.positionals.length === 0) throw usageError('give poster files, folders or globs, or --data FILE --images DIR');
      const collected = await collectImageFiles(context.positionals);
      files = collected.files;
      for (const m of collected.missing) problems.push(`${m.input}: ${m.reason}`);
      unusable = collected.missing.length;
    }
    const views = parseViews(stringOption(context, 'views') ?? 'single');
    const progress = progressOf(context);
    const backbone = await loadBackbone(
      await loadBackboneSpec(stringOption(context, 'backbone') ?? DEFAULT_BACKBONE),
      backboneLoadOptions(context, progress),
    );
    const cache = await EmbeddingCache.open({ dir: cacheDirOf(context), fingerprint: backbone.fingerprint, dim: backbone.dim });
    const failures: string[] = [];
    let summary;
    const stop = () => {
      // Ctrl-C: keep every finished vector, then leave.
      cache.close();
      process.exit(130);
    };
    process.once('SIGINT', stop);
    try {
      summary = await embedPosters(files, {
        backbone,
        views,
        cache,
        batchSize: integerOption(context, 'batch-size', DEFAULT_BATCH_SIZE, 1, 1024),
        prefetch: integerOption(context, 'prefetch', 8, 1, 256),
        progress,
        decode: decodeOptionsOf(context),
        onPoster: (result) => {
          if (result.error) failures.push(result.error.message);
        },
      });
    } finally {
      process.off('SIGINT', stop);
      try {
        cache.close();
      } finally {
        await backbone.release();
      }
    }
    for (const line of [...problems, ...failures]) reportError(context, line);
    const report = {
      backbone: backbone.fingerprint,
      views: views.map(viewName),
      cache: cache.directory,
      ...summary,
      failed: summary.failed + unusable,
    };
    if (context.values.json === true) context.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else {
      context.stdout.write(
        `${report.posters} posters: ${report.embedded} embedded, ${report.fromCache} already cached, ${report.failed} failed; ` +
          `${report.passes} backbone passes in ${report.seconds.toFixed(1)} s (${(report.passes / Math.max(report.seconds, 1e-9)).toFixed(0)}/s)\n` +
          `cache: ${report.cache}\n`,
      );
    }
    return report.failed > 0 ? EXIT.failed : EXIT.ok;
  },
};

export default command;
