/**
 * Bake: reuse the release's image when it exists; otherwise launch a builder, wait for its
 * bake report and for it to power off, create the image from the stopped builder, wait
 * until the image is available, terminate the builder.
 *
 * Layered (`base-image.ts`): the release's builder boots from the base image of its
 * identity (Amazon Linux image, architecture, `herd/provision`, instance scripts) and only
 * installs the release and runs `herd/build` (`herd-bake.sh --layer release`). When no base
 * of that identity exists (or `rebuildBase`), this deploy bakes it first, the same way
 * (builder from Amazon Linux, `--layer base`: instance setup and `herd/provision`, no
 * release, CreateImage, builder terminated), then the release from it. A base another
 * deploy is still imaging is waited for (`bake.waitBase`).
 *
 * Builder contract (instance side, `instance/herd-bake.sh`): the user data below fetches
 * the instance scripts (a zip, the stack's S3 asset) and runs `herd-bake.sh`, which
 * installs the release, writes `…/bake-runs/<instance-id>` = JSON {exitCode, logTail,
 * processes} and powers the instance off, on success and on failure alike. The builder's
 * shutdown behaviour is `stop`, so a successful builder waits, stopped, with a consistent
 * file system: CreateImage needs no reboot. A watchdog (`shutdown -h +N`, N = bake timeout
 * + 5 min) powers off a builder whose bake hangs; the deploy step terminates the builder
 * in every outcome, and the next deploy's janitor (`lock.janitor`) terminates builders
 * and runners a dead deploy step left behind.
 */
import {
  CreateImageCommand,
  DescribeImagesCommand,
  RunInstancesCommand,
  type Image,
  type Tag,
} from '@aws-sdk/client-ec2';
import { TAGS, parameterNames } from '../../lib/names';
import { baseIdentity, baseImageTags, findBaseImages, PROVISION_METADATA_KEY } from './base-image';
import { DEFAULT_BUILDER_VOLUME_GIB } from './environment';
import { DeployFailure, NotVisibleYetError } from './errors';
import type { DeployState } from './state';
import {
  STAGE_DONE,
  base64,
  waitFor,
  deployTags,
  findDeployInstances,
  instanceState,
  instanceType,
  launchInSubnets,
  notYetVisible,
  readReport,
  reportMissing,
  retireDeployInstances,
  tail,
  type AdvanceContext,
  type Step,
  type StepResult,
  VISIBILITY_GRACE_SECONDS,
} from './step';

/**
 * Base poll interval of the base image's waits (its builder, its image, another deploy's
 * base): a base takes minutes (setup, herd/provision, an image), and polling it as often as
 * the release's would cost the execution's history events the rest of the deploy needs
 * (`budget.ts`).
 */
export const BASE_POLL_SECONDS = 90;
/** …and at most an hour apart, once a base wait has lasted ten hours (a long configured timeout). */
export const BASE_MAX_POLL_SECONDS = 3600;

/** Minutes a builder may outlive its bake timeout before its watchdog powers it off. */
export const BUILDER_WATCHDOG_GRACE_MINUTES = 5;

const tagOf = (image: Image, key: string) => image.Tags?.find((t) => t.Key === key)?.Value;

function imageOf(state: DeployState, image: Image) {
  const processes = tagOf(image, TAGS.processes);
  return {
    imageId: image.ImageId ?? '',
    reused: tagOf(image, TAGS.deploy) !== state.deployId,
    ...(processes !== undefined ? { processes: processes.split(' ').filter(Boolean) } : {}),
  };
}

/** The app's images of `state`'s release (available or pending), newest first. */
export async function findReleaseImages(state: Pick<DeployState, 'app' | 'release'>, ctx: AdvanceContext, extra: { Name: string; Values: string[] }[] = []): Promise<Image[]> {
  const res = await ctx.clients.ec2.send(
    new DescribeImagesCommand({
      Owners: ['self'],
      Filters: [
        { Name: `tag:${TAGS.app}`, Values: [state.app] },
        { Name: `tag:${TAGS.release}`, Values: [state.release] },
        { Name: 'state', Values: ['available', 'pending'] },
        ...extra,
      ],
    }),
  );
  return [...(res.Images ?? [])].sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''));
}

