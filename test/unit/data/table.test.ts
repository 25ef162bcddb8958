import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { COLUMN_NAMES, cellText, findColumn, parseTable, readTable, resolveColumn, toCsv } from '../../../src/data/table.js';
import { isError } from '../../helpers/errors.js';
import { type TempDir, makeTempDir } from '../../helpers/images.js';

let dir: TempDir;
before(async () => {
  dir = await makeTempDir('posterscope-table-');
});
after(() => dir.remove());

describe('parseTable (CSV)', () => {
  it('keeps the line each row starts on: quoted newlines, blank lines, a BOM, mixed line endings', () => {
    const text = '\uFEFFid,title,genre\r\ntt1,"Alien,\nthe first",Horror\r\n\r\ntt2,Heat,Crime\ntt3,"Say ""hi""",Drama\rtt4,x"y,War\n';
    const table = parseTable(text, 'a.csv', 'csv');
    assert.deepEqual(table.columns, ['id', 'title', 'genre']);
    assert.deepEqual(
      table.rows.map((r) => [r.line, r.number, ...r.cells]),
      [
        [2, 1, 'tt1', 'Alien,\nthe first', 'Horror'],
        [5, 2, 'tt2', 'Heat', 'Crime'],
        [6, 3, 'tt3', 'Say "hi"', 'Drama'],
        [7, 4, 'tt4', 'x"y', 'War'],
      ],
    );
    assert.deepEqual(table.malformed, []);
  });

  it('reports rows of the wrong width and a quote never closed, with their lines', () => {
    const table = parseTable('id,genre\ntt1,Drama\ntt2,Drama,extra\ntt3\ntt4,"Drama\ntt5,War\n', 'b.csv', 'csv');
    assert.deepEqual(table.rows.map((r) => r.cells[0]), ['tt1']);
    assert.deepEqual(table.malformed.slice(0, 2), [
      { line: 3, number: 2, reason: 'has 3 fields, expected 2' },
      { line: 4, number: 3, reason: 'has 1 fields, expected 2' },
    ]);
    assert.equal(table.malformed[2]!.line, 5);
    assert.match(table.malformed[2]!.reason, /^cannot read the row: Quote Not Closed/);
  });

  it('BAD DATA - two columns of the same name are an error naming them, not a silent merge', () => {
    assert.throws(
      () => parseTable('Id,Drama,Action,Drama\ntt1,1,0,0\n', 'dup.csv', 'csv'),
      isError('DATA_INVALID', 'dup.csv', 'dup.csv: columns 1 and 3 are both named "Drama": rename one'),
    );
  });

  it('BAD DATA - empty and header-only files', () => {
    assert.throws(() => parseTable('  \n', 'e.csv', 'csv'), isError('DATA_INVALID', 'e.csv', 'e.csv: the file is empty'));
    assert.throws(() => parseTable('id,genre\n', 'h.csv', 'csv'), isError('DATA_INVALID', 'h.csv', 'h.csv: has a header but no rows'));
  });
});

describe('parseTable (JSON Lines)', () => {
  it('makes a column of every key seen; bad lines are reported', () => {
    const table = parseTable('{"id": "tt1", "genres": ["Drama"]}\n\n{"image": "b.jpg", "id": 7}\n[1]\n{oops\n', 'a.jsonl', 'jsonl');
    assert.deepEqual(table.columns, ['id', 'genres', 'image']);
    assert.deepEqual(table.rows.map((r) => [r.line, r.number, cellText(r, 0), cellText(r, 2)]), [
      [1, 1, 'tt1', ''],
      [3, 2, '7', 'b.jpg'],
    ]);
    assert.equal(cellText(table.rows[0]!, 1), undefined, 'a list is not text');
    assert.deepEqual(table.malformed.map((m) => [m.line, m.number]), [[4, 3], [5, 4]]);
    assert.equal(table.malformed[0]!.reason, 'not a JSON object');
    assert.match(table.malformed[1]!.reason, /^not valid JSON \(/);
  });
});

describe('columns', () => {
  const csv = parseTable('title,imdbId,Genre\nAlien,tt1,Horror\n', 'm.csv', 'csv');
  const jsonl = parseTable('{"imdbId": "tt1", "Genre": "Horror"}\n', 'm.jsonl', 'jsonl');

  it('resolves a column by exact name, any case, index or digits', () => {
    assert.equal(resolveColumn(csv, 'idColumn', 'imdbId'), 1);
    assert.equal(resolveColumn(csv, 'idColumn', ' IMDBID '), 1);
    assert.equal(resolveColumn(csv, 'idColumn', 2), 2);
    assert.equal(resolveColumn(csv, 'idColumn', '0'), 0);
    assert.equal(resolveColumn(jsonl, 'idColumn', 'imdbid'), 0);
  });

  it('finds a column by its usual names, in any case, skipping the excepted ones', () => {
    assert.equal(findColumn(csv, COLUMN_NAMES.id), 1);
    assert.equal(findColumn(csv, COLUMN_NAMES.genres), 2);
    assert.equal(findColumn(csv, COLUMN_NAMES.genres, [2]), -1);
    assert.equal(findColumn(csv, COLUMN_NAMES.path), -1);
  });

  it('BAD CALL - an unknown name or index lists the columns, with the option named', () => {
    assert.throws(
      () => resolveColumn(csv, 'urlColumn', 'url'),
      isError('INVALID_ARGUMENT', 'urlColumn', 'Expected one of the columns title, imdbId, Genre (or an index 0-2) for urlColumn but received string "url"'),
    );
    assert.throws(() => resolveColumn(csv, 'idColumn', 3), isError('INVALID_ARGUMENT', 'idColumn', /received number 3$/));
    assert.throws(() => resolveColumn(jsonl, 'idColumn', 0), isError('INVALID_ARGUMENT', 'idColumn', /a key name for a JSON Lines file/));
    assert.throws(() => resolveColumn(jsonl, 'idColumn', 'id'), isError('INVALID_ARGUMENT', 'idColumn', /Expected a key of m\.jsonl \(imdbId, Genre\)/));
  });
});

describe('readTable and toCsv', () => {
  it('reads by extension and names the file in errors', async () => {
    const file = await dir.write('list.ndjson', '{"a": 1}\n');
    assert.equal((await readTable(file)).format, 'jsonl');
    await assert.rejects(readTable(dir.file('none.csv')), isError('DATA_INVALID', dir.file('none.csv'), /none\.csv: no such file$/));
    await assert.rejects(readTable(dir.path), isError('DATA_INVALID', dir.path, /is a directory/));
  });

  it('writes RFC 4180 CSV that reads back the same', () => {
    const records = [['line', 'id', 'reason'], [3, 'a,b', 'said "no"\nthen left'], [4, '', 'ok']];
    const text = toCsv(records);
    assert.equal(text, 'line,id,reason\n3,"a,b","said ""no""\nthen left"\n4,,ok\n');
    assert.deepEqual(parseTable(text, 'x.csv', 'csv').rows.map((r) => r.cells), [['3', 'a,b', 'said "no"\nthen left'], ['4', '', 'ok']]);
  });
});
