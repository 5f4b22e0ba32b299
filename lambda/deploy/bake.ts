/**
 * Bake: reuse the release's image when it exists; otherwise launch a builder, wait for its
 * bake report, create the image from it, wait until the image is available, terminate it.
 *
 * Builder contract (instance side): the user data below runs `herd-bake`, which installs
 * the release, writes `…/bake-runs/<instance-id>` = JSON {exitCode, logTail, processes}
 * and, on failure, powers the instance off (shutdown behaviour `terminate` removes it).
 * A watchdog powers it off after the bake and image timeouts, so a builder never outlives
 * a deploy step that died.
 */
import {
  CreateImageCommand,
  DescribeImagesCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type Image,
} from '@aws-sdk/client-ec2';
import { TAGS } from '../../lib/names';
import { DeployFailure } from './errors';
import type { DeployState } from './state';
import {
  PROCESSES_TAG,
  STAGE_DONE,
  bakeRunsPrefix,
  base64,
  checkDeadline,
  deleteReport,
  deployTags,
  findDeployInstances,
  instanceState,
  instanceType,
  readReport,
  tail,
  type AdvanceContext,
  type Step,
} from './step';

const tagOf = (image: Image, key: string) => image.Tags?.find((t) => t.Key === key)?.Value;

function imageOf(state: DeployState, image: Image) {
  const processes = tagOf(image, PROCESSES_TAG);
  return {
    imageId: image.ImageId ?? '',
    reused: tagOf(image, TAGS.deploy) !== state.deployId,
    ...(processes !== undefined ? { processes: processes.split(' ').filter(Boolean) } : {}),
  };
}

