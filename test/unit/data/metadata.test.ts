import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { formatDatasetReport, readDataset, readPosterList } from '../../../src/data/dataset.js';
import { PosterscopeError } from '../../../src/errors.js';
import { type TempDir, makeTempDir, touchFiles } from '../../helpers/images.js';

let dir: TempDir;
let posters: string;

before(async () => {
  dir = await makeTempDir('posterscope-metadata-');
  posters = dir.file('posters');
  await touchFiles(posters, 'tt1.jpg', 'tt2.jpg', 'tt3.jpg');
});

after(() => dir.remove());

test('text columns found by name (Title, Description, Year on the title); missing text is normal', async () => {
  // The layout of ../shared/data/text/imdb-movies.csv: no id column (column 0, Rank, is the id), comma-separated genres.
  const data = await dir.write(
    'movies.csv',
    'Rank,Title,Genre,Description,Year\n1,Guardians of the Galaxy,"Action,Sci-Fi",A group of criminals.,2014\n2,Prometheus,"Sci-Fi",,2012\n3,,Drama,A plot without a title.,\n',
  );
  const ds = await readDataset({ data, images: [], genresColumn: 'Genre' });
  assert.deepEqual(
    ds.rows.map(({ id, title, plot, image }) => ({ id, title, plot, image })),
    [
      { id: '1', title: 'Guardians of the Galaxy (2014)', plot: 'A group of criminals.', image: null },
      { id: '2', title: 'Prometheus (2012)', plot: undefined, image: null },
      { id: '3', title: undefined, plot: 'A plot without a title.', image: null },
    ],
  );
  assert.deepEqual(ds.report.text, { sources: ['Title, Description of ' + data], withTitle: 2, withPlot: 2, withBoth: 1, withNeither: 0 });
  assert.match(formatDatasetReport(ds.report), /text \(Title, Description of .*movies\.csv\): 2 with a title, 2 with a plot, 1 both, 0 neither/);
});

test('columns by name or index; a wrong name lists the columns', async () => {
  const data = await dir.write('cols.csv', 'id,name,overview_text,genres\ntt1,Alien,In space.,Horror\n');
  const ds = await readDataset({ data, images: [posters], titleColumn: 1, plotColumn: 'overview_text' });
  assert.deepEqual([ds.rows[0]!.title, ds.rows[0]!.plot], ['Alien', 'In space.']);
  await assert.rejects(
    readDataset({ data, images: [posters], plotColumn: 'synopsis' }),
    (e: unknown) => e instanceof PosterscopeError && e.code === 'INVALID_ARGUMENT' && /for plotColumn but received string "synopsis"/.test(e.message) && /id, name, overview_text, genres/.test(e.message),
  );
});

test('--metadata joined on the id (CSV and JSON Lines): counts of title, plot, both, neither and unmatched ids', async () => {
  const data = await dir.write('labels.csv', 'Id,Genre\ntt1,Drama\ntt2,Comedy\ntt3,Horror\ntt4,Drama\n');
  const csv = await dir.write('metadata.csv', 'Id,Title,Year,Plot\ntt1,Alien,1979,In space.\ntt2,Heat,1995,\ntt9,Nowhere,2000,Unmatched.\n');
  const ds = await readDataset({ data, images: [posters], metadata: csv });
  assert.deepEqual(ds.rows.map((r) => [r.id, r.title, r.plot]), [['tt1', 'Alien (1979)', 'In space.'], ['tt2', 'Heat (1995)', undefined], ['tt3', undefined, undefined], ['tt4', undefined, undefined]]);
  assert.deepEqual(ds.report.text, { sources: [csv], withTitle: 2, withPlot: 1, withBoth: 1, withNeither: 2, metadataRows: 3, metadataUnmatched: 1 });
  assert.match(formatDatasetReport(ds.report), /2 with a title, 1 with a plot, 1 both, 2 neither; 1 of 3 metadata ids match no row/);

  const jsonl = await dir.write('metadata.jsonl', '{"id":"tt3","title":"Scream","plot":"A mask."}\n{"id":"tt1","plot":"Other."}\n');
  const list = await readPosterList({ data, images: [posters], metadata: jsonl });
  assert.deepEqual(list.rows.map((r) => [r.id, r.title, r.plot]), [['tt1', undefined, 'Other.'], ['tt2', undefined, undefined], ['tt3', 'Scream', 'A mask.'], ['tt4', undefined, undefined]]);
  assert.equal(list.report.text!.metadataUnmatched, 0);
});

test("the table's own text wins over the metadata's; BAD DATA - a missing metadata file is one line naming it", async () => {
  const data = await dir.write('own.csv', 'Id,Title,Genre\ntt1,Own Title,Drama\ntt2,,Drama\n');
  const meta = await dir.write('meta2.csv', 'Id,Title,Plot\ntt1,Meta Title,Meta plot.\ntt2,Second,\n');
  const ds = await readDataset({ data, images: [posters], metadata: meta });
  assert.deepEqual(ds.rows.map((r) => [r.title, r.plot]), [['Own Title', 'Meta plot.'], ['Second', undefined]]);
  await assert.rejects(readDataset({ data, images: [posters], metadata: dir.file('nope.csv') }), (e: unknown) => e instanceof PosterscopeError && e.code === 'DATA_INVALID' && /nope\.csv: no such file/.test(e.message));
});
