/**
 * Text from outside (file names, CSV fields, request values) made safe to
 * print for a human: control characters, which would break a line, move the
 * cursor or recolour a terminal, and the invisible bidirectional overrides
 * that reorder what is shown, are written as escapes. Used by every
 * human-readable formatter and error message; JSON output never needs it.
 *
 * @example
 *   printable('evil\n\x1b[31mred.jpg') // -> 'evil\\n\\x1b[31mred.jpg'
 */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, escape);
}

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escape(character: string): string {
  const named = NAMED[character];
  if (named) return named;
  const code = character.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}
