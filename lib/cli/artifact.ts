/**
 * A release from what the operator gave: an app directory (packed deterministically), a
 * `.tar.gz`, or a release id already in the artifacts bucket; and its upload there.
 *
 * Uploads go through `@aws-sdk/lib-storage`'s Upload: one PutObject for an artifact that
 * fits one part, a multipart upload otherwise (S3's PutObject takes at most 5 GiB, and
 * a streamed body cannot be retried by the SDK). Each part is read into memory, so the
 * SDK retries a part that fails (throttling, 5xx, a dropped connection) on its own; any
 * size up to S3's 5 TiB goes up, in at most 10,000 parts.
 */
import { AbortMultipartUploadCommand, HeadObjectCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import ora from 'ora';
import * as tar from 'tar';
import { NO_PROVISION, PROVISION_METADATA_KEY } from '../../lambda/deploy/base-image';
import { RELEASE_ID_PATTERN, RELEASE_LABEL_PATTERN, releaseIdOfFiles, releaseIdOfTree } from '../release-id';
import { contractViolation } from './app-contract';
import type { AwsClients, CliDeps, Writer } from './deps';
import { artifactKey } from './environment';
import { CliError, EXIT } from './errors';
import { HERDIGNORE, largestEntries, selectFiles, type PackSelection } from './pack';
import { fit, terminalSize } from './display';
import { formatDuration } from './progress';

/** A release id as the deploy step accepts it. */
export { RELEASE_ID_PATTERN };

export interface PreparedRelease {
  readonly release: string;
  readonly key: string;
  /** Local tarball to upload (absent for a release id). */
  readonly tarball?: string;
  /**
   * SHA-256 of the release's `herd/provision` (`none` without one), uploaded as the
   * artifact's `herd-provision` metadata: the deploy step's base image identity
   * (lambda/deploy/base-image.ts). Absent for a release id.
   */
  readonly provision?: string;
  /** Removes temporary files. */
  cleanup(): void;
}

function looksLikePath(arg: string): boolean {
  return arg.includes('/') || arg.startsWith('.') || arg.endsWith('.tar.gz') || arg.endsWith('.tgz');
}

/**
 * Packs `dir` so the same tree gives the same bytes: sorted entries, fixed times, no
 * owners; modes are kept (hooks must stay executable). Packs what `selectFiles` selects
 * (never `.git`, `.env*`, keys, virtual environments… unless `.herdignore` says so).
 */
export async function packDirectory(dir: string, file: string, selection: PackSelection = selectFiles(dir)): Promise<void> {
  await tar.create({ cwd: dir, file, gzip: true, portable: true, mtime: new Date(0), noDirRecurse: true }, selection.files.map((f) => f.path));
}

/** How a path is packed: where the packed line goes, the size limit. */
export interface PackOptions {
  /** Receives `packed N files, X MiB`. */
  readonly out?: Writer;
  /** Largest artifact accepted, in MiB (`deploy.maxArtifactMiB`). Default 500. */
  readonly maxArtifactMiB?: number;
}

/** `deploy.maxArtifactMiB`'s default. */
export const DEFAULT_MAX_ARTIFACT_MIB = 500;

/** Refuses, before any upload, an app tree the builder would refuse (bake.sh's words). */
function checkContract(arg: string, tree: string, packed?: (relative: string) => boolean): void {
  const violation = contractViolation(tree, packed);
  if (violation) throw new CliError(`${arg}: artifact refused: ${violation}; nothing was uploaded`);
}

/** Refuses an artifact above the limit, naming what to leave out. */
function checkSize(arg: string, tarball: string, selection: PackSelection, maxMiB: number): void {
  const size = statSync(tarball).size;
  if (size <= maxMiB * MiB) return;
  const largest = largestEntries(selection)
    .map((e) => `${e.path} (${formatBytes(e.bytes)})`)
    .join(', ');
  throw new CliError(
    `${arg}: the artifact is ${formatBytes(size)}, above the limit of ${maxMiB} MiB (deploy.maxArtifactMiB); largest: ${largest || 'none'}. ` +
      `Leave out what the app does not need at run time with lines in ${path.join(arg, HERDIGNORE)} (gitignore patterns, e.g. "media/"), or raise deploy.maxArtifactMiB in herd.config.ts; nothing was uploaded`,
  );
}

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

/** Turns `<release|path>` into a release id and, for a path, a tarball to upload. */
export async function prepareRelease(arg: string, label: string | undefined, options: PackOptions = {}): Promise<PreparedRelease> {
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
    const maxMiB = options.maxArtifactMiB ?? DEFAULT_MAX_ARTIFACT_MIB;
    if (statSync(arg).isDirectory()) {
      const selection = selectFiles(arg);
      checkContract(arg, arg, selection.has);
      const release = releaseIdOfFiles(arg, selection.files.filter((f) => f.regular).map((f) => `./${f.path}`), label);
      const tarball = path.join(work, `${release}.tar.gz`);
      await packDirectory(arg, tarball, selection);
      options.out?.write(`packed ${plural(selection.files.length, 'file')}, ${formatBytes(statSync(tarball).size)} (${formatBytes(selection.bytes)} before compression)\n`);
      checkSize(arg, tarball, selection, maxMiB);
      return { release, key: artifactKey(release), tarball, provision: provisionHashOf(arg), cleanup };
    }
    if (!/\.(tar\.gz|tgz)$/.test(arg)) throw new CliError(`${arg}: not a directory nor a .tar.gz`);
    const tree = path.join(work, 'tree');
    mkdirSync(tree);
    try {
      await tar.extract({ file: arg, cwd: tree });
    } catch (err) {
      throw new CliError(`${arg}: not a readable .tar.gz (${err instanceof Error ? err.message : String(err)})`);
    }
    checkContract(arg, tree);
    checkSize(arg, arg, selectFiles(tree), maxMiB);
    const release = releaseIdOfTree(tree, label);
    return { release, key: artifactKey(release), tarball: path.resolve(arg), provision: provisionHashOf(tree), cleanup };
  } catch (err) {
    cleanup();
    if (err instanceof CliError) throw err;
    throw new CliError(`${arg}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** SHA-256 (hex) of `<root>/herd/provision`, or `none` when the app has none (the checked contract makes it a regular file when present). */
export function provisionHashOf(root: string): string {
  const file = path.join(root, 'herd', 'provision');
  if (!existsSync(file)) return NO_PROVISION;
  return createHash('sha256').update(readFileSync(file)).digest('hex');
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

const MiB = 1024 * 1024;

/** S3's limits on an upload (S3 User Guide, "Amazon S3 multipart upload limits"). */
export const S3_UPLOAD_LIMITS = {
  /** Largest object: 5 TiB. */
  maxObjectBytes: 5 * 1024 ** 4,
  /** Smallest part, except the last: 5 MiB. */
  minPartBytes: 5 * MiB,
  /** Largest part: 5 GiB. */
  maxPartBytes: 5 * 1024 ** 3,
  maxParts: 10_000,
} as const;

/** Bytes per part unless an artifact needs larger ones to fit 10,000 parts. */
export const UPLOAD_PART_BYTES = 16 * MiB;
/** Parts in flight at once. */
export const UPLOAD_QUEUE_SIZE = 4;
/** At most this much of the artifact in memory at once (parts in flight): fewer parts in flight when parts are larger. */
export const UPLOAD_MEMORY_BYTES = 256 * MiB;

export interface UploadOptions {
  /** Bytes per part (at least 5 MiB; tests use small parts). Default 16 MiB, more when needed. */
  readonly partSize?: number;
  /** Parts in flight at once. Default 4 (fewer for parts over 64 MiB). */
  readonly queueSize?: number;
}

/** How an artifact of `size` bytes goes up: part size, parts in flight, number of parts. */
export function uploadPlan(size: number, options: UploadOptions = {}): { partSize: number; queueSize: number; parts: number } {
  if (size > S3_UPLOAD_LIMITS.maxObjectBytes) {
    throw new CliError(`the artifact is ${formatBytes(size)}: larger than S3's largest object (5 TiB)`);
  }
  const requested = options.partSize ?? UPLOAD_PART_BYTES;
  if (requested < S3_UPLOAD_LIMITS.minPartBytes || requested > S3_UPLOAD_LIMITS.maxPartBytes) {
    throw new CliError(`upload part size ${requested} is outside what S3 accepts (5 MiB to 5 GiB)`);
  }
  // 10,000 parts at most: larger parts (whole MiB) for an artifact over 156 GiB.
  const partSize = Math.max(requested, Math.ceil(size / S3_UPLOAD_LIMITS.maxParts / MiB) * MiB);
  const queueSize = options.queueSize ?? Math.max(1, Math.min(UPLOAD_QUEUE_SIZE, Math.floor(UPLOAD_MEMORY_BYTES / partSize)));
  return { partSize, queueSize, parts: Math.max(1, Math.ceil(size / partSize)) };
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/** The unit `bytes` reads best in: 0 for B, 1 for KiB… */
function unitOf(bytes: number): number {
  let unit = 0;
  while (bytes >= 1024 ** (unit + 1) && unit < UNITS.length - 1) unit += 1;
  return unit;
}

/** `512 B`, `3.4 KiB`, `20.0 MiB`, `1.2 GiB`; in the unit of `like` when given (`4.0 MiB / 20.0 MiB`). */
export function formatBytes(bytes: number, like = bytes): string {
  const unit = unitOf(like);
  return unit === 0 ? `${bytes} B` : `${(bytes / 1024 ** unit).toFixed(1)} ${UNITS[unit]}`;
}

/** How upload progress is shown: a line redrawn in place on a terminal, plain lines when piped. */
interface UploadDisplay {
  progress(sent: number): void;
  done(line: string): void;
  stop(): void;
}

/**
 * On a terminal: a spinner line (as `herd deploy`'s progress) redrawn with the bytes sent,
 * the total and the percentage, replaced by one ✔ line when done. Piped: a line when the
 * upload starts (with the size) and one when it ends, never a redraw.
 */
function uploadDisplay(deps: Pick<CliDeps, 'out' | 'isTTY'>, url: string, size: number): UploadDisplay {
  if (!deps.isTTY) {
    deps.out.write(`uploading ${url} (${formatBytes(size)})\n`);
    return {
      progress: () => undefined,
      done: (line) => void deps.out.write(`${line}\n`),
      stop: () => undefined,
    };
  }
  const width = terminalSize(deps).columns - 3;
  const text = (sent: number) =>
    fit(`uploading ${url} · ${formatBytes(sent, size)} / ${formatBytes(size)} · ${size > 0 ? Math.floor((Math.min(sent, size) / size) * 100) : 100}%`, width);
  const spinner = ora({ stream: deps.out as NodeJS.WritableStream, isEnabled: true, discardStdin: false, text: text(0) }).start();
  return {
    progress(sent) {
      spinner.text = text(sent);
      spinner.render(); // at once, not at the next frame: a part may take a while
    },
    done: (line) => void spinner.stopAndPersist({ symbol: '✔', text: fit(line, width) }),
    stop: () => void spinner.stop(),
  };
}

/**
 * Uploads `file` to s3://bucket/key with lib-storage's Upload, showing progress. A part
 * that still fails after the SDK's retries fails the upload: Upload aborts the multipart
 * upload (no parts left behind) and the error is thrown. Ctrl-C aborts it too (the
 * bucket's lifecycle rule would clear parts left by a killed process after a day).
 */
export async function uploadArtifact(
  deps: Pick<CliDeps, 'out' | 'isTTY' | 'now' | 'onInterrupt'>,
  clients: Pick<AwsClients, 's3'>,
  bucket: string,
  key: string,
  file: string,
  options: UploadOptions & { readonly provision?: string } = {},
): Promise<void> {
  const size = statSync(file).size;
  const { partSize, queueSize } = uploadPlan(size, options);
  const url = `s3://${bucket}/${key}`;
  const started = deps.now();
  const upload = new Upload({
    client: wholeClient(clients.s3),
    params: {
      Bucket: bucket,
      Key: key,
      Body: createReadStream(file),
      ContentLength: size,
      ContentType: 'application/gzip',
      // User-defined metadata (x-amz-meta-herd-provision): the base image the release is baked on.
      ...(options.provision ? { Metadata: { [PROVISION_METADATA_KEY]: options.provision } } : {}),
    },
    partSize,
    queueSize,
  });
  const display = uploadDisplay(deps, url, size);
  upload.on('httpUploadProgress', (p) => display.progress(p.loaded ?? 0));
  let interrupted = false;
  const unsubscribe = deps.onInterrupt(() => {
    interrupted = true;
    void upload.abort();
  });
  try {
    await upload.done();
  } catch (err) {
    display.stop();
    if (interrupted) {
      // Upload.abort() stops the upload but leaves the multipart upload to its own loop: abort it here.
      await abortMultipartUploads(clients, bucket, key);
      throw new CliError(`upload of ${url} interrupted (Ctrl-C): the multipart upload was aborted and nothing was started`, EXIT.failed);
    }
    throw err;
  } finally {
    unsubscribe();
  }
  display.done(`uploaded ${url} (${formatBytes(size)} in ${formatDuration((deps.now() - started) / 1000)})`);
}

/** Aborts every unfinished multipart upload of `key` (their parts would otherwise be stored, and billed, until the lifecycle rule clears them). */
async function abortMultipartUploads(clients: Pick<AwsClients, 's3'>, bucket: string, key: string): Promise<void> {
  const res = await clients.s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
  for (const u of res.Uploads ?? []) {
    if (u.Key !== key || !u.UploadId) continue;
    try {
      await clients.s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: u.UploadId }));
    } catch (err) {
      if (!(err instanceof Error && err.name === 'NoSuchUpload')) throw err;
    }
  }
}