async function findReleaseImages(state: DeployState, ctx: AdvanceContext, extra: { Name: string; Values: string[] }[] = []): Promise<Image[]> {
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

export function builderUserData(state: DeployState, ctx: AdvanceContext): string {
  const { env, deploy } = ctx.env;
  const watchdogMinutes = deploy.timeouts.bakeMinutes + deploy.timeouts.imageMinutes + 10;
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    '#!/bin/bash',
    'set -euo pipefail',
    `# herd builder: app ${state.app}, environment ${env}, release ${state.release}, deploy ${state.deployId}`,
    `shutdown -h +${watchdogMinutes} 'herd builder watchdog'`,
    `aws s3 cp ${q(`s3://${ctx.env.artifacts.bucket}/${ctx.env.artifacts.artifactPrefix}herd-instance.tar.gz`)} /tmp/herd-instance.tar.gz`,
    'mkdir -p /opt/herd && tar -xzf /tmp/herd-instance.tar.gz -C /opt/herd',
    `exec /opt/herd/bin/herd-bake --app ${q(state.app)} --release ${q(state.release)} ` +
      `--artifact ${q(`s3://${ctx.env.artifacts.bucket}/${state.artifactKey}`)} ` +
      `--report ${q(bakeRunsPrefix(state.app, env))}`,
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
  return { goto: 'bake.launch' };
};

const launch: Step = async (state, ctx) => {
  const [existing] = await findDeployInstances(state, ctx, 'builder');
  if (existing) {
    state.builderId = existing;
    return { goto: 'bake.waitBuilder' };
  }
  const { instances, deploy } = ctx.env;
  const res = await ctx.clients.ec2.send(
    new RunInstancesCommand({
      ImageId: instances.builderImageId,
      InstanceType: instanceType(deploy.builderInstanceType),
      MinCount: 1,
      MaxCount: 1,
      ClientToken: `${state.deployId}-builder`,
      SubnetId: instances.subnetIds[0],
      SecurityGroupIds: [...instances.builderSecurityGroupIds],
      IamInstanceProfile: { Arn: instances.builderInstanceProfileArn },
      InstanceInitiatedShutdownBehavior: 'terminate',
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
      UserData: base64(builderUserData(state, ctx)),
      TagSpecifications: [
        { ResourceType: 'instance', Tags: deployTags(state, 'builder') },
        { ResourceType: 'volume', Tags: deployTags(state, 'builder') },
      ],
    }),
  );
  const id = res.Instances?.[0]?.InstanceId;
  if (!id) throw new DeployFailure('RunInstances returned no builder instance');
  state.builderId = id;
  return { goto: 'bake.waitBuilder' };
};

const waitBuilder: Step = async (state, ctx) => {
  const id = state.builderId;
  if (!id) return { goto: 'bake.launch' };
  const report = await readReport(ctx, `${bakeRunsPrefix(state.app, state.env)}${id}`);
  if (report) {
    if (report.exitCode !== 0) throw new DeployFailure(`bake failed on builder ${id} (exit ${report.exitCode}): ${tail(report.logTail)}`);
    state.image = { imageId: '', reused: false, ...(report.processes ? { processes: [...report.processes] } : {}) };
    return { goto: 'bake.createImage' };
  }
  const s = await instanceState(ctx, id);
  if (s !== 'pending' && s !== 'running') throw new DeployFailure(`builder ${id} is ${s} and never reported its bake`);
  checkDeadline(state, ctx, ctx.env.deploy.timeouts.bakeMinutes, `builder ${id} to finish the bake`);
  return { poll: 15 };
};

const createImage: Step = async (state, ctx) => {
  const [ours] = await findReleaseImages(state, ctx, [{ Name: `tag:${TAGS.deploy}`, Values: [state.deployId] }]);
  if (ours) {
    state.image = { ...imageOf(state, ours), ...(state.image?.processes ? { processes: state.image.processes } : {}) };
    return { goto: 'bake.waitImage' };
  }
  const builderId = state.builderId;
  if (!builderId) throw new DeployFailure('no builder to create the image from');
  const processes = state.image?.processes;
  const tags = [
    ...deployTags(state).filter((t) => t.Key !== 'Name'),
    { Key: 'Name', Value: `herd-${state.app}-${state.release}` },
    ...(processes ? [{ Key: PROCESSES_TAG, Value: processes.join(' ') }] : []),
  ];
  const name = `herd-${state.app}-${state.release}-${state.deployId}`.slice(0, 128);
  let imageId: string | undefined;
  try {
    const res = await ctx.clients.ec2.send(
      new CreateImageCommand({
        InstanceId: builderId,
        Name: name,
        Description: `herd ${state.app} release ${state.release}`,
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
  }
  if (!imageId) throw new DeployFailure(`CreateImage returned no image for builder ${builderId}`);
  state.image = { imageId, reused: false, ...(processes ? { processes } : {}) };
  return { goto: 'bake.waitImage' };
};

const waitImage: Step = async (state, ctx) => {
  const imageId = state.image?.imageId;
  if (!imageId) throw new DeployFailure('no image to wait for');
  const res = await ctx.clients.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
  const image = res.Images?.[0];
  const s = image?.State ?? 'deregistered';
  if (s === 'available') return state.image?.reused ? STAGE_DONE : { goto: 'bake.terminateBuilder' };
  if (s !== 'pending') throw new DeployFailure(`image ${imageId} is ${s}${image?.StateReason?.Message ? `: ${image.StateReason.Message}` : ''}`);
  checkDeadline(state, ctx, ctx.env.deploy.timeouts.imageMinutes, `image ${imageId} to become available`);
  return { poll: 20 };
};

const terminateBuilder: Step = async (state, ctx) => {
  const ids = await findDeployInstances(state, ctx, 'builder');
  if (ids.length > 0) await ctx.clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
  if (state.builderId) await deleteReport(ctx, `${bakeRunsPrefix(state.app, state.env)}${state.builderId}`);
  return STAGE_DONE;
};

export const BAKE_STEPS: Record<string, Step> = {
  'bake.find': find,
  'bake.launch': launch,
  'bake.waitBuilder': waitBuilder,
  'bake.createImage': createImage,
  'bake.waitImage': waitImage,
  'bake.terminateBuilder': terminateBuilder,
};
