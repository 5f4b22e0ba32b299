import { createHash } from 'crypto';
import { readdirSync, readFileSync } from 'fs';
import * as path from 'path';

/**
 * What the deploy step and the CLI accept as a release name. Releases herd makes are
 * `<label>-<hash12>` or `<hash12>` (below); the image builder checks the artifact's content
 * against that form, so any other name can only be deployed when its image already exists.
 */
export const RELEASE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** What a release label may look like (same rule as `instance/bake.sh`). */
export const RELEASE_LABEL_PATTERN = /^[a-z0-9][a-z0-9.-]{0,31}$/;

/**
 * The release id of an extracted app tree, identical to the one `instance/bake.sh` prints:
 * the SHA-256 of `find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum` run in
 * `dir` (one line `<sha256 of file>  ./<path>\n` per regular file, sorted by the bytes of
 * `./<path>`; symlinks are not followed nor hashed), cut to 12 hex characters, prefixed
 * with `<label>-` when a label is given.
 *
 * Throws when the label is invalid or a file name holds a backslash or a control
 * character (bake.sh refuses those artifacts).
 */
export function releaseIdOfTree(dir: string, label?: string): string {
  if (label !== undefined && !RELEASE_LABEL_PATTERN.test(label)) {
    throw new Error(`Invalid release label '${label}': must match ${RELEASE_LABEL_PATTERN}`);
  }
  const files: string[] = [];
  collectFiles(dir, '.', files);
  return releaseIdOfFiles(dir, files, label);
}

/**
 * The release id of the regular files `files` under `dir` (each `./<path>`, as `find`
 * prints it), as bake.sh would compute it once only these files are extracted: the id of
 * a packed selection of a directory (files left out of the artifact do not change it).
 */
export function releaseIdOfFiles(dir: string, files: readonly string[], label?: string): string {
  if (label !== undefined && !RELEASE_LABEL_PATTERN.test(label)) {
    throw new Error(`Invalid release label '${label}': must match ${RELEASE_LABEL_PATTERN}`);
  }
  for (const file of files) {
    if (/[\\\u0000-\u001f\u007f]/.test(file)) {
      throw new Error(`Unsupported file name ${JSON.stringify(file)}: it contains a backslash or a control character`);
    }
  }
  const sorted = files
    .map((relative) => Buffer.from(relative, 'utf8'))
    .sort(Buffer.compare);

  const listing = createHash('sha256');
  for (const relative of sorted) {
    const content = readFileSync(path.join(dir, relative.toString('utf8')));
    const digest = createHash('sha256').update(content).digest('hex');
    listing.update(`${digest}  `);
    listing.update(relative);
    listing.update('\n');
  }
  const hash12 = listing.digest('hex').slice(0, 12);
  return label === undefined ? hash12 : `${label}-${hash12}`;
}

function collectFiles(root: string, relative: string, into: string[]): void {
  for (const entry of readdirSync(path.join(root, relative), { withFileTypes: true })) {
    const child = `${relative}/${entry.name}`;
    if (/[\\\u0000-\u001f\u007f]/.test(entry.name)) {
      throw new Error(`Unsupported file name ${JSON.stringify(child)}: it contains a backslash or a control character`);
    }
    if (entry.isDirectory()) {
      collectFiles(root, child, into);
    } else if (entry.isFile()) {
      into.push(child);
    }
  }
}