/** Shell single-quoting. */
function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** What a builder bakes: a base image, a release on a base image, or (no base) a release from Amazon Linux in one go. */
export type BakeLayer = 'base' | 'release' | 'full';

function layerOf(state: DeployState): BakeLayer {
  if (!state.base) return 'full';
  return state.base.baking ? 'base' : 'release';
}

/**
 * The builder's user data: watchdog first, then the instance scripts from their S3 asset,
 * then `herd-bake.sh`, which reports and powers the builder off.
 */
export function builderUserData(state: DeployState, ctx: AdvanceContext): string {
  const { env, deploy, instances, artifacts } = ctx.env;
  const layer = layerOf(state);
  const watchdogMinutes = deploy.timeouts.bakeMinutes + BUILDER_WATCHDOG_GRACE_MINUTES;
  const imds = 'http://169.254.169.254/latest';
  return [
    '#!/bin/bash',
    'set -euo pipefail',
    `# herd builder: app ${state.app}, environment ${env}, release ${state.release}, deploy ${state.deployId}`,
    `shutdown -h +${watchdogMinutes} 'herd builder watchdog'`,
    `trap 'shutdown -h now "herd builder: setup failed"' ERR`,
    `token="$(curl -sS -f -X PUT ${imds}/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')"`,
    `AWS_DEFAULT_REGION="$(curl -sS -f -H "X-aws-ec2-metadata-token: $token" ${imds}/meta-data/placement/region)"`,
    'export AWS_DEFAULT_REGION',
    'for tool in unzip jq; do command -v "$tool" >/dev/null || dnf install -y -q "$tool"; done',
    `aws s3 cp ${q(`s3://${instances.scripts.bucket}/${instances.scripts.key}`)} /tmp/herd-instance.zip`,
    'mkdir -p /opt/herd/instance && unzip -o -q /tmp/herd-instance.zip -d /opt/herd/instance',
    'rm -f /tmp/herd-instance.zip',
    `exec bash /opt/herd/instance/herd-bake.sh --app ${q(state.app)} --release ${q(state.release)} ` +
      `--artifact ${q(`s3://${artifacts.bucket}/${state.artifactKey}`)} ` +
      `--report ${q(parameterNames(state.app, env).bakeRunsPrefix)}` +
      (layer === 'full' || !state.base ? '' : ` --layer ${layer} --provision ${q(state.base.provision)}`),
    '',
  ].join('\n');
}

const find: Step = async (state, ctx) => {
  const images = await findReleaseImages(state, ctx);
  const available = images.find((i) => i.State === 'available');
  if (available) {
    state.image = imageOf(state, available);
    return STAGE_DONE;
  }
  const pending = images.find((i) => i.State === 'pending');
  if (pending) {
    state.image = imageOf(state, pending);
    return { goto: 'bake.waitImage' };
  }
  return { goto: 'bake.base' };
};

/** The base image the release's builder boots from: found (or being imaged by another deploy), or to bake now. */
const base: Step = async (state, ctx) => {
  const id = await baseIdentity(state, ctx);
  if (!id) {
    state.warnings.push(
      `artifact s3://${ctx.env.artifacts.bucket}/${state.artifactKey} carries no ${PROVISION_METADATA_KEY} metadata (not uploaded by herd deploy or herd bake): ` +
        'baked from Amazon Linux in one go, without a base image',
    );
    return { goto: 'bake.launch' };
  }
  const parts = { key: id.key, sourceImageId: id.sourceImageId, provision: id.provision, scripts: id.scripts };
  const found = state.rebuildBase ? [] : await findBaseImages(state.app, id.key, ctx);
  const available = found.find((i) => i.State === 'available');
  const pending = found.find((i) => i.State === 'pending');
  const image = available ?? pending;
  if (image?.ImageId) {
    state.base = { ...parts, imageId: image.ImageId, reused: true };
    return { goto: available ? 'bake.launch' : 'bake.waitBase' };
  }
  state.base = { ...parts, baking: true };
  return { goto: 'bake.launch' };
};

