import assert from 'node:assert/strict';
import { PosterscopeError } from '../../src/errors.js';

/**
 * An `assert.throws` / `assert.rejects` validator: a PosterscopeError with
 * this code (and subject, when given).
 *
 * @example
 *   await assert.rejects(readDataset({ data: 'nope.csv', images: [] }), isError('DATA_INVALID'));
 */
export function isError(code: string, subject?: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof PosterscopeError, String(error));
    assert.equal(error.code, code, error.message);
    if (subject !== undefined) assert.equal(error.subject, subject);
    return true;
  };
}
