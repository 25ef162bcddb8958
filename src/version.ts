/**
 * posterscope's version, read once from its own package.json (one level above
 * both src/ and dist/), so `posterscope --version`, the server's /v1/model and
 * its OpenAPI document can never disagree with the published package.
 *
 * @example
 *   VERSION // -> '0.1.0'
 */
import { readFileSync } from 'node:fs';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
