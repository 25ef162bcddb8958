import { refuseOutputOverInput } from '../../data/files.js';
import { join } from 'node:path';
import { fetchPosters, writeFetchFailures } from '../../data/fetch.js';
import { excerpt, invalidParameterError } from '../../errors.js';
import { type CommandDefinition, EXIT, reportError, usageError } from '../command.js';
import { columnOption, integerOption, progressOf, progressOptions, stringOption } from '../shared-options.js';

const SHOWN_FAILURES = 10;

const command: CommandDefinition = {
  name: 'fetch',
  summary: 'Download the posters a CSV lists by URL: resumable, each body checked to be an image, failures reported.',
  usage: 'posterscope fetch --data FILE --url-column COL --out DIR [options]',
  details: [
    'Each poster is saved as <id><ext> (.jpg, .png, .webp... from its bytes) once it decodes:',
    'HTML error pages and truncated bodies are refused. Transient failures (connection errors,',
    'timeouts, HTTP 5xx / 429 / 408) are retried with exponential backoff, waiting at least the',
    'server\'s Retry-After; 404, 403 and redirects from https to http are not.',
    'A re-run skips every poster already there that decodes, so it only fetches what is missing.',
    'Every failed row, with its reason, goes to the --report file. Exit code 1 if any row failed.',
  ].join('\n'),
  options: {
    data: { type: 'string', valueName: 'FILE', description: 'CSV (with a header) or JSON Lines listing the posters' },
    'url-column': { type: 'string', valueName: 'NAME|INDEX', description: 'Column holding the poster URL' },
    'id-column': { type: 'string', valueName: 'NAME|INDEX', description: 'Column naming each file <id><ext>', defaultText: 'the row number' },
    out: { type: 'string', short: 'o', valueName: 'DIR', description: 'Folder the posters are written to (created if needed)' },
    concurrency: { type: 'string', valueName: 'N', description: 'Downloads at once', defaultText: '4' },
    timeout: { type: 'string', valueName: 'MS', description: 'Time allowed for one request, redirects and body included', defaultText: '15000' },
    retries: { type: 'string', valueName: 'N', description: 'Retries of a transient failure', defaultText: '3' },
    report: { type: 'string', valueName: 'FILE', description: 'Failures report, CSV or JSON by extension', defaultText: '<out>/fetch-failures.csv' },
    json: { type: 'boolean', description: 'Print the summary as JSON on stdout' },
    ...progressOptions,
  },
  examples: [
    'posterscope fetch --data MovieGenre.csv --url-column Poster --id-column imdbId --out posters/',
    'posterscope fetch --data movies.jsonl --url-column poster_url --id-column id --out posters/ --concurrency 8 --report failures.json',
  ],
  async run(context) {
    const data = stringOption(context, 'data');
    const urlColumn = columnOption(context, 'url-column');
    const out = stringOption(context, 'out');
    if (!data || urlColumn === undefined || urlColumn === '' || !out) throw usageError('fetch needs --data FILE, --url-column COL and --out DIR (see `posterscope fetch --help`)');
    const idColumn = columnOption(context, 'id-column');
    const reportPath = stringOption(context, 'report') ?? join(out, 'fetch-failures.csv');
    if (!/\.(csv|json)$/i.test(reportPath)) throw invalidParameterError('--report', 'a .csv or .json file', reportPath);
    await refuseOutputOverInput([data], [{ option: '--report', path: reportPath, kind: 'file' }]);
    const report = await fetchPosters({
      data,
      urlColumn,
      ...(idColumn !== undefined ? { idColumn } : {}),
      out,
      concurrency: integerOption(context, 'concurrency', 4, 1, 256),
      timeoutMs: integerOption(context, 'timeout', 15_000, 1, 3_600_000),
      retries: integerOption(context, 'retries', 3, 0, 100),
      progress: progressOf(context),
    });
    // Written even when empty, so a stale report never outlives a clean run.
    await writeFetchFailures(reportPath, report.failures);
    for (const f of report.failures.slice(0, SHOWN_FAILURES)) reportError(context, `line ${f.line} (${excerpt(f.id)}): ${excerpt(f.url, 200)}: ${f.reason}`);
    if (report.failed > SHOWN_FAILURES) reportError(context, `… and ${report.failed - SHOWN_FAILURES} more in ${reportPath}`);
    const { failures: _failures, ...summary } = report;
    if (context.values.json === true) context.stdout.write(`${JSON.stringify({ ...summary, report: reportPath }, null, 2)}\n`);
    else {
      context.stdout.write(
        `${report.rows} rows: ${report.downloaded} downloaded (${(report.bytes / 1048576).toFixed(1)} MiB), ${report.skipped} already there, ` +
          `${report.failed} failed in ${report.seconds.toFixed(1)} s\nfailures: ${reportPath}\n`,
      );
    }
    return report.failed > 0 ? EXIT.failed : EXIT.ok;
  },
};

export default command;
