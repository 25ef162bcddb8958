import assert from 'node:assert/strict';
import { PosterscopeError } from '../../src/errors.js';

/**
 * An `assert.throws` / `assert.rejects` validator: a PosterscopeError with
 * this code (and subject and message, when given; a string message must
 * match exactly).
 *
 * @example
 *   await assert.rejects(readDataset({ data: 'nope.csv', images: [] }), isError('DATA_INVALID'));
 *   assert.throws(() => inpaint(pixels, 4, 3, 3, mask, 0), isError('INVALID_ARGUMENT', 'radius', /between 1 and 50/));
 */
export function isError(code: string, subject?: string, message?: string | RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof PosterscopeError, String(error));
    assert.equal(error.code, code, error.message);
    if (subject !== undefined) assert.equal(error.subject, subject);
    if (typeof message === 'string') assert.equal(error.message, message);
    else if (message) assert.match(error.message, message);
    return true;
  };
}
