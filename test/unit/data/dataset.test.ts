import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { formatDatasetReport, parseGenreList, readDataset, readPosterList } from '../../../src/data/dataset.js';
import { PosterscopeError } from '../../../src/errors.js';
import { type TempDir, makeTempDir, touchFiles } from '../../helpers/images.js';

let dir: TempDir;
let posters: string;

before(async () => {
  dir = await makeTempDir('posterscope-dataset-');
  posters = dir.file('posters');
  await touchFiles(posters, 'tt1.jpg', 'tt2.jpg', 'tt3.png', 'tt4.jpg');
});

after(() => dir.remove());

const isDataError = (pattern: RegExp) => (error: unknown) =>
  error instanceof PosterscopeError && error.code === 'DATA_INVALID' && pattern.test(error.message);
const isParameterError = (name: string, pattern: RegExp) => (error: unknown) =>
  error instanceof PosterscopeError && error.code === 'INVALID_ARGUMENT' && error.subject === name && pattern.test(error.message);

test('one-hot columns: genre names from the headers, a list column beside them ignored', async () => {
  const data = await dir.write(
    'onehot.csv',
    'Id,Genre,Action,Drama,N/A\n' + 'tt1,"[\'Action\', \'Drama\']",1,1,0\n' + "tt2,['Drama'],0,1,0\n" + "tt3,['N/A'],0,0,1\n",
  );
  const ds = await readDataset({ data, images: [posters] });
  assert.equal(ds.report.format, 'one-hot');
  assert.deepEqual(ds.genres, ['Action', 'Drama', 'N/A']);
  assert.deepEqual(ds.rows, [
    { line: 2, id: 'tt1', image: join(posters, 'tt1.jpg'), genres: ['Action', 'Drama'] },
    { line: 3, id: 'tt2', image: join(posters, 'tt2.jpg'), genres: ['Drama'] },
    { line: 4, id: 'tt3', image: join(posters, 'tt3.png'), genres: ['N/A'] },
  ]);
  assert.deepEqual(ds.report.genreCounts, [
    { genre: 'Drama', count: 2 },
    { genre: 'Action', count: 1 },
    { genre: 'N/A', count: 1 },
  ]);
  assert.deepEqual([...ds.labels()], [1, 1, 0, 0, 1, 0, 0, 0, 1]);
  assert.deepEqual([...ds.labels([ds.rows[2]!])], [0, 0, 1]);
});

test('list formats: Python, JSON, pipe, comma in quotes, semicolon', async () => {
  const data = await dir.write(
    'lists.csv',
    [
      'imdb_id,title,genres',
      `tt1,One,"['Action', ""Sci-Fi""]"`,
      `tt2,Two,"[""Drama"", ""Comedy""]"`,
      'tt3,Three,Action|Drama',
      'tt4,Four,"Action,Adventure, Sci-Fi"',
      'tt5,Five,Drama; Comedy',
      'tt6,Six,[]',
      'tt7,Seven,',
    ].join('\n'),
  );
  const ds = await readDataset({ data, images: [posters] });
  assert.equal(ds.report.format, 'list');
  assert.deepEqual(
    ds.rows.map((r) => [r.id, r.genres]),
    [
      ['tt1', ['Action', 'Sci-Fi']],
      ['tt2', ['Comedy', 'Drama']],
      ['tt3', ['Action', 'Drama']],
      ['tt4', ['Action', 'Adventure', 'Sci-Fi']],
      ['tt5', ['Comedy', 'Drama']],
      ['tt6', []],
      ['tt7', []],
    ],
  );
  assert.deepEqual(ds.genres, ['Action', 'Adventure', 'Comedy', 'Drama', 'Sci-Fi']);
  assert.equal(ds.report.rowsWithoutGenres, 2);
});

test('parseGenreList reads every list style and refuses broken ones', () => {
  assert.deepEqual(parseGenreList("['Adventure', 'Biography', 'Drama']"), ['Adventure', 'Biography', 'Drama']);
  assert.deepEqual(parseGenreList('["Children\'s", "War"]'), ["Children's", 'War']);
  assert.deepEqual(parseGenreList("[\"Children's\", 'War']"), ["Children's", 'War']);
  assert.deepEqual(parseGenreList(" 'Action' | Drama |Drama"), ['Action', 'Drama']);
  assert.deepEqual(parseGenreList('[Action, Drama]'), ['Action', 'Drama']);
  assert.deepEqual(parseGenreList('  '), []);
  assert.equal(parseGenreList("['Drama'"), null);
  assert.equal(parseGenreList("['Drama]"), null);
  assert.equal(parseGenreList("['Drama' 'War']"), null);
  assert.equal(parseGenreList('[1, 2]'), null);
});