/** A base image another deploy is still imaging: wait for it; bake one here if it fails. */
const waitBase: Step = async (state, ctx) => {
  const b = state.base;
  if (!b?.imageId) return { goto: 'bake.base' };
  let image: Image | undefined;
  try {
    image = (await ctx.clients.ec2.send(new DescribeImagesCommand({ ImageIds: [b.imageId] }))).Images?.[0];
  } catch (err) {
    if (!(err instanceof Error && /^InvalidAMIID\./.test(err.name))) throw err;
  }
  const s = image?.State ?? 'deregistered';
  if (s === 'available') return { goto: 'bake.launch' };
  if (s === 'pending') return waitFor(state, ctx, ctx.env.deploy.timeouts.imageMinutes, `base image ${b.imageId} (baked by another deploy) to become available`, BASE_POLL_SECONDS, BASE_MAX_POLL_SECONDS);
  state.warnings.push(`base image ${b.imageId}, baked by another deploy, is ${s}: baking the base again`);
  state.base = { key: b.key, sourceImageId: b.sourceImageId, provision: b.provision, scripts: b.scripts, baking: true };
  return { goto: 'bake.launch' };
};

const launch: Step = async (state, ctx) => {
  const layer = layerOf(state);
  const bakesBase = layer === 'base';
  const [existing] = await findDeployInstances(state, ctx, 'builder', [{ Name: `tag:${TAGS.bake}`, Values: [bakesBase ? 'base' : 'release'] }]);
  if (existing) {
    state.builderId = existing;
    return { goto: 'bake.waitBuilder' };
  }
  const { instances, deploy } = ctx.env;
  // A base boots the exact Amazon Linux image its identity names; a release its base, or Amazon Linux without one.
  const imageId = bakesBase ? (state.base?.sourceImageId ?? '') : (state.base?.imageId ?? instances.builderImageId);
  const token = bakesBase ? `${state.deployId}-base` : `${state.deployId}-builder`;
  const tags = [...deployTags(state, 'builder'), { Key: TAGS.bake, Value: bakesBase ? 'base' : 'release' }];
  state.builderLaunchedAt = ctx.clock.now();
  try {
    state.builderId = await launchInSubnets(state, ctx, 'builder', (subnetId, attempt) => ctx.clients.ec2.send(
      new RunInstancesCommand({
        ImageId: imageId,
        InstanceType: instanceType(deploy.builderInstanceType),
        MinCount: 1,
        MaxCount: 1,
        ClientToken: attempt === 0 ? token : `${token}-${attempt}`,
        SubnetId: subnetId,
        SecurityGroupIds: [...instances.builderSecurityGroupIds],
        IamInstanceProfile: { Arn: instances.builderInstanceProfileArn },
        // herd-bake powers the builder off when done: stopped, it is imaged without a reboot.
        InstanceInitiatedShutdownBehavior: 'stop',
        MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
        BlockDeviceMappings: [
          {
            DeviceName: '/dev/xvda',
            Ebs: {
              VolumeSize: instances.builderVolumeGiB ?? DEFAULT_BUILDER_VOLUME_GIB,
              VolumeType: 'gp3',
              Encrypted: true,
              ...(instances.ebsKmsKeyArn ? { KmsKeyId: instances.ebsKmsKeyArn } : {}),
              DeleteOnTermination: true,
            },
          },
        ],
        UserData: base64(builderUserData(state, ctx)),
        TagSpecifications: [
          { ResourceType: 'instance', Tags: tags },
          { ResourceType: 'volume', Tags: tags },
        ],
      }),
    ));
  } catch (err) {
    // The base found was deregistered since (its environment's retention): bake it again.
    if (!(layer === 'release' && state.base && err instanceof Error && /^InvalidAMIID\./.test(err.name))) throw err;
    const b = state.base;
    state.warnings.push(`base image ${b.imageId ?? '?'} cannot be launched (${err.name}): baking the base again`);
    state.base = { key: b.key, sourceImageId: b.sourceImageId, provision: b.provision, scripts: b.scripts, baking: true };
    delete state.builderLaunchedAt;
    return { poll: 0 };
  }
  return { goto: 'bake.waitBuilder' };
};

