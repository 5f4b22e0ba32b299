/**
 * A release from what the operator gave: an app directory (packed deterministically), a
 * `.tar.gz`, or a release id already in the artifacts bucket.
 */
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createReadStream, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tar from 'tar';
import { RELEASE_ID_PATTERN, RELEASE_LABEL_PATTERN, releaseIdOfTree } from '../release-id';
import type { AwsClients } from './deps';
import { artifactKey } from './environment';
import { CliError } from './errors';

/** A release id as the deploy step accepts it. */
export { RELEASE_ID_PATTERN };

export interface PreparedRelease {
  readonly release: string;
  readonly key: string;
  /** Local tarball to upload (absent for a release id). */
  readonly tarball?: string;
  /** Removes temporary files. */
  cleanup(): void;
}

function looksLikePath(arg: string): boolean {
  return arg.includes('/') || arg.startsWith('.') || arg.endsWith('.tar.gz') || arg.endsWith('.tgz');
}

/** Regular files and symlinks under `dir`, relative, sorted by bytes (directories are implied). */
function entries(dir: string, relative = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(dir, relative), { withFileTypes: true })) {
    const child = relative ? `${relative}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...entries(dir, child));
    else if (e.isFile() || e.isSymbolicLink()) out.push(child);
  }
  return out.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/**
 * Packs `dir` so the same tree gives the same bytes: sorted entries, fixed times, no
 * owners; modes are kept (hooks must stay executable).
 */
export async function packDirectory(dir: string, file: string): Promise<void> {
  await tar.create({ cwd: dir, file, gzip: true, portable: true, mtime: new Date(0), noDirRecurse: true }, entries(dir));
}

/** Turns `<release|path>` into a release id and, for a path, a tarball to upload. */
export async function prepareRelease(arg: string, label: string | undefined): Promise<PreparedRelease> {
  if (label !== undefined && !RELEASE_LABEL_PATTERN.test(label)) {
    throw new CliError(`invalid --label "${label}": must match ${RELEASE_LABEL_PATTERN} (lower-case letters, digits, dots and hyphens, at most 32)`);
  }
  let stat;
  try {
    stat = lstatSync(arg);
  } catch {
    stat = undefined;
  }
  if (!stat) {
    if (looksLikePath(arg)) throw new CliError(`${arg}: no such file or directory (give an app directory, a .tar.gz or a release id)`);
    if (!RELEASE_ID_PATTERN.test(arg)) throw new CliError(`"${arg}" is neither a path nor a release id (${RELEASE_ID_PATTERN})`);
    if (label !== undefined) throw new CliError('--label applies to a path, not to a release id');
    return { release: arg, key: artifactKey(arg), cleanup: () => undefined };
  }
  const work = mkdtempSync(path.join(tmpdir(), 'herd-release-'));
  const cleanup = () => rmSync(work, { recursive: true, force: true });
  try {
    if (statSync(arg).isDirectory()) {
      const release = releaseIdOfTree(arg, label);
      const tarball = path.join(work, `${release}.tar.gz`);
      await packDirectory(arg, tarball);
      return { release, key: artifactKey(release), tarball, cleanup };
    }
    if (!/\.(tar\.gz|tgz)$/.test(arg)) throw new CliError(`${arg}: not a directory nor a .tar.gz`);
    const tree = path.join(work, 'tree');
    mkdirSync(tree);
    try {
      await tar.extract({ file: arg, cwd: tree });
    } catch (err) {
      throw new CliError(`${arg}: not a readable .tar.gz (${err instanceof Error ? err.message : String(err)})`);
    }
    const release = releaseIdOfTree(tree, label);
    return { release, key: artifactKey(release), tarball: path.resolve(arg), cleanup };
  } catch (err) {
    cleanup();
    if (err instanceof CliError) throw err;
    throw new CliError(`${arg}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Whether `key` exists in `bucket`. */
export async function artifactExists(clients: Pick<AwsClients, 's3'>, bucket: string, key: string): Promise<boolean> {
  try {
    await clients.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (err) {
    if (err instanceof Error && (err.name === 'NotFound' || err.name === 'NoSuchKey' || err.name === '404')) return false;
    throw err;
  }
}

/**
 * Makes sure the release's artifact is in the bucket: uploads the tarball unless the key
 * exists (a content-addressed id names the same bytes). Returns whether it uploaded.
 */
export async function ensureArtifact(clients: Pick<AwsClients, 's3'>, bucket: string, prepared: PreparedRelease): Promise<boolean> {
  if (await artifactExists(clients, bucket, prepared.key)) return false;
  if (!prepared.tarball) {
    throw new CliError(
      `unknown release ${prepared.release}: s3://${bucket}/${prepared.key} does not exist; give the app's directory or .tar.gz to upload it, or list releases with \`herd releases <env>\``,
    );
  }
  await clients.s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: prepared.key, Body: createReadStream(prepared.tarball), ContentLength: statSync(prepared.tarball).size, ContentType: 'application/gzip' }),
  );
  return true;
}