test('the reference layout: id in column 0, a Python list in column 3, posters split over two folders', async () => {
  const a = dir.file('ref-a');
  const b = dir.file('ref-b');
  await touchFiles(a, 'tt0000001.jpg', 'tt0000003.jpg');
  await touchFiles(b, 'tt0000002.jpg', 'tt0000003.jpg');
  const data = await dir.write(
    'reference.csv',
    [
      'imdbId,Imdb Link,Title,Genre',
      `tt0000001,http://x/1,"Toy Story (1995)","['Animation', 'Adventure', 'Comedy']"`,
      `tt0000002,http://x/2,Jumanji (1995),"['Action', 'Adventure', 'Family']"`,
      `tt0000003,http://x/3,"Heat, The (1995)",['Action']`,
      `tt0000004,http://x/4,Nowhere,['Drama']`,
    ].join('\n'),
  );
  const ds = await readDataset({ data, idColumn: 0, genresColumn: 3, images: [a, b] });
  assert.equal(ds.report.format, 'list');
  assert.deepEqual(
    ds.rows.map((r) => r.image),
    [join(a, 'tt0000001.jpg'), join(b, 'tt0000002.jpg'), join(a, 'tt0000003.jpg'), null],
    'folders are searched in order',
  );
  assert.deepEqual(ds.rows[0]!.genres, ['Adventure', 'Animation', 'Comedy']);
  assert.equal(ds.report.imagesFound, 3);
  assert.equal(ds.report.imagesMissing, 1);
  assert.deepEqual(ds.report.missingExamples, ['tt0000004 (line 5)']);
});

test('columns chosen by name and by index; a wrong name lists the columns', async () => {
  const data = await dir.write('named.csv', 'poster,tags,other\ntt1,Action|Drama,x\ntt2,Drama,y\n');
  await assert.rejects(
    readDataset({ data, images: [posters] }),
    isDataError(/named\.csv: cannot find the genres: give --genres-column \(columns: poster, tags, other\)/),
  );
  const byName = await readDataset({ data, images: [posters], idColumn: 'poster', genresColumn: 'tags' });
  const byIndex = await readDataset({ data, images: [posters], idColumn: 0, genresColumn: 1 });
  const byDigits = await readDataset({ data, images: [posters], idColumn: '0', genresColumn: '1' });
  assert.deepEqual(byName.rows, byIndex.rows);
  assert.deepEqual(byName.rows, byDigits.rows);
  assert.deepEqual(byName.genres, ['Action', 'Drama']);
  await assert.rejects(
    readDataset({ data, images: [posters], genresColumn: 'genres' }),
    isParameterError('genresColumn', /^Expected one of the columns poster, tags, other \(or an index 0-2\) for genresColumn but received string "genres"$/),
  );
  await assert.rejects(readDataset({ data, images: [posters], idColumn: 3, genresColumn: 1 }), isParameterError('idColumn', /received number 3/));
});

test('a path column, absolute or relative to the images folders; extensions for ids', async () => {
  const nested = dir.file('nested');
  await touchFiles(join(nested, 'sub'), 'a.webp');
  await touchFiles(dir.file('abs'), 'b.gif');
  const data = await dir.write(
    'paths.csv',
    `id,file,genre\nm1,sub/a.webp,Drama\nm2,${dir.file('abs/b.gif')},Comedy\nm3,sub/none.jpg,War\n`,
  );
  const ds = await readDataset({ data, images: [posters, nested], pathColumn: 'file' });
  assert.deepEqual(
    ds.rows.map((r) => r.image),
    [join(nested, 'sub/a.webp'), dir.file('abs/b.gif'), null],
  );
  assert.deepEqual(ds.report.missingExamples, ['sub/none.jpg (line 4)']);

  await touchFiles(dir.file('ext'), 'p1.gif', 'p2.JPG', 'p3.jpg');
  const ids = await dir.write('ext.csv', 'id,genre\np1,Drama\np2,Drama\np3,Drama\n');
  const gifs = await readDataset({ data: ids, images: [dir.file('ext')], extensions: ['gif', '.jpg'] });
  assert.deepEqual(
    gifs.rows.map((r) => r.image),
    [dir.file('ext/p1.gif'), dir.file('ext/p2.JPG'), dir.file('ext/p3.jpg')],
  );
  const defaults = await readDataset({ data: ids, images: [dir.file('ext')] });
  assert.equal(defaults.rows[0]!.image, null, '.gif is not a default extension');
});

