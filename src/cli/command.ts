/**
 * What a CLI command is: its options as data (so help and parsing come from
 * one place) and a `run` that returns the exit code.
 */
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

/** Exit codes: 0 success, 1 some input or step failed, 2 the command line was wrong. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** An error in how the command was called (exit code 2). */
export class UsageError extends Error {
  override name = 'UsageError';
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
