/**
 * The real posters audited with the shipped model's split: every row has a
 * readable poster, and no poster (by id, bytes or perceptual hash) sits in two
 * of the default model's splits.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { auditDataset, formatAudit } from '../../src/data/audit.js';
import { ROOT } from '../helpers/cli.js';
import { POSTERS, SHARED, skipWithoutShared } from '../helpers/shared.js';

test('labels.csv + models/default/split.json: 5,988 readable posters, no leakage', { skip: skipWithoutShared }, async () => {
  const report = await auditDataset({
    data: join(SHARED, 'data', 'posters', 'labels.csv'),
    images: [POSTERS],
    splits: join(ROOT, 'models', 'default', 'split.json'),
  });
  assert.equal(report.rows, 5988);
  assert.equal(report.checked, 5988);
  assert.equal(report.genres.length, 25);
  assert.equal(report.genres[0]!.genre, 'Drama');
  const { findings, splits } = report;
  assert.deepEqual([findings.malformed, findings.unreadable, findings.missing, findings.unlabelled], [0, 0, 0, 0]);
  assert.equal(findings.leakage, 0);
  assert.deepEqual(report.leakage, []);
  // The split covers the data exactly and was made from these very files.
  assert.deepEqual(splits, { source: join(ROOT, 'models', 'default', 'split.json'), sizes: { train: 4787, validation: 592, test: 609 }, unassigned: 0, unknown: 0, changed: 0 });
  // Consistent counts: identical groups and near pairs are what the findings say.
  assert.equal(findings.duplicates, report.duplicateIds.length + report.identical.length);
  assert.equal(findings['near-duplicates'], report.nearDuplicates.length);
  assert.ok(report.rare.some((g) => g.genre === 'Reality-TV' && g.count === 1));
  const pairs = report.cooccurrence.reduce((n, p) => n + p.count, 0);
  assert.ok(pairs > 0 && report.cooccurrence[0]!.count <= 2998);
  assert.match(formatAudit(report), /labels\.csv: 5,988 rows \(one-hot genre columns\), 5,988 posters decoded in/);
});
