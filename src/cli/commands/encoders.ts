import { checkOneOf } from '../../errors.js';
import { SENTENCE_ENCODERS } from '../../text/sentence.js';
import { type CommandDefinition, EXIT } from '../command.js';
import { backboneLoadOptions, backboneOptions, locateModelFile, progressOf, progressOptions } from '../shared-options.js';

const { 'cache-dir': cacheDir, mirror, offline } = backboneOptions;

const command: CommandDefinition = {
  name: 'encoders',
  summary: 'List the pretrained sentence encoders (text -> vector) and where their model and tokenizer files are; --fetch ID downloads or verifies one.',
  usage: 'posterscope encoders [--fetch ID] [--json]',
  options: {
    fetch: { type: 'string', valueName: 'ID', description: 'Resolve this encoder\'s model and tokenizer files now (download if allowed)' },
    json: { type: 'boolean', description: 'Print JSON on stdout' },
    'cache-dir': cacheDir,
    mirror,
    offline,
    ...progressOptions,
  },
  examples: ['posterscope encoders', 'posterscope encoders --fetch minilm-l6', 'posterscope encoders --mirror /media/models --json'],
  async run(context) {
    const fetchId = typeof context.values.fetch === 'string' ? context.values.fetch : undefined;
    if (fetchId !== undefined) checkOneOf('--fetch', SENTENCE_ENCODERS.map((row) => row.id), fetchId);
    const progress = progressOf(context);
    const rows = [];
    for (const spec of SENTENCE_ENCODERS) {
      const base = backboneLoadOptions(context, progress);
      const where: Record<'model' | 'tokenizer', string> = { model: '', tokenizer: '' };
      for (const [key, file] of [['tokenizer', spec.tokenizer], ['model', spec.file]] as const) where[key] = await locateModelFile(file, base, spec.id === fetchId);
      rows.push({
        id: spec.id,
        dim: spec.dim,
        pooling: spec.pooling,
        maxTokens: spec.maxTokens,
        file: spec.file.fileName,
        tokenizer: spec.tokenizer.fileName,
        sha256: { model: spec.file.sha256, tokenizer: spec.tokenizer.sha256 },
        licence: spec.licence,
        description: spec.description,
        where,
      });
    }
    if (context.values.json === true) context.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    else {
      for (const row of rows) {
        const located = row.where.model === row.where.tokenizer ? row.where.model : `model ${row.where.model}; tokenizer ${row.where.tokenizer}`;
        context.stdout.write(`${row.id.padEnd(14)}${String(row.dim).padEnd(6)}${`${row.pooling} pooling, ${row.maxTokens} tokens`.padEnd(28)}${located}\n`);
      }
    }
    return EXIT.ok;
  },
};

export default command;
