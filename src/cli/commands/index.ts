/**
 * The command registry: names to lazy loaders, so `posterscope embed` never
 * loads the code of other commands.
 */
import type { CommandDefinition } from '../command.js';

export const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandDefinition> }> = {
  embed: {
    summary: 'Embed posters with a backbone into the on-disk cache',
    load: async () => (await import('./embed.js')).default,
  },
  backbones: {
    summary: 'List the backbones posterscope knows and where their files are',
    load: async () => (await import('./backbones.js')).default,
  },
};
