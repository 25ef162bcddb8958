import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ERROR_CODES,
  EXIT,
  type ErrorCode,
  type ErrorOutcome,
  PosterscopeError,
  checkInteger,
  checkOneOf,
  closestMatch,
  invalidParameterError,
} from '../../src/errors.js';
import { isError } from '../helpers/errors.js';

describe('ERROR_CODES', () => {
  it('gives every code an exit code and an HTTP status', () => {
    for (const [code, outcome] of Object.entries(ERROR_CODES)) {
      assert.ok(([EXIT.failed, EXIT.usage] as number[]).includes(outcome.exit), code);
      assert.ok(outcome.http >= 400 && outcome.http < 600, code);
    }
  });

  it('maps what the caller got wrong to exit 2 / 4xx and server-side faults to 5xx', () => {
    const pairs = Object.fromEntries(Object.entries(ERROR_CODES).map(([code, o]) => [code, [o.exit, o.http]]));
    assert.deepEqual(pairs.USAGE, [2, 400]);
    assert.deepEqual(pairs.INVALID_ARGUMENT, [2, 400]);
    assert.deepEqual(pairs.TOO_MANY_FILES, [1, 413]);
    assert.deepEqual(pairs.IMAGE_UNSUPPORTED, [1, 415]);
    assert.deepEqual(pairs.IMAGE_CORRUPT, [1, 422]);
    assert.deepEqual(pairs.MODEL_NOT_FOUND, [1, 500]);
    assert.deepEqual(pairs.SERVER_BUSY, [1, 503]);
    assert.deepEqual(pairs.TIMEOUT, [1, 504]);
  });

  it('is checked by the compiler: a table without a code, or with an unknown one, does not type-check', () => {
    // @ts-expect-error TIMEOUT (and others) have no outcome
    const missing = { USAGE: { exit: 2, http: 400 } } satisfies Record<ErrorCode, ErrorOutcome>;
    // @ts-expect-error a PosterscopeError cannot carry a code outside the union
    const unknown = new PosterscopeError('TOO_LARGE_ISH', 'x');
    assert.ok(missing && unknown);
  });
});

describe('invalidParameterError: "Expected X for Y but received Z"', () => {
  const message = (actual: unknown, suggestion?: string) => invalidParameterError('--format', 'one of json, csv', actual, suggestion).message;

  it('describes what was received', () => {
    assert.equal(message('xml'), 'Expected one of json, csv for --format but received string "xml"');
    assert.equal(message(3), 'Expected one of json, csv for --format but received number 3');
    assert.equal(message(undefined), 'Expected one of json, csv for --format but received nothing');
    assert.equal(message(null), 'Expected one of json, csv for --format but received null');
    assert.equal(message([1, 2]), 'Expected one of json, csv for --format but received array of length 2');
    assert.equal(message(new Float32Array(3)), 'Expected one of json, csv for --format but received Float32Array of length 3');
    assert.equal(message({}), 'Expected one of json, csv for --format but received object');
    assert.equal(message('jsn', 'json'), 'Expected one of json, csv for --format but received string "jsn"; did you mean "json"?');
  });

  it('BAD CALL - a 50 MB value is cut to 80 characters and its length given', () => {
    const huge = 'a'.repeat(50 * 1024 * 1024);
    assert.equal(message(huge), `Expected one of json, csv for --format but received string "${'a'.repeat(80)}… (52,428,800 characters)"`);
  });

  it('BAD CALL - control characters in a value are escaped: the message stays one line', () => {
    assert.equal(message('x\n\u001b[2Jy'), 'Expected one of json, csv for --format but received string "x\\n\\x1b[2Jy"');
  });

  it('is an INVALID_ARGUMENT naming the parameter', () => {
    assert.throws(() => checkInteger('batchSize', 0, 1, 256), isError('INVALID_ARGUMENT', 'batchSize', 'Expected integer between 1 and 256 for batchSize but received number 0'));
  });
});

describe('checkOneOf and closestMatch', () => {
  it('returns an allowed value as it is', () => {
    assert.equal(checkOneOf('--split', ['test', 'validation', 'all'], 'all'), 'all');
  });

  it('BAD CALL - lists the allowed values and suggests the closest', () => {
    assert.throws(
      () => checkOneOf('--split', ['test', 'validation', 'all'], 'tset'),
      isError('INVALID_ARGUMENT', '--split', 'Expected one of test, validation, all for --split but received string "tset"; did you mean "test"?'),
    );
    assert.throws(
      () => checkOneOf('--split', ['test', 'validation', 'all'], 'zzzzzz'),
      isError('INVALID_ARGUMENT', '--split', 'Expected one of test, validation, all for --split but received string "zzzzzz"'),
    );
    assert.throws(() => checkOneOf('--split', ['test'], 7), isError('INVALID_ARGUMENT', '--split', 'Expected one of test for --split but received number 7'));
  });

  it('suggests only a close candidate', () => {
    assert.equal(closestMatch('embdd', ['predict', 'embed', 'train']), 'embed');
    assert.equal(closestMatch('--batchsize', ['--batch-size', '--backbone']), '--batch-size');
    assert.equal(closestMatch('JSON', ['json', 'csv']), 'json');
    assert.equal(closestMatch('zzz', ['predict', 'embed']), undefined);
    assert.equal(closestMatch('ab', ['cd']), undefined);
  });
});
