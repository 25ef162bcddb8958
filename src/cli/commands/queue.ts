import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_BACKBONE, loadBackboneSpec } from '../../backbone/registry.js';
import { DEFAULT_CLEAN_SETTINGS } from '../../clean/clean.js';
import { readPosterList } from '../../data/dataset.js';
import { collectImageFiles } from '../../data/files.js';
import { checkOneOf, closestMatch } from '../../errors.js';
import { parseViews, viewName } from '../../image/views.js';
import { readBundle } from '../../model/bundle.js';
import { DEFAULT_MODEL_PATH } from '../../model/model.js';
import { getTextDetectorSpec } from '../../ocr/detector.js';
import { collectResults } from '../../queue/collect.js';
import { enqueuePosters } from '../../queue/enqueue.js';
import { DEFAULT_QUEUE, JOB_KINDS, type JobKind, type JobRequest, connectRedis } from '../../queue/jobs.js';
import { formatDuration, formatStatus, readStatus } from '../../queue/status.js';
import { openDirectoryStore } from '../../queue/store.js';
import { modelChecksum } from '../../queue/worker.js';
import { type CommandContext, type CommandDefinition, EXIT, reportError, usageError } from '../command.js';
import {
  cleanSettingsOf,
  decodeOptions,
  decodeOptionsOf,
  detectionOptions,
  integerOption,
  jobKindsOf,
  posterListOf,
  posterListOptions,
  posterListProblems,
  queueOptions,
  stringOption,
} from '../shared-options.js';


const SUBCOMMANDS = ['add', 'status', 'collect'] as const;

const command: CommandDefinition = {
  name: 'queue',
  summary: 'Put posters on a Redis job queue for a pool of workers, watch it, collect the results.',
  usage: [
    'posterscope queue add <files|dirs|globs...> --job embed|clean|predict --redis URL --store DIR [options]',
    '       posterscope queue add --data FILE --images DIR --job ... --redis URL --store DIR',
    '       posterscope queue status --redis URL [--watch]',
    '       posterscope queue collect --redis URL --store DIR --out DIR|FILE.jsonl|FILE.csv',
  ].join('\n'),
  details: [
    'Posters go in chunks (--chunk posters per job); a chunk\'s job id is the hash of its',
    'posters\' contents and settings, so adding the same posters again adds nothing.',
    'Workers (`posterscope worker`) write results to the shared --store, keyed by content',
    'hash; Redis holds only job state. A chunk that throws is retried --attempts times',
    'with exponential backoff; a worker killed mid-chunk loses its lock and another worker',
    'takes the chunk over; an unreadable poster fails its own row, not the chunk.',
  ].join('\n'),
  options: {
    ...queueOptions,
    ...posterListOptions,
    job: { type: 'string', valueName: 'KIND', description: `add: what to do with the posters: ${JOB_KINDS.join(', ')}`, defaultText: 'embed' },
    views: { type: 'string', valueName: 'LIST', description: 'add: views to embed (embed) or average (predict)', defaultText: 'single (embed), the model\'s (predict)' },
    model: { type: 'string', valueName: 'DIR', description: 'add --job predict: the bundle the workers must hold (checked by checksum)', defaultText: 'built-in' },
    backbone: { type: 'string', valueName: 'ID|ROW.json', description: 'add --job embed: the backbone the workers must hold (checked by checksum)', defaultText: DEFAULT_BACKBONE },
    ...detectionOptions,
    dilate: { type: 'string', valueName: 'PX', description: 'add --job clean: pixels added around each text box', defaultText: '2' },
    'inpaint-radius': { type: 'string', valueName: 'PX', description: 'add --job clean: in-painting radius', defaultText: '5' },
    chunk: { type: 'string', valueName: 'N', description: 'add: posters per job', defaultText: '64' },
    attempts: { type: 'string', valueName: 'N', description: 'add: times a chunk is started before it fails for good', defaultText: '3' },
    backoff: { type: 'string', valueName: 'MS', description: 'add: first retry delay (doubling)', defaultText: '5000' },
    'retry-failed': { type: 'boolean', description: 'add: put chunks that already failed back in the queue' },
    watch: { type: 'boolean', description: 'status: redraw until nothing is waiting or running' },
    interval: { type: 'string', valueName: 'S', description: 'status --watch: seconds between redraws', defaultText: '2' },
    json: { type: 'boolean', description: 'add, status, collect: print the summary as JSON' },
    out: { type: 'string', short: 'o', valueName: 'DIR|FILE', description: 'collect: folder for all results, or a .jsonl/.csv file for predictions' },
    ...decodeOptions,
  },
  examples: [
    'redis-server --port 6379 --appendonly yes &',
    'posterscope worker --redis redis://10.0.0.5:6379 --store /mnt/shared/run1        # on every machine',
    'posterscope queue add /mnt/shared/posters/ --job embed --views tiles --redis redis://10.0.0.5:6379 --store /mnt/shared/run1',
    'posterscope queue status --redis redis://10.0.0.5:6379 --watch',
    'posterscope queue collect --redis redis://10.0.0.5:6379 --store /mnt/shared/run1 --out results/',
  ],
  async run(context) {
    const [sub, ...rest] = context.positionals;
    if (sub === undefined) throw usageError(`queue needs a subcommand: ${SUBCOMMANDS.join(', ')}`);
    if (!(SUBCOMMANDS as readonly string[]).includes(sub)) {
      const best = closestMatch(sub, SUBCOMMANDS);
      throw usageError(`unknown queue subcommand "${sub}".${best ? ` Did you mean "${best}"?` : ''} Subcommands: ${SUBCOMMANDS.join(', ')}`);
    }
    const redis = stringOption(context, 'redis');
    if (!redis) throw usageError(`queue ${sub} needs --redis URL (e.g. redis://127.0.0.1:6379)`);
    const queue = stringOption(context, 'queue') ?? DEFAULT_QUEUE;
    if (sub === 'add') return add(context, rest, redis, queue);
    if (rest.length > 0) throw usageError(`queue ${sub} takes no file arguments (received "${rest[0]}")`);
    if (sub === 'status') return status(context, redis, queue);
    return collect(context, redis, queue);
  },
};