test('JSON Lines: image paths or ids, genre arrays or list strings, bad lines reported', async () => {
  const data = await dir.write(
    'set.jsonl',
    [
      '{"image": "tt1.jpg", "genres": ["Action", " Drama "]}',
      '{"id": "tt3", "genres": "Comedy|Drama"}',
      '',
      '{"image": "missing.jpg", "genres": []}',
      '{"image": "tt2.jpg", "genres": [1]}',
      'not json',
      '{"genres": ["Drama"]}',
      '["tt4"]',
    ].join('\n'),
  );
  const ds = await readDataset({ data, images: [posters] });
  assert.equal(ds.report.format, 'jsonl');
  assert.deepEqual(ds.rows, [
    { line: 1, id: 'tt1.jpg', image: join(posters, 'tt1.jpg'), genres: ['Action', 'Drama'] },
    { line: 2, id: 'tt3', image: join(posters, 'tt3.png'), genres: ['Comedy', 'Drama'] },
    { line: 4, id: 'missing.jpg', image: null, genres: [] },
  ]);
  assert.deepEqual(
    ds.report.malformed.map((m) => m.line),
    [5, 6, 7, 8],
  );
  assert.equal(ds.report.malformed[0]!.reason, 'cannot read the genre list [1] (column "genres")');
  assert.match(ds.report.malformed[1]!.reason, /not valid JSON/);
  assert.equal(ds.report.malformed[2]!.reason, 'empty id and image path (columns "id", "image")');
  assert.equal(ds.report.malformed[3]!.reason, 'not a JSON object');
});

test('malformed rows are reported with their line numbers and skipped; strict makes them fatal', async () => {
  const data = await dir.write(
    'labels.csv',
    [
      'Id,Genre,Action,Drama',
      'tt1,x,1,0',
      'tt2,x,0,1,7', // wrong field count
      ',x,1,0', // empty id
      'tt3,x,1,2', // not 0/1
      '"tt4","multi',
      'line",0,1', // a quoted newline: the row starts on line 6
      'tt5,x,1',
    ].join('\n'),
  );
  const ds = await readDataset({ data, images: [posters] });
  assert.equal(ds.report.format, 'one-hot');
  assert.deepEqual(
    ds.rows.map((r) => r.id),
    ['tt1', 'tt4'],
  );
  assert.deepEqual(ds.report.malformed, [
    { line: 3, reason: 'has 5 fields, expected 4' },
    { line: 4, reason: 'empty id (column "Id")' },
    { line: 5, reason: 'column "Drama" holds "2", expected 0 or 1' },
    { line: 8, reason: 'has 3 fields, expected 4' },
  ]);
  const text = formatDatasetReport(ds.report);
  assert.match(text, /malformed rows skipped: 4\n {2}line 3: has 5 fields, expected 4\n/);

  await assert.rejects(readDataset({ data, images: [posters], strict: true }), (error: unknown) => {
    assert.ok(error instanceof PosterscopeError);
    assert.equal(error.code, 'DATA_INVALID');
    assert.equal(error.message, `${data} line 3: has 5 fields, expected 4`);
    return true;
  });
});

test('a file with no well-formed row is refused, naming the first bad line', async () => {
  const data = await dir.write('allbad.csv', "id,genre\ntt1,['Drama'\n");
  await assert.rejects(readDataset({ data, images: [posters] }), isDataError(/allbad\.csv line 2: cannot read the genre list/));
});

test('minCount drops rare genres and reports them', async () => {
  const data = await dir.write('counts.csv', 'id,genre\na,Drama|War\nb,Drama\nc,Drama|Comedy\nd,Comedy\ne,Western\n');
  const ds = await readDataset({ data, images: [posters], minCount: 2 });
  assert.deepEqual(ds.genres, ['Comedy', 'Drama']);
  assert.deepEqual(ds.report.droppedGenres, [
    { genre: 'War', count: 1 },
    { genre: 'Western', count: 1 },
  ]);
  assert.deepEqual(ds.rows[0]!.genres, ['Drama']);
  assert.equal(ds.report.rowsWithoutGenres, 1);
  assert.match(formatDatasetReport(ds.report), /dropped genres \(2\): War \(1\), Western \(1\)/);
});

