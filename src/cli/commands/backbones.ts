import { BACKBONES } from '../../backbone/registry.js';
import { checkOneOf } from '../../errors.js';
import { type CommandDefinition, EXIT } from '../command.js';
import { backboneLoadOptions, backboneOptions, locateModelFile, progressOf, progressOptions } from '../shared-options.js';

const command: CommandDefinition = {
  name: 'backbones',
  summary: 'List the known backbones and where each model file is found; --fetch ID downloads or verifies one.',
  usage: 'posterscope backbones [--fetch ID] [--json]',
  options: {
    fetch: { type: 'string', valueName: 'ID', description: 'Resolve this backbone\'s file now (download if allowed)' },
    json: { type: 'boolean', description: 'Print JSON on stdout' },
    ...backboneOptions,
    ...progressOptions,
  },
  examples: ['posterscope backbones', 'posterscope backbones --fetch mobilenetv2', 'posterscope backbones --mirror /media/models --json'],
  async run(context) {
    const fetchId = typeof context.values.fetch === 'string' ? context.values.fetch : undefined;
    if (fetchId !== undefined) checkOneOf('--fetch', BACKBONES.map((b) => b.id), fetchId);
    const progress = progressOf(context);
    const rows = [];
    for (const spec of BACKBONES) {
      const base = backboneLoadOptions(context, progress);
      const where = await locateModelFile(spec.file, base, spec.id === fetchId);
      rows.push({
        id: spec.id,
        dim: spec.feature.dim,
        input: `${spec.input.name} ${spec.input.layout} ${spec.input.height}x${spec.input.width}`,
        file: spec.file.fileName,
        sha256: spec.file.sha256,
        licence: spec.licence,
        description: spec.description,
        where,
      });
    }
    if (context.values.json === true) context.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    else {
      for (const row of rows) {
        context.stdout.write(`${row.id.padEnd(14)}${String(row.dim).padEnd(6)}${row.input.padEnd(30)}${row.where}\n`);
      }
    }
    return EXIT.ok;
  },
};

export default command;