const waitBuilder: Step = async (state, ctx) => {
  const id = state.builderId;
  if (!id) return { goto: 'bake.launch' };
  const name = `${parameterNames(state.app, state.env).bakeRunsPrefix}${id}`;
  let report = await readReport(ctx, name);
  const s = await instanceState(ctx, id, state.builderLaunchedAt);
  // The builder may have reported and powered off between the two reads.
  if (!report && (s === 'stopping' || s === 'stopped')) report = await readReport(ctx, name);
  if (report) {
    const bakesBase = layerOf(state) === 'base';
    if (report.exitCode !== 0) throw new DeployFailure(`${bakesBase ? 'base image bake' : 'bake'} failed on builder ${id} (exit ${report.exitCode}): ${tail(report.logTail)}`);
    if (!bakesBase) state.image = { imageId: '', reused: false, ...(report.processes ? { processes: [...report.processes] } : {}) };
    if (s === 'stopped') return { goto: 'bake.createImage' };
    if (s !== 'pending' && s !== 'running' && s !== 'stopping') throw new DeployFailure(`builder ${id} is ${s} before its image was created`);
    return waitFor(state, ctx, ctx.env.deploy.timeouts.bakeMinutes, `builder ${id} to power off after its bake`, 10);
  }
  if (s !== 'pending' && s !== 'running') return reportMissing(state, ctx, `builder ${id} is ${s} and never reported its bake`);
  const base = layerOf(state) === 'base';
  return waitFor(state, ctx, ctx.env.deploy.timeouts.bakeMinutes, `${base ? 'base image builder' : 'builder'} ${id} to finish the bake`, base ? BASE_POLL_SECONDS : 15, base ? BASE_MAX_POLL_SECONDS : undefined);
};

/** CreateImage of a base image from the stopped base builder (tagged `herd:role=base`, no release). */
async function createBaseImage(state: DeployState, ctx: AdvanceContext): Promise<StepResult> {
  const b = state.base;
  if (!b) throw new DeployFailure('no base image identity to create the image of');
  const [ours] = await findBaseImages(state.app, b.key, ctx, state.deployId);
  if (ours?.ImageId) {
    b.imageId = ours.ImageId;
    return { goto: 'bake.waitImage' };
  }
  const builderId = state.builderId;
  if (!builderId) throw new DeployFailure('no builder to create the base image from');
  const s = await instanceState(ctx, builderId, state.builderLaunchedAt);
  if (s !== 'stopped') throw new DeployFailure(`builder ${builderId} is ${s}; its image is only created once it has stopped`);
  const tags = baseImageTags(state, b);
  const name = `herd-${state.app}-base-${b.key}-${state.deployId}`.slice(0, 128);
  const imageId = await createOrAdoptImage(ctx, builderId, name, `herd ${state.app} base image (Amazon Linux ${b.sourceImageId}, herd/provision ${b.provision.slice(0, 12)})`, tags);
  b.imageId = imageId;
  b.createdAt = ctx.clock.now();
  return { goto: 'bake.waitImage' };
}

/**
 * CreateImage of a stopped builder, image and snapshots tagged alike. A retried call finds the
 * name taken (`InvalidAMIName.Duplicate`) and adopts the image of that name: this deploy's,
 * created by a try EC2 may not list yet (then retried later).
 */
async function createOrAdoptImage(ctx: AdvanceContext, builderId: string, name: string, description: string, tags: Tag[]): Promise<string> {
  let imageId: string | undefined;
  try {
    const res = await ctx.clients.ec2.send(
      new CreateImageCommand({
        InstanceId: builderId,
        Name: name,
        Description: description,
        TagSpecifications: [
          { ResourceType: 'image', Tags: tags },
          { ResourceType: 'snapshot', Tags: tags },
        ],
      }),
    );
    imageId = res.ImageId;
  } catch (err) {
    if (!(err instanceof Error && err.name === 'InvalidAMIName.Duplicate')) throw err;
    const res = await ctx.clients.ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: [name] }] }));
    imageId = res.Images?.[0]?.ImageId;
    if (!imageId) throw new NotVisibleYetError(`image ${name}, created by this deploy, is not listed by EC2 yet`);
  }
  if (!imageId) throw new DeployFailure(`CreateImage returned no image for builder ${builderId}`);
  return imageId;
}

