#!/usr/bin/env node
/**
 * posterscope's command line: finds the command, parses its options from its
 * definition, runs it, and turns any failure into one line and an exit code.
 */
import { parseArgs } from 'node:util';
import { PosterscopeError } from '../errors.js';
import { COMMANDS } from './commands/index.js';
import { type CommandDefinition, EXIT, UsageError, formatHelp } from './command.js';

const VERSION = '0.1.0';

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length)) + 2;
  return [
    'posterscope: tell a movie\'s genres from its poster',
    '',
    'Usage: posterscope <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`),
    '',
    'Run `posterscope <command> --help` for a command\'s options and examples.',
    '',
  ].join('\n');
}

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${VERSION}\n`);
    return EXIT.ok;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    const names = Object.keys(COMMANDS);
    const best = names.map((n) => [n, editDistance(name, n)] as const).sort((a, b) => a[1] - b[1])[0];
    const hint = best && best[1] <= Math.max(2, Math.floor(name.length / 3)) ? ` Did you mean "${best[0]}"?` : '';
    throw new UsageError(`unknown command "${name}".${hint} Commands: ${names.join(', ')}`);
  }
  const command: CommandDefinition = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(formatHelp(command));
    return EXIT.ok;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: Object.fromEntries(
        Object.entries(command.options).map(([key, def]) => [
          key,
          { type: def.type, ...(def.short ? { short: def.short } : {}), ...(def.multiple ? { multiple: true } : {}) },
        ]),
      ),
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    const message = (error as Error).message.split('\n')[0]!.replace(/\. To specify a positional.*$/, '');
    throw new UsageError(`${message} (see \`posterscope ${command.name} --help\`)`);
  }
  return command.run({
    values: parsed.values as Record<string, string | boolean | string[] | undefined>,
    positionals: parsed.positionals,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
  });
}

try {
  process.exitCode = await run(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError) {
    process.stderr.write(`posterscope: ${error.message}\n`);
    process.exitCode = EXIT.usage;
  } else if (error instanceof PosterscopeError) {
    process.stderr.write(`posterscope: ${error.message}\n`);
    process.exitCode = error.code === 'INVALID_ARGUMENT' ? EXIT.usage : EXIT.failed;
  } else {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`posterscope: unexpected error: ${message.split('\n')[0]}\n`);
    if (process.env.POSTERSCOPE_DEBUG) process.stderr.write(`${(error as Error)?.stack ?? ''}\n`);
    process.exitCode = EXIT.failed;
  }
}
