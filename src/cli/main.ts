#!/usr/bin/env node
/**
 * posterscope's command line: finds the command, parses its options from its
 * definition, runs it, and turns any failure into one line and an exit code.
 */
import { parseArgs } from 'node:util';
import { ERROR_CODES, EXIT, PosterscopeError, closestMatch } from '../errors.js';
import { printable } from '../printable.js';
import { VERSION } from '../version.js';
import { COMMANDS } from './commands/index.js';
import { type CommandDefinition, formatHelp, usageError } from './command.js';

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
    const best = closestMatch(name, names);
    throw usageError(`unknown command "${name}".${best ? ` Did you mean "${best}"?` : ''} Commands: ${names.join(', ')}`);
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
    const unknown = /^Unknown option '(-[^']*)'/.exec(message)?.[1];
    const flags = Object.entries(command.options).flatMap(([key, def]) => [`--${key}`, ...(def.short ? [`-${def.short}`] : [])]);
    const best = unknown === undefined ? undefined : closestMatch(unknown.split('=')[0]!, [...flags, '--help']);
    throw usageError(`${message}.${best ? ` Did you mean "${best}"?` : ''} See \`posterscope ${command.name} --help\``);
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
  // One line, escaped (messages quote file names and values), and the exit code of its error code.
  if (error instanceof PosterscopeError) {
    process.stderr.write(`posterscope: ${printable(error.message.split('\n')[0]!)}\n`);
    process.exitCode = ERROR_CODES[error.code].exit;
  } else {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`posterscope: unexpected error: ${printable(message.split('\n')[0]!)}\n`);
    if (process.env.POSTERSCOPE_DEBUG) process.stderr.write(`${(error as Error)?.stack ?? ''}\n`);
    process.exitCode = EXIT.failed;
  }
}
