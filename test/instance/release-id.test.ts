import { mkdirSync, symlinkSync, writeFileSync } from 'fs';
import * as path from 'path';
import { releaseIdOfTree } from '../../lib/release-id';
import { EXAMPLE_APP, runOrThrow, tempDir } from './support';

/** The pipeline bake.sh documents, run in `dir`: the reference for releaseIdOfTree. */
function shellHash12(dir: string): string {
  return runOrThrow('bash', ['-c',
    'cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum', '_', dir]).slice(0, 12);
}

describe('releaseIdOfTree', () => {
  test('equals the shell pipeline on a tree with nested dirs, byte-order names and a symlink', () => {
    const dir = tempDir('tree');
    mkdirSync(path.join(dir, 'a', 'b'), { recursive: true });
    writeFileSync(path.join(dir, 'Procfile'), 'web: serve\n');
    writeFileSync(path.join(dir, 'a', 'b', 'c.txt'), 'c');
    writeFileSync(path.join(dir, 'a-b'), 'dash sorts before slash');
    writeFileSync(path.join(dir, 'Z'), 'upper case sorts first');
    writeFileSync(path.join(dir, 'é.txt'), 'utf-8 name');
    writeFileSync(path.join(dir, 'with space'), '');
    symlinkSync('Procfile', path.join(dir, 'link'));
    expect(releaseIdOfTree(dir)).toBe(shellHash12(dir));
    expect(releaseIdOfTree(dir, 'v1.2-rc')).toBe(`v1.2-rc-${shellHash12(dir)}`);
  });

  test('equals the shell pipeline on the example app', () => {
    expect(releaseIdOfTree(EXAMPLE_APP, 'v1')).toBe(`v1-${shellHash12(EXAMPLE_APP)}`);
  });

  test('fails when the label is invalid', () => {
    expect(() => releaseIdOfTree(EXAMPLE_APP, 'V1'))
      .toThrow("Invalid release label 'V1': must match /^[a-z0-9][a-z0-9.-]{0,31}$/");
  });

  test('fails when a file name holds a backslash', () => {
    const dir = tempDir('tree');
    writeFileSync(path.join(dir, 'back\\slash'), '');
    expect(() => releaseIdOfTree(dir)).toThrow('Unsupported file name "./back\\\\slash": it contains a backslash or a control character');
  });
});
