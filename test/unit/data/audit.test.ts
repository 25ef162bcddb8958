import assert from 'node:assert/strict';
import { copyFile, mkdir } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { type AuditReport, auditDataset, failedConditions, formatAudit, readSplits } from '../../../src/data/audit.js';
import type { Progress } from '../../../src/progress.js';
import { type TempDir, makeTempDir } from '../../helpers/images.js';
import { scene } from '../../helpers/scenes.js';
import { isError } from '../../helpers/errors.js';

let dir: TempDir;
let images: string;
let csv: string;
let report: AuditReport;
const ticks: number[] = [];

// p1..p6 distinct; p7 = p1's bytes with other genres; p8 = p2 resized and re-encoded;
// p9 truncated; p10 tiny; p11 has no file; p3 is labelled twice, differently; stray.jpg has no row.
const ROWS = [
  ['p1', 'Action|Drama'],
  ['p2', 'Comedy'],
  ['p3', 'Drama'],
  ['p4', 'Action|Comedy'],
  ['p5', 'Drama|Western'],
  ['p6', 'Comedy|Drama'],
  ['p7', 'Horror'],
  ['p8', 'Comedy'],
  ['p9', 'Drama'],
  ['p10', 'Action'],
  ['p11', 'Drama'],
  ['p3', 'Comedy'],
];


before(async () => {
  dir = await makeTempDir('posterscope-audit-');
  images = dir.file('images');
  await mkdir(images);
  const jpegs = new Map<number, Buffer>();
  for (let i = 1; i <= 6; i++) {
    jpegs.set(i, await scene(i).jpeg({ quality: 90 }).toBuffer());
    await dir.write(`images/p${i}.jpg`, jpegs.get(i)!);
  }
  await dir.write('images/p7.jpg', jpegs.get(1)!);
  await dir.write('images/p8.jpg', await sharp(jpegs.get(2)!).resize({ width: 130 }).jpeg({ quality: 60 }).toBuffer());
  const big = await scene(9).jpeg().toBuffer();
  await dir.write('images/p9.jpg', big.subarray(0, big.length >> 1));
  await dir.write('images/p10.png', await scene(10, 40, 60).png().toBuffer());
  await dir.write('images/stray.jpg', await scene(12).jpeg().toBuffer());
  await dir.write('images/notes.txt', 'not an image, not counted');
  await mkdir(dir.file('clean'));
  for (const id of ['p1', 'p2', 'p4']) await copyFile(dir.file(`images/${id}.jpg`), dir.file(`clean/${id}.jpg`));
  csv = await dir.write('labels.csv', `id,genres\n${ROWS.map(([id, g]) => `${id},${g}`).join('\n')}\n`);
  const split = { p1: 'train', p2: 'train', p3: 'train', p4: 'validation', p5: 'test', p6: 'test', p7: 'test', p8: 'validation', p9: 'train', p10: 'train', ghost: 'train' };
  const splitFile = await dir.write('split.json', JSON.stringify(split));
  const progress: Progress = { start: (_label, total) => ticks.push(total ?? -1), tick: () => ticks.push(1), done: () => ticks.push(0) };
  report = await auditDataset({ data: csv, images: [images], splits: splitFile, rare: 2, progress });
});

after(() => dir.remove());

