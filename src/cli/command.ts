/**
 * What a CLI command is: its options as data (so help and parsing come from
 * one place) and a `run` that returns the exit code.
 */
import { PosterscopeError } from '../errors.js';
import { printable } from '../printable.js';
export interface OptionDefinition {
  type: 'string' | 'boolean';
  description: string;
  short?: string;
  multiple?: boolean;
  /** Shown in help, e.g. `FILE`. */
  valueName?: string;
  /** Shown in help as the default. */
  defaultText?: string;
}

export interface CommandContext {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

export interface CommandDefinition {
  name: string;
  summary: string;
  usage: string;
  /** Longer explanation printed under the usage line. */
  details?: string;
  options: Record<string, OptionDefinition>;
  examples: string[];
  run(context: CommandContext): Promise<number>;
}

export { EXIT } from '../errors.js';

/**
 * An error in how the command was called: a PosterscopeError USAGE (exit code
 * 2, like every code in ERROR_CODES with `exit: EXIT.usage`).
 *
 * @example
 *   throw usageError('train needs --data FILE (see `posterscope train --help`)');
 */
export function usageError(message: string): PosterscopeError {
  return new PosterscopeError('USAGE', message);
}

/**
 * One failed input as one line on stderr, whatever its message holds (file
 * names can carry newlines and terminal escapes).
 *
 * @example
 *   reportError(context, 'evil\nname.jpg: no such file') // stderr: error: evil\nname.jpg: no such file
 */
export function reportError(context: Pick<CommandContext, 'stderr'>, message: string): void {
  context.stderr.write(`error: ${printable(message)}\n`);
}

export function formatHelp(command: CommandDefinition): string {
  const lines = [`Usage: ${command.usage}`, '', command.summary];
  if (command.details) lines.push('', command.details);
  lines.push('', 'Options:');
  const rows = Object.entries(command.options).map(([name, def]) => {
    const flag = `${def.short ? `-${def.short}, ` : '    '}--${name}${def.type === 'string' ? ` ${def.valueName ?? 'VALUE'}` : ''}`;
    const text = `${def.description}${def.defaultText ? ` (default: ${def.defaultText})` : ''}`;
    return [flag, text] as const;
  });
  rows.push(['-h, --help', 'Show this help']);
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  for (const [flag, text] of rows) lines.push(`  ${flag.padEnd(width)}${text}`);
  if (command.examples.length > 0) {
    lines.push('', 'Examples:');
    for (const example of command.examples) lines.push(`  ${example}`);
  }
  return `${lines.join('\n')}\n`;
}
