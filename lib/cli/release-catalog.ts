/**
 * Which release ids exist for an environment: one answer for `herd deploy <id>`,
 * `herd rollback <id>`, `herd promote` and `herd releases`.
 *
 * A release exists when the deploy step can serve it (`lambda/deploy/bake.ts`,
 * `lambda/deploy/preflight.ts`): an available image of the app tagged `herd:release=<id>`
 * in the environment's account and region (reused, no bake), or its artifact
 * `releases/<id>.tar.gz` in the environment's artifacts bucket (baked from it). The deploy
 * history alone does not make a release exist: a release whose image was pruned and whose
 * artifact is gone cannot be deployed again.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Image } from '@aws-sdk/client-ec2';
import { TAGS } from '../names';
import { RELEASE_ID_PATTERN } from '../release-id';
import { artifactExists } from './artifact';
import { artifactKey, RELEASES_PREFIX, type EnvironmentHandle } from './environment';
import { CliError } from './errors';
import { releaseImages, tagOf } from './images';

/** A release the environment can deploy, and what it has. */
export interface KnownRelease {
  readonly release: string;
  /** Its newest available image, when one is kept. */
  readonly image?: {
    readonly imageId: string;
    readonly created?: string;
    /** Environment whose deploy step baked it. */
    readonly bakedBy?: string;
  };
  /** Whether `releases/<id>.tar.gz` is in the artifacts bucket (a release without an image is baked from it). */
  readonly artifact: boolean;
}

/** Pages of the artifact listing read before giving up (1,000 keys a page). */
export const MAX_ARTIFACT_PAGES = 20;

function imageOf(image: Image): NonNullable<KnownRelease['image']> {
  const bakedBy = tagOf(image, TAGS.environment);
  return { imageId: image.ImageId ?? '', ...(image.CreationDate ? { created: image.CreationDate } : {}), ...(bakedBy ? { bakedBy } : {}) };
}

/** The refusal of a release id that does not exist (the same for every verb). */
export function unknownReleaseMessage(handle: Pick<EnvironmentHandle, 'app' | 'name' | 'outputs'>, release: string): string {
  return (
    `unknown release ${release} on ${handle.name}: no image of ${handle.app} is tagged with it and s3://${handle.outputs.artifactsBucket}/${artifactKey(release)} does not exist; ` +
    `\`herd releases ${handle.name}\` lists the releases deploy and rollback accept, \`herd deploy ${handle.name} <app directory or .tar.gz>\` uploads a new one`
  );
}

/** The release `release` as the environment has it, or undefined when it does not exist (or is not a release id). */
export async function findRelease(handle: EnvironmentHandle, release: string): Promise<KnownRelease | undefined> {
  if (!RELEASE_ID_PATTERN.test(release)) return undefined;
  const [newest] = await releaseImages(handle.clients, handle.app, release);
  const artifact = await artifactExists(handle.clients, handle.outputs.artifactsBucket, artifactKey(release));
  if (!newest && !artifact) return undefined;
  return { release, ...(newest ? { image: imageOf(newest) } : {}), artifact };
}

/** `findRelease`, or a usage error (exit 2, nothing changed) with `unknownReleaseMessage`. */
export async function requireRelease(handle: EnvironmentHandle, release: string): Promise<KnownRelease> {
  const found = await findRelease(handle, release);
  if (!found) throw new CliError(unknownReleaseMessage(handle, release));
  return found;
}

const ARTIFACT_SUFFIX = '.tar.gz';

/** Release ids of the artifacts in the bucket (keys `releases/<id>.tar.gz`), newest first. */
async function artifactReleases(handle: EnvironmentHandle): Promise<string[]> {
  const found: { release: string; modified: number }[] = [];
  let token: string | undefined;
  for (let page = 0; page < MAX_ARTIFACT_PAGES; page++) {
    const res = await handle.clients.s3.send(
      new ListObjectsV2Command({ Bucket: handle.outputs.artifactsBucket, Prefix: RELEASES_PREFIX, ...(token ? { ContinuationToken: token } : {}) }),
    );
    for (const object of res.Contents ?? []) {
      const key = object.Key ?? '';
      const release = key.startsWith(RELEASES_PREFIX) && key.endsWith(ARTIFACT_SUFFIX) ? key.slice(RELEASES_PREFIX.length, -ARTIFACT_SUFFIX.length) : undefined;
      if (release && RELEASE_ID_PATTERN.test(release)) found.push({ release, modified: object.LastModified?.getTime() ?? 0 });
    }
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
    if (!token) break;
  }
  return found.sort((a, b) => b.modified - a.modified).map((f) => f.release);
}

/** Every release the environment can deploy: those with an image (newest image first), then those with only an artifact (newest first). */
export async function listReleases(handle: EnvironmentHandle): Promise<KnownRelease[]> {
  const [images, artifacts] = await Promise.all([releaseImages(handle.clients, handle.app), artifactReleases(handle)]);
  const uploaded = new Set(artifacts);
  const byRelease = new Map<string, KnownRelease>();
  for (const image of images) {
    const release = tagOf(image, TAGS.release);
    if (!release || byRelease.has(release) || !RELEASE_ID_PATTERN.test(release)) continue;
    byRelease.set(release, { release, image: imageOf(image), artifact: uploaded.has(release) });
  }
  for (const release of artifacts) if (!byRelease.has(release)) byRelease.set(release, { release, artifact: true });
  return [...byRelease.values()];
}