describe('auditDataset', () => {
  it('counts rows, decodes each distinct file once, with progress', () => {
    assert.equal(report.rows, 12);
    assert.equal(report.checked, 10); // p1-p8, p10 and stray.jpg (p9 is truncated, p11 has no file, p3 counted once)
    assert.deepEqual([ticks[0], ticks.filter((t) => t === 1).length, ticks.at(-1)], [11, 11, 0]);
    assert.deepEqual(report.settings, { nearDistance: 4, minSide: 64, rare: 2 });
  });

  it('finds unreadable images, rows without images and images without rows', () => {
    assert.deepEqual(report.unreadable.map((u) => [u.id, u.code]), [['p9', 'IMAGE_CORRUPT']]);
    assert.match(report.unreadable[0]!.reason, /^JPEG data is truncated or corrupt/);
    assert.deepEqual(report.missing, [{ id: 'p11', line: 12 }]);
    assert.deepEqual(report.unlabelled, [dir.file('images/stray.jpg')]);
  });

  it('finds duplicate ids and identical images, flagging conflicting genres', () => {
    assert.deepEqual(report.duplicateIds, [{ id: 'p3', lines: [4, 13], conflicting: true }]);
    assert.equal(report.identical.length, 1);
    assert.deepEqual(report.identical[0]!.ids, ['p1', 'p7']);
    assert.equal(report.identical[0]!.conflicting, true);
  });

  it('finds the resized, re-encoded copy as a near-duplicate, and nothing else', () => {
    assert.equal(report.nearDuplicates.length, 1);
    const [pair] = report.nearDuplicates;
    assert.deepEqual(pair!.ids, ['p2', 'p8']);
    assert.ok(pair!.distance <= 4);
    assert.equal(pair!.conflicting, false);
  });

  it('finds tiny images, rare genres and co-occurrence with lift', () => {
    assert.deepEqual(report.tiny.map((t) => [t.id, t.width, t.height]), [['p10', 40, 60]]);
    assert.deepEqual(report.rare, [{ genre: 'Horror', count: 1 }, { genre: 'Western', count: 1 }]);
    assert.deepEqual(report.genres[0], { genre: 'Drama', count: 6 });
    const comedyDrama = report.cooccurrence.find((p) => p.genres.join() === 'Comedy,Drama');
    // 1 of 12 rows; Comedy on 5, Drama on 6: lift = 1 * 12 / (5 * 6)
    assert.deepEqual(comedyDrama, { genres: ['Comedy', 'Drama'], count: 1, lift: 0.4 });
    assert.equal(report.cooccurrence[0]!.count, 1);
  });

  it('finds leakage across splits: identical images and near-duplicates in different splits', () => {
    assert.deepEqual(
      report.leakage.map((l) => [l.kind, l.ids.join('+'), [...l.splits].sort().join('+')]),
      [
        ['identical', 'p1+p7', 'test+train'],
        ['near-duplicate', 'p2+p8', 'train+validation'],
      ],
    );
    assert.deepEqual(report.splits, {
      source: dir.file('split.json'),
      sizes: { train: 6, validation: 2, test: 3 },
      unassigned: 1, // p11
      unknown: 1, // ghost
      changed: 0,
    });
  });

  it('counts findings per condition; failedConditions picks the ones asked for', () => {
    assert.deepEqual(report.findings, {
      malformed: 0,
      unreadable: 1,
      missing: 1,
      unlabelled: 1,
      duplicates: 2,
      conflicts: 2,
      'near-duplicates': 1,
      leakage: 2,
      tiny: 1,
      rare: 2,
    });
    assert.deepEqual(failedConditions(report, ['malformed', 'leakage', 'tiny']), ['leakage', 'tiny']);
    assert.deepEqual(failedConditions(report, []), []);
    assert.throws(() => failedConditions(report, ['nope' as 'tiny']), isError('INVALID_ARGUMENT', 'failOn'));
  });

  it('formats a summary with a line per check and examples', () => {
    const text = formatAudit(report);
    assert.match(text, /labels\.csv: 12 rows \(genre lists\), 10 posters decoded in/);
    for (const line of [
      'ok  malformed rows: 0',
      '!!  unreadable images: 1',
      '!!  rows without an image: 1',
      '      p11 (line 12)',
      '!!  duplicate ids and identical images: 2',
      '      id p3 on lines 4, 13 (conflicting genres)',
      '!!  near-duplicate images (hash distance ≤ 4): 1',
      '!!  tiny images (shorter side < 64 px): 1',
      '!!  leakage across splits',
      '      identical: p1, p7 in train and test',
      '      note: 1 data ids in no split; 1 split ids not in the data',
      '!!  rare genres (< 2 posters): 2',
      '      Horror 1, Western 1',
      'genres (5, most frequent first): Drama 6, Comedy 5, Action 3, Horror 1, Western 1',
    ]) {
      assert.ok(text.includes(line), `missing "${line}" in:\n${text}`);
    }
  });

  it('a clean data set has no findings; without --splits leakage is not checked', async () => {
    const clean = await dir.write('clean.csv', 'id,genres\np1,Action\np2,Comedy\np4,Action|Comedy\n');
    const r = await auditDataset({ data: clean, images: [dir.file('clean')], rare: 0, minSide: 0 });
    assert.equal(r.splits, null);
    assert.deepEqual(failedConditions(r, ['malformed', 'unreadable', 'missing', 'duplicates', 'near-duplicates', 'leakage', 'tiny', 'rare']), []);
    assert.match(formatAudit(r), /--  leakage across splits: not checked/);
  });

  it('an id in two splits is leakage; a changed poster is noted', async () => {
    const hash = report.identical[0]!.hash;
    const members = [
      { id: 'p1', split: 'train', hash },
      { id: 'p2', split: 'train', hash }, // p2's bytes differ from the recorded hash
      { id: 'p2', split: 'test' },
    ];
    const two = await dir.write('two.csv', 'id,genres\np1,Action\np2,Comedy\n');
    const r = await auditDataset({ data: two, images: [dir.file('clean')], splits: members });
    assert.deepEqual(r.leakage, [{ kind: 'id', ids: ['p2'], splits: ['train', 'test'] }]);
    assert.equal(r.splits!.changed, 1);
  });

  it('BAD CALL - options out of range or of the wrong type', async () => {
    await assert.rejects(auditDataset({ data: csv, images: [images], nearDistance: 65 }), isError('INVALID_ARGUMENT', 'nearDistance'));
    await assert.rejects(auditDataset({ data: csv, images: [images], rare: -1 }), isError('INVALID_ARGUMENT', 'rare'));
    await assert.rejects(auditDataset({ data: csv, images: [images], splits: 5 as unknown as string }), isError('INVALID_ARGUMENT', 'splits'));
    await assert.rejects(auditDataset({ data: csv, images: [images], idColumn: 'nope' }), isError('INVALID_ARGUMENT', 'idColumn'));
    await assert.rejects(auditDataset({ data: dir.file('none.csv'), images: [images] }), isError('DATA_INVALID'));
    await assert.rejects(auditDataset({ data: csv, images: [images], splits: dir.file('none.json') }), isError('DATA_INVALID'));
  });
});

