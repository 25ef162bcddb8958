import { AUDIT_CONDITIONS, type AuditCondition, auditDataset, failedConditions, formatAudit } from '../../data/audit.js';
import { closestMatch, invalidParameterError } from '../../errors.js';
import { type CommandDefinition, EXIT, usageError } from '../command.js';
import { datasetOptions, datasetOptionsOf, decodeOptions, decodeOptionsOf, integerOption, listOption, progressOf, progressOptions, stringOption } from '../shared-options.js';

function failOnOf(text: string | undefined): AuditCondition[] {
  if (text === undefined) return [];
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = names.find((n) => !(AUDIT_CONDITIONS as readonly string[]).includes(n));
  if (bad !== undefined || names.length === 0) {
    const value = bad ?? text;
    throw invalidParameterError('--fail-on', `a comma list of ${AUDIT_CONDITIONS.join(', ')}`, value, closestMatch(value, AUDIT_CONDITIONS));
  }
  return names as AuditCondition[];
}

const command: CommandDefinition = {
  name: 'audit',
  summary: 'Check a labelled data set before training: unreadable, missing and duplicate posters, leakage, rare genres.',
  usage: 'posterscope audit --data FILE --images DIR [--splits FILE] [options]',
  details: [
    'Decodes and hashes every poster, then reports: malformed rows, unreadable images, rows',
    'without an image, images without a row, duplicate ids and identical images (flagging',
    'conflicting genres), near-duplicates by perceptual hash, tiny images, leakage of one',
    'poster across the splits of --splits (a bundle\'s split.json, {id: split} JSON, or an',
    'id,split CSV), genre counts, rare genres and genre co-occurrence.',
    `Exit code 1 when a condition of --fail-on has a finding: ${AUDIT_CONDITIONS.join(', ')}.`,
  ].join('\n'),
  options: {
    ...datasetOptions,
    splits: { type: 'string', valueName: 'FILE', description: 'Split to check for leakage, e.g. models/default/split.json' },
    'near-distance': { type: 'string', valueName: 'N', description: 'Largest perceptual-hash distance (of 64 bits) that is a near-duplicate', defaultText: '4' },
    'min-side': { type: 'string', valueName: 'PX', description: 'Images with a shorter side below this are tiny', defaultText: '64' },
    rare: { type: 'string', valueName: 'N', description: 'Genres on fewer posters than this are rare', defaultText: '10' },
    concurrency: { type: 'string', valueName: 'N', description: 'Posters decoded at once', defaultText: '4' },
    'fail-on': { type: 'string', valueName: 'LIST', description: 'Exit 1 when any of these conditions has a finding (comma list)' },
    json: { type: 'boolean', description: 'Print the full report as JSON on stdout' },
    ...decodeOptions,
    ...progressOptions,
  },
  examples: [
    'posterscope audit --data labels.csv --images posters/',
    'posterscope audit --data labels.csv --images posters/ --splits models/default/split.json --fail-on unreadable,missing,leakage',
    'posterscope audit --data movies.csv --id-column 0 --genres-column 3 --images a/ --images b/ --near-distance 6 --json > audit.json',
  ],
  async run(context) {
    const data = stringOption(context, 'data');
    const images = listOption(context, 'images');
    if (!data || images.length === 0) throw usageError('audit needs --data FILE and --images DIR (see `posterscope audit --help`)');
    const failOn = failOnOf(stringOption(context, 'fail-on'));
    const splits = stringOption(context, 'splits');
    const report = await auditDataset({
      data,
      images,
      ...datasetOptionsOf(context),
      ...(splits ? { splits } : {}),
      nearDistance: integerOption(context, 'near-distance', 4, 0, 64),
      minSide: integerOption(context, 'min-side', 64, 0, 1_000_000),
      rare: integerOption(context, 'rare', 10, 0, 1_000_000_000),
      concurrency: integerOption(context, 'concurrency', 4, 1, 256),
      decode: decodeOptionsOf(context),
      progress: progressOf(context),
    });
    const failed = failedConditions(report, failOn);
    if (context.values.json === true) context.stdout.write(`${JSON.stringify({ ...report, failed }, null, 2)}\n`);
    else context.stdout.write(formatAudit(report));
    if (failed.length > 0) context.stderr.write(`audit failed: ${failed.map((c) => `${c} (${report.findings[c]})`).join(', ')}\n`);
    return failed.length > 0 ? EXIT.failed : EXIT.ok;
  },
};

export default command;
