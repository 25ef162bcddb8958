import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it, test } from 'node:test';
import { PosterscopeError } from '../../../src/errors.js';
import { ImageFolders, collectImageFiles, walkImageFiles } from '../../../src/data/files.js';
import { type TempDir, makeTempDir, touchFiles } from '../../helpers/images.js';

let dir: TempDir;
let posters: string;

before(async () => {
  dir = await makeTempDir('posterscope-files-');
  posters = dir.file('posters');
  await touchFiles(posters, 'b.PNG', 'a.jpg', 'notes.txt', '.hidden.jpg');
  await touchFiles(join(posters, 'sub'), 'c.webp');
  await touchFiles(dir.file('elsewhere'), 'linked.jpg', 'in-linked-folder.jpg');
  await symlink(dir.file('elsewhere/linked.jpg'), join(posters, 'link.jpg'));
  await symlink(dir.file('elsewhere'), join(posters, 'more'));
  await symlink('..', join(posters, 'sub', 'loop')); // posters/sub/loop -> posters
  await symlink('nowhere.jpg', join(posters, 'broken.jpg'));
});
after(() => dir.remove());

describe('walkImageFiles', () => {
  it('follows symlinked posters and folders, lists each file once through a loop, in folder order', async () => {
    const found = await walkImageFiles(posters);
    assert.deepEqual(
      found.map((f) => f.slice(posters.length + 1)),
      ['.hidden.jpg', 'a.jpg', 'b.PNG', 'link.jpg', 'more/in-linked-folder.jpg', 'sub/c.webp'],
    );
  });

  it('many files and links to them (more than are resolved at once): each file once, the first path in folder order', async () => {
    const many = dir.file('many');
    const names = Array.from({ length: 60 }, (_, i) => `p${String(i).padStart(2, '0')}.jpg`);
    await touchFiles(many, ...names);
    // "p07.jpg.link.jpg" sorts right after "p07.jpg": each link comes after its target and is dropped.
    for (const name of names) await symlink(name, join(many, `${name}.link.jpg`));
    // A link sorting first ("a-...") wins over its target.
    await symlink('p59.jpg', join(many, 'a-first.jpg'));
    const found = (await walkImageFiles(many)).map((f) => f.slice(many.length + 1));
    assert.deepEqual(found, ['a-first.jpg', ...names.slice(0, 59)]);
    const { files } = await collectImageFiles([many, join(many, 'p03.jpg'), many]);
    assert.equal(files.length, 60, 'the same folder twice, and a file in it, add nothing');
  });

  it('BAD CALL - a missing folder is an error, not an empty list', async () => {
    await assert.rejects(walkImageFiles(dir.file('no-such-folder')), /ENOENT/);
  });
});

describe('collectImageFiles', () => {
  it('expands globs and folders, keeps named files, lists each file once, reports inputs that match nothing', async () => {
    const { files, missing } = await collectImageFiles([`${posters}/*.{jpg,PNG}`, join(posters, 'sub'), dir.file('gone.jpg'), `${posters}/*.gif`, dir.file('elsewhere/linked.jpg')]);
    assert.deepEqual(files, [
      join(posters, '.hidden.jpg'),
      join(posters, 'a.jpg'),
      join(posters, 'b.PNG'),
      join(posters, 'link.jpg'),
      join(posters, 'sub/c.webp'),
      // Through sub/loop (-> posters) only the file not listed yet; elsewhere/linked.jpg is link.jpg.
      join(posters, 'sub/loop/more/in-linked-folder.jpg'),
      dir.file('gone.jpg'),
    ]);
    assert.deepEqual(missing, [{ input: `${posters}/*.gif`, reason: 'pattern matched no image files' }]);
  });

  it('matches ** across folders', async () => {
    const { files } = await collectImageFiles([`${dir.path}/elsewhere/**/*.jpg`]);
    assert.deepEqual(files, [dir.file('elsewhere/in-linked-folder.jpg'), dir.file('elsewhere/linked.jpg')]);
  });
});