/**
 * Upload drives the client itself (it reads the endpoint, checksum setting and request
 * handler from its configuration), so it needs a whole S3Client, not only `send`.
 */
function wholeClient(s3: AwsClients['s3']): S3Client {
  if (!('config' in s3)) throw new Error('the S3 client has no configuration: uploads need an S3Client');
  return s3 as S3Client;
}

/**
 * Makes sure the release's artifact is in the bucket: uploads the tarball unless the key
 * exists (a content-addressed id names the same bytes), showing the upload's progress.
 * Returns whether it uploaded.
 */
export async function ensureArtifact(
  deps: Pick<CliDeps, 'out' | 'isTTY' | 'now' | 'onInterrupt'>,
  clients: Pick<AwsClients, 's3'>,
  bucket: string,
  prepared: PreparedRelease,
  options: UploadOptions = {},
): Promise<boolean> {
  if (await artifactExists(clients, bucket, prepared.key)) return false;
  if (!prepared.tarball) {
    throw new CliError(
      `unknown release ${prepared.release}: s3://${bucket}/${prepared.key} does not exist; give the app's directory or .tar.gz to upload it, or list releases with \`herd releases <env>\``,
    );
  }
  await uploadArtifact(deps, clients, bucket, prepared.key, prepared.tarball, { ...options, ...(prepared.provision ? { provision: prepared.provision } : {}) });
  return true;
}
