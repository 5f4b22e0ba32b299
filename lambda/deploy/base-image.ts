/**
 * Layered bake: the base image a release bake boots its builder from.
 *
 * A base image is Amazon Linux 2023 with herd's instance setup (the CloudWatch agent, the
 * app's user) and the release's `herd/provision` applied, and no release installed. Its
 * identity (`baseIdentity`) is
 * - the Amazon Linux image id: the public parameter `builderImageId` names is read here with
 *   GetParameter (SSM user guide, "Working with public parameters"), so a base names the
 *   exact AMI it was baked from and a new AL2023 release bakes a new base;
 * - the architecture of the builder's instance type;
 * - the SHA-256 of the release's `herd/provision` (`none` without one), which `herd deploy`
 *   / `herd bake` write as the artifact's user-defined S3 metadata `herd-provision` when they
 *   upload it (lib/cli/artifact.ts). S3 sets user-defined metadata at upload and never
 *   changes it afterwards, and returns its keys in lower case (S3 user guide, "Working with
 *   object metadata"). The step reads it with HeadObject rather than downloading and
 *   unpacking the artifact (it may weigh hundreds of MiB); the builder checks it against
 *   the artifact's actual `herd/provision` (instance/bake.sh `--layer`), so a wrong value
 *   fails the bake, it never yields a wrong image. Only `herd/provision` counts: what it
 *   reads from the release (anything else) does not, so a provision script should install
 *   from its own content (or name what it reads in itself);
 * - herd's instance scripts: the key of their S3 asset, a hash of their content (CDK).
 * The environment that baked a base is not part of it: another environment of the app (a
 * promotion's target) reuses it. An artifact without the metadata (uploaded by other means)
 * is baked as before, from Amazon Linux in one go.
 */
import { createHash } from 'node:crypto';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { DescribeImagesCommand, type Image } from '@aws-sdk/client-ec2';
import { architectureOf } from '../../lib/architecture';
import { TAGS } from '../../lib/names';
import { DeployFailure } from './errors';
import type { DeployState } from './state';
import type { AdvanceContext } from './step';

/** The artifact's user-defined S3 metadata key (`x-amz-meta-herd-provision`) holding the SHA-256 of its `herd/provision`. */
export const PROVISION_METADATA_KEY = 'herd-provision';
/** Its value for an artifact without `herd/provision`. */
export const NO_PROVISION = 'none';
const PROVISION_VALUE = /^([0-9a-f]{64}|none)$/;

export interface BaseIdentity {
  /** The Amazon Linux image the base is baked from (an AMI id, never a `resolve:ssm:` alias). */
  readonly sourceImageId: string;
  readonly architecture: string;
  /** SHA-256 of the release's `herd/provision`, or `none`. */
  readonly provision: string;
  /** herd's instance scripts (their asset key). */
  readonly scripts: string;
  /** Hash of the above: the `herd:base` tag. */
  readonly key: string;
}

/** The key of an identity: 16 hex characters of the SHA-256 of its parts. */
export function baseKey(parts: Omit<BaseIdentity, 'key'>): string {
  return createHash('sha256').update(JSON.stringify([parts.sourceImageId, parts.architecture, parts.provision, parts.scripts])).digest('hex').slice(0, 16);
}

/** The Amazon Linux image id `builderImageId` names now (a `resolve:ssm:` alias read with GetParameter). */
async function sourceImage(ctx: AdvanceContext): Promise<string> {
  const ref = ctx.env.instances.builderImageId;
  if (!ref.startsWith('resolve:ssm:')) return ref;
  const name = ref.slice('resolve:ssm:'.length);
  let value: string | undefined;
  try {
    value = (await ctx.clients.ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Value;
  } catch (err) {
    if (err instanceof Error && err.name === 'ParameterNotFound') throw new DeployFailure(`${name} not found: this region publishes no Amazon Linux 2023 image for the builder's architecture`);
    throw err;
  }
  if (!value || !/^ami-[0-9a-f]+$/.test(value)) throw new DeployFailure(`${name} holds ${JSON.stringify(value)}, not an AMI id`);
  return value;
}

/** The provision hash the artifact carries, or undefined when it carries none (uploaded without herd). */
async function provisionOf(state: DeployState, ctx: AdvanceContext): Promise<string | undefined> {
  const res = await ctx.clients.s3.send(new HeadObjectCommand({ Bucket: ctx.env.artifacts.bucket, Key: state.artifactKey }));
  const value = res.Metadata?.[PROVISION_METADATA_KEY];
  if (value === undefined) return undefined;
  if (!PROVISION_VALUE.test(value)) {
    throw new DeployFailure(`artifact s3://${ctx.env.artifacts.bucket}/${state.artifactKey} has metadata ${PROVISION_METADATA_KEY}=${JSON.stringify(value)}, not a SHA-256: upload it again with herd deploy or herd bake`);
  }
  return value;
}

/** The base image identity of the release being baked, or undefined when its artifact says nothing of its `herd/provision`. */
export async function baseIdentity(state: DeployState, ctx: AdvanceContext): Promise<BaseIdentity | undefined> {
  const provision = await provisionOf(state, ctx);
  if (provision === undefined) return undefined;
  const parts = {
    sourceImageId: await sourceImage(ctx),
    architecture: architectureOf(ctx.env.deploy.builderInstanceType),
    provision,
    scripts: ctx.env.instances.scripts.key,
  };
  return { ...parts, key: baseKey(parts) };
}

/** The app's base images of `key` (available or pending, any environment), newest first; `deployId` narrows to one deploy's. */
export async function findBaseImages(app: string, key: string, ctx: AdvanceContext, deployId?: string): Promise<Image[]> {
  const res = await ctx.clients.ec2.send(
    new DescribeImagesCommand({
      Owners: ['self'],
      Filters: [
        { Name: `tag:${TAGS.app}`, Values: [app] },
        { Name: `tag:${TAGS.role}`, Values: ['base'] },
        { Name: `tag:${TAGS.base}`, Values: [key] },
        { Name: 'state', Values: ['available', 'pending'] },
        ...(deployId ? [{ Name: `tag:${TAGS.deploy}`, Values: [deployId] }] : []),
      ],
    }),
  );
  return [...(res.Images ?? [])].sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''));
}

/** Tags of a base image (and its snapshot): no `herd:release`, so no release lookup ever finds it. */
export function baseImageTags(state: DeployState, id: Omit<BaseIdentity, 'architecture'>): { Key: string; Value: string }[] {
  return [
    { Key: TAGS.app, Value: state.app },
    { Key: TAGS.environment, Value: state.env },
    { Key: TAGS.deploy, Value: state.deployId },
    { Key: TAGS.role, Value: 'base' },
    { Key: TAGS.base, Value: id.key },
    { Key: TAGS.baseSource, Value: id.sourceImageId },
    { Key: TAGS.provision, Value: id.provision },
    { Key: TAGS.scripts, Value: id.scripts },
    { Key: 'Name', Value: `herd-${state.app}-base-${id.key}` },
  ];
}