describe('ImageFolders', () => {
  it('finds <id><ext> in any case of extension, in the first folder that has it', async () => {
    const a = dir.file('a');
    const b = dir.file('b');
    await touchFiles(a, 'tt0000001.JPG', 'tt3.Png');
    await touchFiles(b, 'tt0000001.jpg', 'tt2.jpeg', 'tt4.jpg', 'tt4.JPG');
    const folders = new ImageFolders([a, b]);
    assert.equal(await folders.find({ id: 'tt0000001' }), join(a, 'tt0000001.JPG'));
    assert.equal(await folders.find({ id: 'tt2' }), join(b, 'tt2.jpeg'));
    assert.equal(await folders.find({ id: 'tt3' }), join(a, 'tt3.Png'));
    assert.equal(await folders.find({ id: 'tt4' }), join(b, 'tt4.jpg'), 'the exact extension wins over another case');
    assert.equal(await folders.find({ id: 'tt3.png' }), join(a, 'tt3.Png'), 'an id naming a file');
    assert.equal(await folders.find({ id: 'TT2' }), null, 'ids are case-sensitive');
    assert.equal(await folders.find({ id: 'tt9' }), null);
    assert.equal(await new ImageFolders([a], ['.gif']).find({ id: 'tt3' }), null);
  });

  it('finds a path relative to each folder, or absolute; follows a symlinked poster', async () => {
    const folders = new ImageFolders([dir.file('a'), posters]);
    assert.equal(await folders.find({ id: 'x', path: 'sub/c.webp' }), join(posters, 'sub/c.webp'));
    assert.equal(await folders.find({ id: 'x', path: dir.file('elsewhere/linked.jpg') }), dir.file('elsewhere/linked.jpg'));
    assert.equal(await folders.find({ id: 'x', path: 'sub/none.jpg' }), null);
    assert.equal(await folders.find({ id: 'link' }), join(posters, 'link.jpg'));
  });
});

test('BAD CALL - refuseOutputOverInput: an output that is, holds or lies inside an input, through symlinks too', async () => {
  const { mkdtemp, mkdir, symlink, writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { refuseOutputOverInput } = await import('../../../src/data/files.js');
  const root = await mkdtemp(join(tmpdir(), 'posterscope-over-'));
  await mkdir(join(root, 'posters'));
  await writeFile(join(root, 'posters', 'a.jpg'), 'x');
  await writeFile(join(root, 'labels.csv'), 'id\n');
  await symlink(join(root, 'posters'), join(root, 'link'));
  const refused = (option: string, fragment: string) => (error: unknown) => {
    assert.ok(error instanceof PosterscopeError && error.code === 'INVALID_ARGUMENT', String(error));
    assert.ok(error.message.includes(fragment) && error.message.includes(`for ${option} but received`), error.message);
    return true;
  };
  const dir = (path: string) => [{ option: '--out', path, kind: 'dir' as const }];
  await assert.rejects(refuseOutputOverInput([join(root, 'posters')], dir(join(root, 'link'))), refused('--out', 'itself'));
  await assert.rejects(refuseOutputOverInput([join(root, 'link')], dir(join(root, 'posters', 'new', 'deeper'))), refused('--out', 'inside the input folder'));
  await assert.rejects(refuseOutputOverInput([join(root, 'posters', 'a.jpg')], dir(root)), refused('--out', 'a folder holding the input'));
  await assert.rejects(
    refuseOutputOverInput([join(root, 'labels.csv')], [{ option: '--output', path: join(root, 'labels.csv'), kind: 'file' }]),
    refused('--output', 'itself'),
  );
  // Beside the inputs is fine, and inputs that do not exist (globs, typos) are someone else's error.
  await refuseOutputOverInput([join(root, 'posters'), join(root, 'labels.csv'), join(root, '*.png')], dir(join(root, 'clean')));
  await refuseOutputOverInput([join(root, 'posters', 'a.jpg')], [{ option: '--output', path: join(root, 'genres.csv'), kind: 'file' }]);
});