const createImage: Step = async (state, ctx) => {
  if (layerOf(state) === 'base') return createBaseImage(state, ctx);
  const [ours] = await findReleaseImages(state, ctx, [{ Name: `tag:${TAGS.deploy}`, Values: [state.deployId] }]);
  if (ours) {
    state.image = { ...imageOf(state, ours), ...(state.image?.processes ? { processes: state.image.processes } : {}) };
    return { goto: 'bake.waitImage' };
  }
  const builderId = state.builderId;
  if (!builderId) throw new DeployFailure('no builder to create the image from');
  // Imaged stopped (herd-bake powered it off): a consistent file system without a reboot.
  const s = await instanceState(ctx, builderId, state.builderLaunchedAt);
  if (s !== 'stopped') throw new DeployFailure(`builder ${builderId} is ${s}; its image is only created once it has stopped`);
  const processes = state.image?.processes;
  const tags = [
    ...deployTags(state).filter((t) => t.Key !== 'Name'),
    { Key: 'Name', Value: `herd-${state.app}-${state.release}` },
    ...(processes ? [{ Key: TAGS.processes, Value: processes.join(' ') }] : []),
    // Retention keeps the base while a release image baked from it exists.
    ...(state.base?.imageId ? [{ Key: TAGS.baseImage, Value: state.base.imageId }] : []),
  ];
  const name = `herd-${state.app}-${state.release}-${state.deployId}`.slice(0, 128);
  const imageId = await createOrAdoptImage(ctx, builderId, name, `herd ${state.app} release ${state.release}`, tags);
  state.image = { imageId, reused: false, createdAt: ctx.clock.now(), ...(processes ? { processes } : {}) };
  return { goto: 'bake.waitImage' };
};

const waitImage: Step = async (state, ctx) => {
  const bakesBase = layerOf(state) === 'base';
  const imageId = bakesBase ? state.base?.imageId : state.image?.imageId;
  const createdAt = bakesBase ? state.base?.createdAt : state.image?.createdAt;
  if (!imageId) throw new DeployFailure('no image to wait for');
  let image: Image | undefined;
  try {
    image = (await ctx.clients.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0];
  } catch (err) {
    // Just created: EC2 may not show it yet.
    if (!notYetVisible(err, createdAt, ctx)) throw err;
  }
  if (!image && createdAt !== undefined && ctx.clock.now() - createdAt < VISIBILITY_GRACE_SECONDS * 1000) {
    return waitFor(state, ctx, ctx.env.deploy.timeouts.imageMinutes, `image ${imageId} to become visible`, 5);
  }
  const s = image?.State ?? 'deregistered';
  if (s === 'available') return !bakesBase && state.image?.reused ? STAGE_DONE : { goto: 'bake.terminateBuilder' };
  if (s !== 'pending') throw new DeployFailure(`image ${imageId} is ${s}${image?.StateReason?.Message ? `: ${image.StateReason.Message}` : ''}`);
  return waitFor(state, ctx, ctx.env.deploy.timeouts.imageMinutes, `${bakesBase ? 'base image' : 'image'} ${imageId} to become available`, bakesBase ? BASE_POLL_SECONDS : 20, bakesBase ? BASE_MAX_POLL_SECONDS : undefined);
};

const terminateBuilder: Step = async (state, ctx) => {
  const reports = state.builderId ? [`${parameterNames(state.app, state.env).bakeRunsPrefix}${state.builderId}`] : [];
  await retireDeployInstances(state, ctx, 'builder', reports, state.builderId ? [{ id: state.builderId, launchedAt: state.builderLaunchedAt }] : []);
  if (state.base?.baking) {
    // The base is baked: now the release, on a builder booted from it.
    state.base.baking = false;
    state.base.reused = false;
    delete state.builderId;
    delete state.builderLaunchedAt;
    return { goto: 'bake.launch' };
  }
  return STAGE_DONE;
};

export const BAKE_STEPS: Record<string, Step> = {
  'bake.find': find,
  'bake.base': base,
  'bake.waitBase': waitBase,
  'bake.launch': launch,
  'bake.waitBuilder': waitBuilder,
  'bake.createImage': createImage,
  'bake.waitImage': waitImage,
  'bake.terminateBuilder': terminateBuilder,
};