async function storeOf(context: CommandContext, sub: string) {
  const dir = stringOption(context, 'store');
  if (!dir) throw usageError(`queue ${sub} needs --store DIR (the shared folder the workers write results to)`);
  return openDirectoryStore(dir);
}

async function requestOf(context: CommandContext, kind: JobKind): Promise<JobRequest> {
  const viewsText = stringOption(context, 'views');
  if (kind === 'embed') {
    const spec = await loadBackboneSpec(stringOption(context, 'backbone') ?? DEFAULT_BACKBONE);
    return { kind, backbone: { id: spec.id, sha256: spec.file.sha256 }, views: parseViews(viewsText ?? 'single').map(viewName) };
  }
  if (kind === 'predict') {
    const bundle = await readBundle(stringOption(context, 'model') ?? DEFAULT_MODEL_PATH);
    if (!bundle.manifest.backbone) throw usageError(`${bundle.path} reads no posters (it accepts ${bundle.manifest.inputs.accepts.join(', ')}): the queue predicts posters`);
    return {
      kind,
      model: { checksum: modelChecksum(bundle.manifest), backboneSha256: bundle.manifest.backbone.sha256 },
      ...(viewsText ? { views: parseViews(viewsText).map(viewName) } : {}),
    };
  }
  const settings = { ...DEFAULT_CLEAN_SETTINGS, ...cleanSettingsOf(context) };
  const detector = getTextDetectorSpec(settings.detector);
  return { kind, detector: { id: detector.id, sha256: detector.file.sha256 }, settings };
}