test('genres fixes the vocabulary and its order; unknown names list the genres found', async () => {
  const data = await dir.write('fixed.csv', 'id,genre\na,Drama|War\nb,Drama\nc,Comedy\n');
  const ds = await readDataset({ data, images: [posters], genres: ['War', 'Drama'] });
  assert.deepEqual(ds.genres, ['War', 'Drama']);
  assert.deepEqual(ds.rows[0]!.genres, ['War', 'Drama']);
  assert.deepEqual([...ds.labels()], [1, 1, 0, 1, 0, 0]);
  assert.deepEqual(ds.report.droppedGenres, [{ genre: 'Comedy', count: 1 }]);
  await assert.rejects(
    readDataset({ data, images: [posters], genres: ['Drama', 'Sci-Fi'] }),
    isParameterError('genres', /^Expected genres found in .*fixed\.csv \(Comedy, Drama, War\) for genres but received string "Sci-Fi"$/),
  );
});

test('duplicate ids are kept and counted', async () => {
  const data = await dir.write('dups.csv', 'id,genre\ntt1,Drama\ntt2,Comedy\ntt1,Drama\ntt1,War\n');
  const ds = await readDataset({ data, images: [posters] });
  assert.equal(ds.rows.length, 4);
  assert.equal(ds.report.duplicateIds, 2);
  assert.match(formatDatasetReport(ds.report), /duplicate ids: 2 rows/);
});

test('missing, empty and header-only files are one-line DATA_INVALID errors naming the file', async () => {
  await assert.rejects(readDataset({ data: dir.file('nope.csv'), images: [posters] }), isDataError(/nope\.csv: no such file$/));
  await assert.rejects(readDataset({ data: await dir.write('empty.csv', ''), images: [posters] }), isDataError(/empty\.csv: the file is empty$/));
  await assert.rejects(readDataset({ data: await dir.write('blank.jsonl', '\n\n'), images: [posters] }), isDataError(/blank\.jsonl: the file is empty$/));
  await assert.rejects(
    readDataset({ data: await dir.write('header.csv', 'id,genre\n'), images: [posters] }),
    isDataError(/header\.csv: has a header but no rows$/),
  );
  await assert.rejects(readDataset({ data: posters, images: [posters] }), isDataError(/is a directory/));
});

test('BAD CALL - options are checked with the parameter named', async () => {
  const data = await dir.write('ok.csv', 'id,genre\ntt1,Drama\n');
  await assert.rejects(readDataset({ data, images: [dir.file('no-such-folder')] }), isParameterError('images', /existing folder/));
  await assert.rejects(readDataset({ data, images: 'posters' as unknown as string[] }), isParameterError('images', /array of folder paths/));
  await assert.rejects(readDataset({ data, images: [posters], minCount: -1 }), isParameterError('minCount', /non-negative integer/));
  await assert.rejects(readDataset({ data, images: [posters], extensions: [] }), isParameterError('extensions', /extensions/));
  await assert.rejects(readDataset({ data, images: [posters], genres: ['A', 'A'] }), isParameterError('genres', /distinct/));
  await assert.rejects(readDataset({ data: '', images: [posters] }), isParameterError('data', /CSV or JSON Lines/));
  const jsonl = await dir.write('ok.jsonl', '{"id":"tt1","genres":["Drama"]}\n');
  await assert.rejects(readDataset({ data: jsonl, images: [posters], idColumn: 0 }), isParameterError('idColumn', /key name/));
});

test('the report lists counts, missing examples and genres in columns', async () => {
  const data = await dir.write('report.csv', 'id,genre\ntt1,Drama|Comedy\ntt2,Drama\nzz9,Horror\n');
  const text = formatDatasetReport((await readDataset({ data, images: [posters] })).report);
  assert.equal(
    text,
    [
      `${data}: 3 rows (genre lists)`,
      'images: 2 found, 1 missing',
      '  not found: zz9 (line 4)',
      'genres (3, most frequent first):',
      '  Drama  2   Comedy 1   Horror 1',
    ].join('\n'),
  );
});

test('title,imdbId,Genre and a poster tt0000001.JPG: the id column is found by name and the poster in any case, labelled or not', async () => {
  const folder = dir.file('drift');
  await touchFiles(folder, 'tt0000001.JPG', 'tt0000002.jpeg');
  const data = await dir.write('drift.csv', 'title,imdbId,Genre\nAlien,tt0000001,Horror|Sci-Fi\nHeat,tt0000002,Crime\nNowhere,tt0000003,Drama\n');
  const expected = [join(folder, 'tt0000001.JPG'), join(folder, 'tt0000002.jpeg'), null];
  const labelled = await readDataset({ data, images: [folder] });
  assert.deepEqual(labelled.rows.map((r) => [r.id, r.image]), [['tt0000001', expected[0]], ['tt0000002', expected[1]], ['tt0000003', null]]);
  const list = await readPosterList({ data, images: [folder] });
  assert.deepEqual(list.rows, labelled.rows.map(({ genres: _genres, ...row }) => row));
  assert.deepEqual(list.report.missingExamples, ['tt0000003 (line 4)']);
});

