import { PosterscopeError, invalidParameterError } from '../../errors.js';
import { loadModel } from '../../model/model.js';
import { createServer } from '../../serve/server.js';
import { type CommandDefinition, EXIT } from '../command.js';
import { backboneLoadOptions, backboneOptions, decodeOptions, decodeOptionsOf, integerOption, progressOf, stringOption } from '../shared-options.js';

const command: CommandDefinition = {
  name: 'serve',
  summary: 'Serve the genre model: a JSON API (/v1/predict, /v1/predict/batch, /v1/model, /openapi.json) and a web page at /.',
  usage: 'posterscope serve [--model DIR] [--host 127.0.0.1] [--port 7860] [options]',
  details: [
    'Binds to loopback unless --host says otherwise. Requests are pooled into micro-batches',
    'for the backbone; past --max-queue waiting posters the server answers 503 at once.',
    'Ctrl-C (SIGINT) or SIGTERM stops accepting requests and finishes the ones in flight.',
  ].join('\n'),
  options: {
    model: { type: 'string', valueName: 'DIR', description: 'Model bundle', defaultText: 'the built-in default model' },
    host: { type: 'string', valueName: 'HOST', description: 'Address to bind', defaultText: '127.0.0.1' },
    port: { type: 'string', valueName: 'PORT', description: 'Port (0 picks a free one)', defaultText: '7860' },
    'max-upload': { type: 'string', valueName: 'MB', description: 'Largest upload accepted', defaultText: '10' },
    'max-files': { type: 'string', valueName: 'N', description: 'Most posters in one batch request', defaultText: '64' },
    'max-passes': { type: 'string', valueName: 'N', description: 'Most backbone passes (posters x views x tiles) one request may cost (400 beyond)', defaultText: '1024' },
    'max-text': { type: 'string', valueName: 'BYTES', description: 'Longest title or plot accepted, bytes of UTF-8 (413 past it)', defaultText: '20000' },
    'max-queue': { type: 'string', valueName: 'N', description: 'Posters waiting before requests get 503', defaultText: '256' },
    'max-batch': { type: 'string', valueName: 'N', description: 'Posters per backbone run', defaultText: '32' },
    'batch-wait': { type: 'string', valueName: 'MS', description: 'How long an idle queue waits to fill a batch', defaultText: '4' },
    timeout: { type: 'string', valueName: 'MS', description: 'Time limit for a request\'s prediction (504 past it)', defaultText: '30000' },
    'request-timeout': { type: 'string', valueName: 'MS', description: 'Time allowed for a request\'s headers and body to arrive (408 past it)', defaultText: '60000' },
    log: { type: 'boolean', description: 'Log every request as JSON lines on stdout' },
    ...decodeOptions,
    ...backboneOptions,
  },
  examples: [
    'posterscope serve',
    'posterscope serve --model my-model --port 8080',
    'curl -F image=@poster.jpg -F "title=Alien (1979)" http://127.0.0.1:7860/v1/predict',
  ],
  async run(context) {
    const host = stringOption(context, 'host') ?? '127.0.0.1';
    const port = integerOption(context, 'port', 7860, 0, 65535);
    const maxUpload = integerOption(context, 'max-upload', 10, 1, 1024);
    if (!/^[\w.:-]+$/.test(host)) throw invalidParameterError('--host', 'a host name or address', host);
    // Uploads are not kept: no embedding cache (see the queue) and no text-box cache.
    const model = await loadModel(stringOption(context, 'model'), { ...backboneLoadOptions(context, progressOf(context)), cacheBoxes: false });
    const app = await createServer({
      model,
      maxBytes: maxUpload * 1024 * 1024,
      maxFiles: integerOption(context, 'max-files', 64, 1, 10_000),
      maxTextBytes: integerOption(context, 'max-text', 20_000, 1, 1_000_000),
      requestTimeoutMs: integerOption(context, 'request-timeout', 60_000, 100, 3_600_000),
      maxPasses: integerOption(context, 'max-passes', 1024, 1, 1_000_000),
      maxPending: integerOption(context, 'max-queue', 256, 1, 1_000_000),
      maxBatch: integerOption(context, 'max-batch', 32, 1, 1024),
      maxWaitMs: integerOption(context, 'batch-wait', 4, 0, 10_000),
      timeoutMs: integerOption(context, 'timeout', 30_000, 100, 3_600_000),
      logger: context.values.log === true,
      decode: decodeOptionsOf(context),
    });
    try {
      await app.listen({ host, port });
    } catch (error) {
      await model.release();
      throw new PosterscopeError('INVALID_ARGUMENT', `cannot listen on ${host}:${port}: ${(error as Error).message}`, { subject: '--port', cause: error });
    }
    const address = app.server.address();
    const url = typeof address === 'object' && address ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : String(address);
    context.stderr.write(`posterscope serving ${model.path} on ${url}/ (API: ${url}/openapi.json); Ctrl-C to stop\n`);
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        context.stderr.write(`${signal}: finishing requests in flight...\n`);
        resolve();
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
    await app.close();
    await model.release();
    context.stderr.write('stopped\n');
    return EXIT.ok;
  },
};

export default command;