describe('readSplits', () => {
  it("reads a bundle's split.json (lists of { id, hash }; other keys ignored) and its folder", async () => {
    await mkdir(dir.file('bundle'));
    const path = await dir.write(
      'bundle/split.json',
      JSON.stringify({ seed: 0, fractions: [0.8, 0.1, 0.1], data: 'labels.csv', train: [{ id: 'a', hash: 'h1' }], validation: [{ id: 'b', hash: 'h2' }], test: [] }),
    );
    const expected = [
      { id: 'a', split: 'train', hash: 'h1' },
      { id: 'b', split: 'validation', hash: 'h2' },
    ];
    assert.deepEqual(await readSplits(path), expected);
    assert.deepEqual(await readSplits(dir.file('bundle')), expected);
  });

  it('reads { id: split }, lists of ids, and CSV with id and split columns', async () => {
    assert.deepEqual(await readSplits(await dir.write('m.json', '{"a": "train", "b": "test"}')), [
      { id: 'a', split: 'train' },
      { id: 'b', split: 'test' },
    ]);
    assert.deepEqual(await readSplits(await dir.write('l.json', '{"train": ["a"], "test": ["b"]}')), [
      { id: 'a', split: 'train' },
      { id: 'b', split: 'test' },
    ]);
    assert.deepEqual(await readSplits(await dir.write('s.csv', 'split,imdb_id\ntrain,a\ntest,b\n')), [
      { id: 'a', split: 'train' },
      { id: 'b', split: 'test' },
    ]);
  });

  it('BAD CALL - missing, unreadable or empty split files name the file', async () => {
    await assert.rejects(readSplits(dir.file('nope.json')), (e: unknown) => isError('DATA_INVALID')(e) && /nope\.json: no such file$/.test((e as Error).message));
    await assert.rejects(readSplits(await dir.write('bad.json', '{"train": [')), isError('DATA_INVALID'));
    await assert.rejects(readSplits(await dir.write('empty.json', '{"train": []}')), isError('DATA_INVALID'));
    await assert.rejects(readSplits(''), isError('INVALID_ARGUMENT', 'splits'));
  });
});