test('readPosterList reads an id-only list (no genres column), a path column found by name, and JSON Lines', async () => {
  const ids = await dir.write('ids.csv', 'id\ntt1\ntt3\n\ntt9\n');
  const list = await readPosterList({ data: ids, images: [posters] });
  assert.deepEqual(list.rows, [
    { line: 2, id: 'tt1', image: join(posters, 'tt1.jpg') },
    { line: 3, id: 'tt3', image: join(posters, 'tt3.png') },
    { line: 5, id: 'tt9', image: null },
  ]);
  assert.deepEqual([list.report.imagesFound, list.report.imagesMissing], [2, 1]);
  await assert.rejects(readDataset({ data: ids, images: [posters] }), isDataError(/cannot find the genres/));

  const paths = await dir.write('paths-by-name.csv', 'image,genre\ntt2.jpg,Drama\n,Comedy\n');
  const ds = await readDataset({ data: paths, images: [posters] });
  assert.deepEqual(ds.rows.map((r) => [r.id, r.image]), [['tt2.jpg', join(posters, 'tt2.jpg')]]);
  assert.deepEqual(ds.report.malformed, [{ line: 3, reason: 'empty image path (column "image")' }]);

  const jsonl = await dir.write('ids.jsonl', '{"imdbId": "tt4"}\n{"image": "tt2.jpg"}\n');
  assert.deepEqual((await readPosterList({ data: jsonl, images: [posters] })).rows.map((r) => r.image), [join(posters, 'tt4.jpg'), join(posters, 'tt2.jpg')]);
});

test('BAD DATA - two genre columns of the same name are refused, naming them', async () => {
  const data = await dir.write('dup-columns.csv', 'Id,Action,Drama,Drama\ntt1,1,0,1\ntt2,0,1,0\n');
  await assert.rejects(readDataset({ data, images: [posters] }), isDataError(/dup-columns\.csv: columns 2 and 3 are both named "Drama": rename one$/));
});

test('BAD DATA - a 5 MB id is cut short in every message', async () => {
  const huge = 'tt'.repeat(2_500_000);
  const data = await dir.write('huge.csv', `id,genre\n${huge},Drama\ntt1,['Drama'\n${huge}x,Drama\n`);
  const ds = await readDataset({ data, images: [posters] });
  assert.equal(ds.report.missingExamples.length, 2);
  for (const example of ds.report.missingExamples) assert.ok(example.length < 200, example.slice(0, 200));
  assert.match(ds.report.missingExamples[0]!, /^tttt.*… \(5,000,000 characters\) \(line 2\)$/);
  assert.ok(formatDatasetReport(ds.report).length < 1000);
  const list = await dir.write('huge-genres.csv', `id,genre\ntt1,['${huge}'\n`);
  await assert.rejects(readDataset({ data: list, images: [posters] }), (error: unknown) => {
    assert.ok(error instanceof PosterscopeError);
    assert.ok(error.message.length < 300, error.message.slice(0, 300));
    assert.match(error.message, /line 2: cannot read the genre list \['tttt.*… \(5,000,003 characters\)/);
    return true;
  });
});

test('a poster that is a symlink is found (and a link to a folder of posters works as a folder)', async () => {
  const real = dir.file('real-posters');
  await touchFiles(real, 'tt7.jpg', 'tt8.jpg');
  const linked = dir.file('linked-posters');
  await mkdir(linked);
  await symlink(join(real, 'tt7.jpg'), join(linked, 'tt7.jpg'));
  const data = await dir.write('links.csv', 'id,genre\ntt7,Drama\ntt8,War\n');
  const ds = await readDataset({ data, images: [linked] });
  assert.deepEqual(ds.rows.map((r) => r.image), [join(linked, 'tt7.jpg'), null]);
  await symlink(real, dir.file('real-link'));
  const viaFolderLink = await readDataset({ data, images: [dir.file('real-link')] });
  assert.deepEqual(viaFolderLink.rows.map((r) => r.image), [dir.file('real-link/tt7.jpg'), dir.file('real-link/tt8.jpg')]);
});
