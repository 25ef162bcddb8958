/**
 * The command registry: names to lazy loaders, so `posterscope embed` never
 * loads the code of other commands.
 */
import type { CommandDefinition } from '../command.js';

export const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandDefinition> }> = {
  predict: {
    summary: 'Predict the genres of posters with a model bundle (the built-in one by default)',
    load: async () => (await import('./predict.js')).default,
  },
  train: {
    summary: 'Train a genre model on labelled posters and write a bundle',
    load: async () => (await import('./train.js')).default,
  },
  evaluate: {
    summary: 'Score a bundle on its test split or any labelled file, beside baselines',
    load: async () => (await import('./evaluate.js')).default,
  },
  serve: {
    summary: 'Serve the model as a JSON API and a web page',
    load: async () => (await import('./serve.js')).default,
  },
  embed: {
    summary: 'Embed posters with a backbone into the on-disk cache',
    load: async () => (await import('./embed.js')).default,
  },
  backbones: {
    summary: 'List the backbones posterscope knows and where their files are',
    load: async () => (await import('./backbones.js')).default,
  },
  encoders: {
    summary: 'List the pretrained sentence encoders (text -> vector) and where their files are',
    load: async () => (await import('./encoders.js')).default,
  },
  fetch: {
    summary: 'Download the posters a CSV lists by URL (resumable, validated, with a failures report)',
    load: async () => (await import('./fetch.js')).default,
  },
  clean: {
    summary: 'Remove titles and credits from posters (text detection + in-painting), resumable',
    load: async () => (await import('./clean.js')).default,
  },
  read: {
    summary: 'Read the text printed on posters: lines with boxes and confidences, in reading order',
    load: async () => (await import('./read.js')).default,
  },
  audit: {
    summary: 'Check a labelled data set before training: bad, missing, duplicate and leaking posters',
    load: async () => (await import('./audit.js')).default,
  },
  report: {
    summary: 'Draw a model\'s evaluation as one self-contained HTML page (charts, baselines, failure gallery)',
    load: async () => (await import('./report.js')).default,
  },
  queue: {
    summary: 'Put posters on a Redis job queue for a pool of workers (add), watch it (status), gather the results (collect)',
    load: async () => (await import('./queue.js')).default,
  },
  worker: {
    summary: 'Work on a Redis job queue: embed, clean or predict chunks of posters into a shared store',
    load: async () => (await import('./worker.js')).default,
  },
};