async function add(context: CommandContext, inputs: string[], redis: string, queue: string): Promise<number> {
  const kind = checkOneOf('--job', JOB_KINDS, stringOption(context, 'job') ?? 'embed');
  const list = posterListOf(context);
  let files: string[];
  const problems: string[] = [];
  if (list) {
    if (inputs.length > 0) throw usageError('give poster files or --data FILE --images DIR, not both');
    const { rows, report } = await readPosterList(list);
    files = [...new Set(rows.flatMap((row) => (row.image === null ? [] : [row.image])))];
    problems.push(...posterListProblems(report, list.images).lines);
  } else {
    if (inputs.length === 0) throw usageError('queue add needs poster files, folders or globs, or --data FILE --images DIR');
    const collected = await collectImageFiles(inputs);
    files = collected.files;
    for (const m of collected.missing) problems.push(`${m.input}: ${m.reason}`);
  }
  const request = await requestOf(context, kind);
  const store = await storeOf(context, 'add');
  const summary = await enqueuePosters(files, {
    redis,
    queue,
    store,
    request,
    chunk: integerOption(context, 'chunk', 64, 1, 100_000),
    attempts: integerOption(context, 'attempts', 3, 1, 100),
    backoffMs: integerOption(context, 'backoff', 5000, 0, 86_400_000),
    retryFailed: context.values['retry-failed'] === true,
    decode: decodeOptionsOf(context),
    onError: (error) => problems.push(error.message),
  });
  for (const line of problems) reportError(context, line);
  if (context.values.json === true) context.stdout.write(`${JSON.stringify({ queue, kind, ...summary }, null, 2)}\n`);
  else {
    context.stdout.write(
      `${summary.posters} posters in ${summary.chunks} ${kind} chunks on queue ${queue}: ${summary.added} added, ${summary.existing} already queued` +
        `${summary.retried ? `, ${summary.retried} failed ones retried` : ''}${summary.unreadable ? `; ${summary.unreadable} unreadable posters not queued` : ''}\n`,
    );
  }
  return problems.length > 0 ? EXIT.failed : EXIT.ok;
}

async function status(context: CommandContext, url: string, queue: string): Promise<number> {
  const watch = context.values.watch === true;
  const interval = integerOption(context, 'interval', 2, 1, 3600);
  // A wrong URL fails at once; a watch, once connected, rides out Redis restarts as workers do.
  let redis = await connectRedis(url, 'client');
  if (watch) {
    redis.disconnect();
    redis = await connectRedis(url, 'worker');
  }
  try {
    if (!watch) {
      const s = await readStatus(redis, queue);
      context.stdout.write(context.values.json === true ? `${JSON.stringify(s, null, 2)}\n` : formatStatus(s));
      return EXIT.ok;
    }
    const tty = context.stdout.isTTY === true;
    let drawn = 0;
    for (;;) {
      const s = await readStatus(redis, queue);
      const finished = s.posters.done + s.posters.failed;
      const share = s.posters.queued > 0 ? finished / s.posters.queued : 0;
      const width = 30;
      const bar = `[${'#'.repeat(Math.round(share * width)).padEnd(width, '.')}] ${(share * 100).toFixed(1)}% ${finished}/${s.posters.queued} posters, ${s.rate.toFixed(1)}/s, ETA ${s.etaSeconds === undefined ? '?' : formatDuration(s.etaSeconds)}`;
      const text = `${formatStatus(s)}${bar}\n`;
      if (tty && drawn > 0) context.stdout.write(`\x1b[${drawn}A\x1b[J`);
      context.stdout.write(tty ? text : `${bar}; chunks ${s.chunks.waiting} waiting, ${s.chunks.active} active, ${s.chunks.failed} failed; ${s.workers.length} workers\n`);
      drawn = text.split('\n').length - 1;
      if (s.chunks.waiting + s.chunks.active + s.chunks.delayed === 0 && s.posters.queued > 0) return s.chunks.failed > 0 ? EXIT.failed : EXIT.ok;
      await sleep(interval * 1000);
    }
  } finally {
    redis.disconnect();
  }
}

async function collect(context: CommandContext, redis: string, queue: string): Promise<number> {
  const out = stringOption(context, 'out');
  if (!out) throw usageError('queue collect needs --out DIR (or --out FILE.jsonl / FILE.csv for predictions)');
  const store = await storeOf(context, 'collect');
  const kinds = jobKindsOf(context);
  const summary = await collectResults({
    redis,
    queue,
    store,
    out,
    ...(kinds ? { kinds } : {}),
    onError: (row) => reportError(context, row.error?.message ?? `${row.source}: failed`),
  });
  for (const f of summary.failedChunks) reportError(context, `chunk ${f.job} failed: ${f.reason}`);
  if (context.values.json === true) context.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  else {
    context.stdout.write(
      `${summary.chunks} finished chunks: ${summary.embedded} posters embedded, ${summary.predicted} predicted, ${summary.cleaned} cleaned, ${summary.failed} failed` +
        `${summary.unfinished ? `; ${summary.unfinished} chunks not done (${summary.failedChunks.length} failed)` : ''}\n` +
        summary.written.map((w) => `wrote ${w}\n`).join(''),
    );
  }
  return summary.failed > 0 || summary.unfinished > 0 ? EXIT.failed : EXIT.ok;
}

export default command;
