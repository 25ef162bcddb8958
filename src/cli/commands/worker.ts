import { startQueueWorker } from '../../queue/worker.js';
import { openDirectoryStore } from '../../queue/store.js';
import { printable } from '../../printable.js';
import { silentProgress } from '../../progress.js';
import { type CommandDefinition, EXIT, usageError } from '../command.js';
import {
  backboneLoadOptions,
  backboneOptions,
  decodeOptions,
  decodeOptionsOf,
  integerOption,
  jobKindsOf,
  queueOptions,
  stringOption,
} from '../shared-options.js';

const command: CommandDefinition = {
  name: 'worker',
  summary: 'Work on a Redis job queue: embed, clean or predict chunks of posters into the shared store.',
  usage: 'posterscope worker --redis URL --store DIR [--concurrency N] [--jobs embed,clean,predict] [options]',
  details: [
    'A long-running worker; one per machine is the normal deployment. It loads each model',
    'on its first job and refuses jobs that ask for other model files (by checksum).',
    'SIGTERM or SIGINT: stop taking chunks and finish the ones running; a second signal',
    'hands them back at once (another worker takes them over). Liveness: a heartbeat key',
    'in Redis that `queue status` lists (it expires 3 heartbeats after the worker stops).',
  ].join('\n'),
  options: {
    ...queueOptions,
    concurrency: { type: 'string', valueName: 'N', description: 'Chunks worked on at once, per job kind', defaultText: '1' },
    model: { type: 'string', valueName: 'DIR', description: 'Model bundle for predict jobs', defaultText: 'built-in' },
    'stall-seconds': {
      type: 'string',
      valueName: 'S',
      description: 'A chunk whose worker has not renewed its lock for this long is handed to another worker',
      defaultText: '30',
    },
    heartbeat: { type: 'string', valueName: 'S', description: 'Seconds between heartbeats', defaultText: '5' },
    ...backboneOptions,
    ...decodeOptions,
  },
  examples: [
    'posterscope worker --redis redis://10.0.0.5:6379 --store /mnt/shared/run1',
    'posterscope worker --redis redis://10.0.0.5:6379 --store /mnt/shared/run1 --jobs predict --model models/mine',
  ],
  async run(context) {
    if (context.positionals.length > 0) throw usageError(`worker takes no file arguments (received "${context.positionals[0]}")`);
    const redis = stringOption(context, 'redis');
    if (!redis) throw usageError('worker needs --redis URL (e.g. redis://127.0.0.1:6379)');
    const storeDir = stringOption(context, 'store');
    if (!storeDir) throw usageError('worker needs --store DIR (the shared folder results are written to)');
    const kinds = jobKindsOf(context);
    const model = stringOption(context, 'model');
    const backbone = stringOption(context, 'backbone');
    const log = (line: string) => context.stderr.write(`${new Date().toISOString()} ${printable(line)}\n`);
    const worker = await startQueueWorker({
      redis,
      store: await openDirectoryStore(storeDir),
      ...(stringOption(context, 'queue') ? { queue: stringOption(context, 'queue')! } : {}),
      ...(kinds ? { kinds } : {}),
      concurrency: integerOption(context, 'concurrency', 1, 1, 64),
      ...(model ? { model } : {}),
      ...(backbone ? { backbone } : {}),
      load: backboneLoadOptions(context, silentProgress),
      decode: decodeOptionsOf(context),
      stallSeconds: integerOption(context, 'stall-seconds', 30, 1, 86_400),
      heartbeatSeconds: integerOption(context, 'heartbeat', 5, 1, 3600),
      onLog: log,
    });
    await new Promise<void>((resolve) => {
      let signals = 0;
      const stop = (signal: NodeJS.Signals) => {
        signals++;
        if (signals === 1) log(`${signal}: finishing the running chunks (send it again to hand them back now)`);
        else log(`${signal}: handing the running chunks back`);
        worker.close(signals > 1).then(resolve, (error: unknown) => {
          log(`closing: ${(error as Error).message}`);
          resolve();
        });
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
    log('worker stopped');
    return EXIT.ok;
  },
};

export default command;
